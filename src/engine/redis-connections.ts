import { Cluster, Redis } from 'ioredis';
import {
  clusterConnectionOptions,
  clusterSeed,
  type ResolvedRedisEngineOptions,
  redisConnectionOptions,
} from './redis-engine-options.js';

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
   * Where the engine's scripts must be loaded: the one Redis, or every master the cluster client knows
   * now (each master has its own script cache; EVALSHA runs on the master that owns the key).
   */
  scriptTargets(): Redis[] {
    return this.command instanceof Cluster ? this.command.nodes('master') : [this.command];
  }
}
