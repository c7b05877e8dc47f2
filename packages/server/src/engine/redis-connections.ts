import { Cluster, Redis } from 'ioredis';
import { groupBySlot } from './cluster-slot.js';
import { evalshaArgs, type LuaScript, type ScriptCall } from './lua-script.js';
import {
  clusterConnectionOptions,
  clusterSeed,
  type ResolvedRedisEngineOptions,
  redisConnectionOptions,
} from './redis-engine-options.js';
import type { PubSubConnection } from './redis-fanout.js';

/** One pipelined command's outcome, as ioredis reports it: an error, or the reply. */
export type PipelineReply = [Error | null, unknown];

/** The client that carries commands: one Redis, or an ioredis `Cluster` that routes each by hash slot. */
export type CommandClient = Redis | Cluster;

/**
 * The connections of one node's Redis engine (issue #7): commands, and the node's one pub/sub subscriber
 * for its control channels (cancels, disconnects: classic `PUBLISH`, which every node must hear).
 * Users' frames: on one Redis the same subscriber takes them (classic `SUBSCRIBE`); on a cluster they are
 * sharded (Redis 7 `SPUBLISH`/`SSUBSCRIBE`): the cluster client keeps one subscriber connection per master
 * and subscribes each user's channel on the master that owns its slot, so a frame crosses no cluster bus
 * and each master carries only its own users' traffic (docs/redis.md, "Redis Cluster").
 */
export class RedisConnections {
  readonly command: CommandClient;
  readonly subscriber: Redis;
  /** Whether `command` is a cluster client (keys routed by slot, one pipeline per slot). */
  readonly cluster: boolean;
  /** Where users' channels are subscribed (see the class comment). */
  readonly userChannels: PubSubConnection;

  constructor(options: ResolvedRedisEngineOptions) {
    this.cluster = options.cluster;
    const plain = redisConnectionOptions(options);
    this.subscriber = new Redis(options.url, { ...plain, connectionName: `${options.name}:subscriber` });
    if (options.cluster) {
      const { host, port } = clusterSeed(options.url);
      const cluster = new Cluster([{ host, port }], {
        ...clusterConnectionOptions(options),
        shardedSubscribers: true,
      });
      this.command = cluster;
      this.userChannels = shardedChannels(cluster);
    } else {
      this.command = new Redis(options.url, { ...plain, connectionName: options.name });
      this.userChannels = this.subscriber;
    }
  }

  /**
   * Calls `listener` with every frame published on a user's channel: `message` of the subscriber on one
   * Redis (which also carries the control channels: the caller tells them apart), `smessage` on a cluster.
   */
  onUserMessage(listener: (channel: string, message: string) => void): void {
    if (this.command instanceof Cluster) this.command.on('smessage', listener);
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

/**
 * Sharded subscriptions through the cluster client: one `SSUBSCRIBE` per channel (a command may name the
 * channels of one slot only), sent by ioredis to the subscriber connection of the master owning it, which
 * ioredis also re-subscribes after a reconnect or a slot move.
 */
function shardedChannels(cluster: Cluster): PubSubConnection {
  return {
    subscribe: (...channels) => Promise.all(channels.map((channel) => cluster.ssubscribe(channel))),
    unsubscribe: (...channels) => Promise.all(channels.map((channel) => cluster.sunsubscribe(channel))),
    ping: () => cluster.ping(),
  };
}
