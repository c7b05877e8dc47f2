import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The Lua scripts of the Redis engine, one `.lua` file each in `src/engine/lua/` (copied to dist/ by the build). */
export type LuaScriptName = 'append' | 'head' | 'history' | 'claim' | 'acquire-slot';

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

  /** Every script of the engine. Read per engine instance, never at import time. */
  static loadAll(): LuaScripts {
    return {
      append: LuaScript.load('append'),
      head: LuaScript.load('head'),
      history: LuaScript.load('history'),
      claim: LuaScript.load('claim'),
      'acquire-slot': LuaScript.load('acquire-slot'),
    };
  }
}

/** The engine's scripts by name. */
export type LuaScripts = Readonly<Record<LuaScriptName, LuaScript>>;
