import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The Lua scripts of the Redis engine, one `.lua` file each in `src/engine/lua/` (copied to dist/ by the build). */
export type LuaScriptName =
  | 'append'
  | 'append-batch'
  | 'append-once'
  | 'head'
  | 'history'
  | 'claim'
  | 'acquire-slot'
  | 'start-run'
  | 'promote-run'
  | 'reap-run'
  | 'renew-run'
  | 'end-run'
  | 'active-runs'
  | 'request-cancel'
  | 'due-runs'
  | 'run-index'
  | 'snapshots'
  | 'disconnect-user'
  | 'presence';

/**
 * One server-side script: its source and SHA1, so callers send `EVALSHA` (40 bytes) instead of the whole
 * source with every event. The engine loads every script whenever a connection becomes ready, because a
 * restarted Redis has an empty script cache.
 */
export class LuaScript {
  readonly name: LuaScriptName;
  readonly source: string;
  readonly sha: string;

  constructor(name: LuaScriptName, source: string) {
    this.name = name;
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Reads `lua/<name>.lua` next to this module (src/ under tests, dist/ once built). */
  static load(name: LuaScriptName): LuaScript {
    return new LuaScript(name, readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8'));
  }

  /**
   * `append-once.lua` run after `append.lua` wrapped as its local function `append_one(KEYS, ARGV)`: a
   * keyed publish stores each event by the very script a plain append runs, and its record in the same
   * atomic step.
   */
  static appendOnce(append: LuaScript): LuaScript {
    const wrapper = LuaScript.load('append-once').source;
    return new LuaScript(
      'append-once',
      `local function append_one(KEYS, ARGV)\n${append.source}\nend\n${wrapper}`,
    );
  }

  /**
   * `append-batch.lua` run after `append.lua` wrapped as its local function `append_one(KEYS, ARGV)`, as
   * {@link appendOnce}: the appends of one turn of the event loop go to Redis as one script call, each
   * stored by the very script a plain append runs (issue 20).
   */
  static appendBatch(append: LuaScript): LuaScript {
    const wrapper = LuaScript.load('append-batch').source;
    return new LuaScript(
      'append-batch',
      `local function append_one(KEYS, ARGV)\n${append.source}\nend\n${wrapper}`,
    );
  }

  /**
   * `reap-run.lua` run after `append.lua` wrapped as its local function `append_one(KEYS, ARGV)`, as
   * {@link appendOnce}: a reaped run's pending approvals and its terminal are stored by the very script a
   * plain append runs, in one atomic step.
   */
  static reapRun(append: LuaScript): LuaScript {
    const wrapper = LuaScript.load('reap-run').source;
    return new LuaScript(
      'reap-run',
      `local function append_one(KEYS, ARGV)\n${append.source}\nend\n${wrapper}`,
    );
  }

  /**
   * `append.lua` with the publish of a user's frame as `SPUBLISH` instead of `PUBLISH` (Redis 7 sharded
   * pub/sub): on a Redis Cluster the frame then reaches only the shard that owns the user's slot (the
   * channel has the user's hash tag), not every node over the cluster bus.
   */
  static shardedAppend(append: LuaScript): LuaScript {
    const classic = "redis.call('PUBLISH', ARGV[5], frame)";
    if (!append.source.includes(classic)) throw new Error(`append.lua no longer has ${classic}`);
    return new LuaScript('append', append.source.replace(classic, "redis.call('SPUBLISH', ARGV[5], frame)"));
  }

  /**
   * Every script of the engine. Read per engine instance, never at import time. `sharded`: users' frames go
   * out with `SPUBLISH` ({@link shardedAppend}; Redis Cluster).
   */
  static loadAll(options: { readonly sharded?: boolean } = {}): LuaScripts {
    const classic = LuaScript.load('append');
    const append = options.sharded === true ? LuaScript.shardedAppend(classic) : classic;
    return {
      append,
      'append-batch': LuaScript.appendBatch(append),
      'append-once': LuaScript.appendOnce(append),
      head: LuaScript.load('head'),
      history: LuaScript.load('history'),
      claim: LuaScript.load('claim'),
      'acquire-slot': LuaScript.load('acquire-slot'),
      'start-run': LuaScript.load('start-run'),
      'promote-run': LuaScript.load('promote-run'),
      'reap-run': LuaScript.reapRun(append),
      'renew-run': LuaScript.load('renew-run'),
      'end-run': LuaScript.load('end-run'),
      'active-runs': LuaScript.load('active-runs'),
      'request-cancel': LuaScript.load('request-cancel'),
      'due-runs': LuaScript.load('due-runs'),
      'run-index': LuaScript.load('run-index'),
      snapshots: LuaScript.load('snapshots'),
      'disconnect-user': LuaScript.load('disconnect-user'),
      presence: LuaScript.load('presence'),
    };
  }
}

/**
 * One run of a script: the keys it touches (its KEYS; all of one user, so one cluster slot) and its other
 * arguments (its ARGV), in the order its `lua/<name>.lua` header lists them. EVALSHA's key count is
 * `keys.length` ({@link evalshaArgs}), so keys and count cannot disagree.
 */
export interface ScriptCall {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

/** The arguments of `EVALSHA` for one call of `script`: sha, key count, keys, then the other arguments. */
export function evalshaArgs(
  script: LuaScript,
  call: ScriptCall,
): [sha: string, keyCount: number, ...keysAndArgs: (string | number)[]] {
  return [script.sha, call.keys.length, ...call.keys, ...call.args];
}

/** The engine's scripts by name. */
export type LuaScripts = Readonly<Record<LuaScriptName, LuaScript>>;
