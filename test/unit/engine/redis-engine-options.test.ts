import { describe, expect, it } from 'vitest';
import {
  REDIS_ENGINE_DEFAULTS,
  redisConnectionOptions,
  resolveRedisEngineOptions,
} from '../../../packages/server/src/engine/redis-engine-options.js';

const url = 'redis://127.0.0.1:6379';

describe('resolveRedisEngineOptions', () => {
  it('applies the defaults and freezes the result', () => {
    const resolved = resolveRedisEngineOptions({ url });
    expect(resolved).toMatchObject({ url, ...REDIS_ENGINE_DEFAULTS });
    expect(resolved.now).toBe(Date.now);
    expect(resolved.newEpoch()).toMatch(/^e_/);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(resolved.historyMaxBytes).toBe(8 * 1024 * 1024);
  });

  it.each([
    [{ historySize: 0 }, 'RedisEngine: historySize must be an integer > 0, got 0'],
    [{ historySize: 2.5 }, 'RedisEngine: historySize must be an integer > 0, got 2.5'],
    [{ historyTtlMs: -1 }, 'RedisEngine: historyTtlMs must be an integer > 0, got -1'],
    [{ historyMaxBytes: 0 }, 'RedisEngine: historyMaxBytes must be an integer > 0, got 0'],
    [{ historyMaxBytes: 1.5 }, 'RedisEngine: historyMaxBytes must be an integer > 0, got 1.5'],
    [{ metaTtlMs: Number.NaN }, 'RedisEngine: metaTtlMs must be an integer > 0, got NaN'],
    [{ slotLeaseMs: 0 }, 'RedisEngine: slotLeaseMs must be an integer > 0, got 0'],
    [{ commandTimeoutMs: 0 }, 'RedisEngine: commandTimeoutMs must be a number > 0, got 0'],
    [
      { reconnectDelayMs: { min: 0, max: 10 } },
      'RedisEngine: reconnectDelayMs.min must be a number > 0, got 0',
    ],
    [
      { reconnectDelayMs: { min: 10, max: 5 } },
      'RedisEngine: reconnectDelayMs.max must be >= min (10), got 5',
    ],
  ])('refuses %o', (options, message) => {
    expect(() => resolveRedisEngineOptions({ url, ...options })).toThrow(new TypeError(message));
  });
});

describe('redisConnectionOptions', () => {
  it('fails fast and never resends while Redis is away', () => {
    const options = redisConnectionOptions(
      resolveRedisEngineOptions({ url, commandTimeoutMs: 300, reconnectDelayMs: { min: 10, max: 40 } }),
    );
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: 300,
      connectTimeout: 1000,
    });
    const delay = options.retryStrategy?.(10);
    expect(delay).toBeGreaterThanOrEqual(40);
    expect(delay).toBeLessThanOrEqual(44);
  });
});
