import { Cluster, Redis } from 'ioredis';
import { groupBySlot } from './cluster-slot.js';
import { evalshaArgs, type LuaScript, type ScriptCall } from './lua-script.js';
import {
  clusterConnectionOptions,
  clusterSeed,
  type ResolvedRedisEngineOptions,
  redisConnectionOptions,
} from './redis-engine-options.js';

/** One pipelined command's outcome, as ioredis reports it: an error, or the reply. */
export type PipelineReply = [Error | null, unknown];

/** The client that carries commands: one Redis, or an ioredis `Cluster` that routes each by hash slot. */
export type CommandClient = Redis | Cluster;

/**
 * The two connections of one node's Redis engine (issue #7): commands, and the node's one pub/sub
 * subscriber. On a cluster the subscriber is still one plain connection, to the seed node: a classic
 * `PUBLISH` is broadcast over the cluster bus to every node, so one subscriber anywhere hears every user.
 */
export class RedisConnections {
  readonly command: CommandClient;
  readonly subscriber: Redis;
  /** Whether `command` is a cluster client (keys routed by slot, one pipeline per slot). */
  readonly cluster: boolean;

  constructor(options: ResolvedRedisEngineOptions) {
    this.cluster = options.cluster;
    const plain = redisConnectionOptions(options);
    if (options.cluster) {
      const { host, port } = clusterSeed(options.url);
      this.command = new Cluster([{ host, port }], clusterConnectionOptions(options));
    } else {
      this.command = new Redis(options.url, { ...plain, connectionName: options.name });
    }
    this.subscriber = new Redis(options.url, { ...plain, connectionName: `${options.name}:subscriber` });
  }

  /**
   * Loads `scripts` on the one Redis, or on every master the cluster client knows now: each has its own
   * script cache, and EVALSHA runs on the master that owns the key. A restarted Redis (or a replica
   * promoted by a failover) has an empty cache: the engine loads before reporting ready, so EVALSHA
   * succeeds; a master that appears later answers NOSCRIPT once, and the engine loads again.
   */
  async loadScripts(scripts: readonly LuaScript[]): Promise<void> {
    const targets = this.command instanceof Cluster ? this.command.nodes('master') : [this.command];
    await Promise.all(
      targets.map(async (target) => {
        const pipeline = target.pipeline();
        for (const script of scripts) pipeline.script('LOAD', script.source);
        const results = await pipeline.exec();
        const failed = results?.find(([error]) => error !== null);
        if (failed?.[0]) throw failed[0];
      }),
    );
  }

  /**
   * Runs `script` once per call in pipelines (EVALSHA) and gives the replies in call order. On one Redis:
   * one pipeline, one round trip. On a cluster a pipeline must target one node, so the calls are grouped
   * by the slot of their first key (a user's keys share one); groups run in parallel, each in call order.
   */
  async pipelineEvalsha(script: LuaScript, calls: readonly ScriptCall[]): Promise<PipelineReply[]> {
    const groups = this.cluster
      ? [...groupBySlot(calls, (call) => call.keys[0] ?? '').values()]
      : [calls.map((_, i) => i)];
    const replies: PipelineReply[] = [];
    await Promise.all(
      groups.map(async (indexes) => {
        const pipeline = this.command.pipeline();
        // Every index is in range; the fallback only satisfies noUncheckedIndexedAccess.
        for (const i of indexes) pipeline.evalsha(...evalshaArgs(script, calls[i] ?? { keys: [], args: [] }));
        const results = await pipeline.exec();
        for (const [j, i] of indexes.entries()) {
          replies[i] = results?.[j] ?? [new Error('no reply'), undefined];
        }
      }),
    );
    return replies;
  }
}
