import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Engine } from './engine.js';
import { MemoryEngine } from './memory-engine.js';
import { RedisEngine } from './redis-engine.js';

/**
 * The engine a config asks for: Redis when `--redis` is set (a Redis Cluster reached through that node
 * with `--redis-cluster`), otherwise in-memory. `--history-memory-bytes` bounds the memory engine only:
 * on Redis the histories live in Redis (docs/redis.md, "Memory").
 */
export function createEngine(config: Config, log: Logger, metrics?: Metrics): Engine {
  const history = {
    historySize: config.historySize,
    historyTtlMs: config.historyTtlS * 1000,
    historyMaxBytes: config.historyMaxBytes,
    runSnapshots: {
      maxBytes: config.runSnapshotMaxBytes,
      ttlMs: config.runSnapshotTtlS * 1000,
      perUser: config.runSnapshotsPerUser,
    },
  };
  if (config.redis === undefined) {
    return new MemoryEngine({ ...history, historyMemoryBytes: config.historyMemoryBytes, logger: log });
  }
  return new RedisEngine({
    ...history,
    url: config.redis,
    cluster: config.redisCluster,
    keyPrefix: config.redisKeyPrefix,
    slotLeaseMs: config.redisSlotLeaseS * 1000,
    name: config.serverId,
    logger: log,
    ...(metrics === undefined ? {} : { metrics }),
  });
}
