import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Engine } from './engine.js';
import { MemoryEngine } from './memory-engine.js';
import { RedisEngine } from './redis-engine.js';

/**
 * The engine a config asks for: Redis when `--redis` is set (a Redis Cluster reached through that node
 * with `--redis-cluster`), otherwise in-memory.
 */
export function createEngine(config: Config, log: Logger): Engine {
  const history = { historySize: config.historySize, historyTtlMs: config.historyTtlS * 1000 };
  if (config.redis === undefined) return new MemoryEngine({ ...history, logger: log });
  return new RedisEngine({
    ...history,
    url: config.redis,
    cluster: config.redisCluster,
    keyPrefix: config.redisKeyPrefix,
    slotLeaseMs: config.redisSlotLeaseS * 1000,
    name: config.serverId,
    logger: log,
  });
}
