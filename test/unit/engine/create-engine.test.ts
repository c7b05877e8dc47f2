import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../../packages/server/src/engine/create-engine.js';
import type { Engine } from '../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { healthIs } from '../../helpers/engine-health.js';
import { testConfig } from '../../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../helpers/redis-fixture.js';

const redisAvailable = await requireRedis(REDIS_URL, 'createEngine with --redis');

describe('createEngine', () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
  });

  it('is the memory engine without --redis', () => {
    engine = createEngine(testConfig(), silentLogger());
    expect(engine.kind).toBe('memory');
  });

  it('gives the memory engine both history byte bounds', () => {
    const memory = createEngine(
      testConfig({ historyMaxBytes: 5000, historyMemoryBytes: 70_000 }),
      silentLogger(),
    ) as MemoryEngine;
    engine = memory;
    expect(memory).toBeInstanceOf(MemoryEngine);
    expect([memory.historyMaxBytes, memory.historyMemoryBytes]).toEqual([5000, 70_000]);
  });

  it.runIf(redisAvailable)(
    'is Redis with --redis, under the key prefix, with the slot lease in seconds',
    async () => {
      const prefix = uniquePrefix('create-engine');
      engine = createEngine(
        testConfig({ redis: REDIS_URL, redisKeyPrefix: prefix, redisSlotLeaseS: 7 }),
        silentLogger(),
      );
      expect(engine.kind).toBe('redis');
      await healthIs(engine, true);
      expect(await engine.acquireConnectionSlot('u1', 'c_1', 1)).toBe(true);
      const redis = new Redis(REDIS_URL);
      try {
        const ttlMs = await redis.pttl(`${prefix}{u:u1}:conns`);
        expect(ttlMs).toBeGreaterThan(6000);
        expect(ttlMs).toBeLessThanOrEqual(7000);
      } finally {
        redis.disconnect();
        await deleteKeys(REDIS_URL, `${prefix}*`);
      }
    },
  );
});
