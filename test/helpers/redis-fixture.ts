import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

// The shared Redis of the test run (TESTING.md): tests use it under their own key prefix and never
// stop it. Tests that stop, restart or freeze a Redis start their own (test/helpers/redis-server.ts).

/** Where the shared Redis answers. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** CI sets REQUIRE_REDIS=1: there a missing Redis fails the run instead of skipping. */
export const REQUIRE_REDIS = process.env.REQUIRE_REDIS === '1';

/** A key prefix no other test run or test file shares. */
export function uniquePrefix(label: string): string {
  return `actest:${label}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

function probe(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
}

/** Whether a Redis answers PING at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = probe(url);
  redis.on('error', () => undefined); // the answer is the return value
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Decides whether Redis tests run: true when Redis answers; otherwise false with a loud warning, or an
 * error under REQUIRE_REDIS=1 (CI), so the suite can never pass by silently skipping there.
 */
export async function requireRedis(url: string, what: string): Promise<boolean> {
  if (await redisAnswers(url)) return true;
  const message = `${what}: no Redis answers at ${url}`;
  if (REQUIRE_REDIS) throw new Error(`${message} and REQUIRE_REDIS=1`);
  console.warn(
    `\n*** SKIPPING ${message}. Start redis-server or set REDIS_URL; CI sets REQUIRE_REDIS=1. ***\n`,
  );
  return false;
}

/** Deletes every key matching `pattern` (a test's prefix). */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
