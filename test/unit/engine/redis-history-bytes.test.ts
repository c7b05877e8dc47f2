import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisEngine } from '../../../packages/server/src/engine/redis-engine.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';
import { AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../helpers/redis-fixture.js';
import { requireRedisServer, startRedisServer } from '../../helpers/redis-server.js';

// The byte accounting of append.lua beyond the engine contract: what it keeps in Redis, and how it
// recovers when the stream and its accounting disagree (a stream written before byte accounting existed,
// a log that expired while the user's meta survived).
const available = await requireRedis(REDIS_URL, 'RedisEngine history bytes');
const privateAvailable = await requireRedisServer('RedisEngine maxmemory test');

const bytes = (e: StoredEvent) => Buffer.byteLength(encodeEvent(e));
const padded = (n: number) => ({ type: 'notification', data: { n, pad: 'ü'.repeat(50) } });

describe.skipIf(!available)('RedisEngine history bytes (append.lua)', () => {
  let raw: Redis;
  const engines: RedisEngine[] = [];
  const prefixes: string[] = [];

  beforeAll(() => {
    raw = new Redis(REDIS_URL);
  });

  afterAll(() => {
    raw.disconnect();
  });

  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
    for (const prefix of prefixes.splice(0)) await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  async function engineFor(prefix: string, historyMaxBytes: number): Promise<RedisEngine> {
    const engine = new RedisEngine({ url: REDIS_URL, keyPrefix: prefix, historyMaxBytes });
    engines.push(engine);
    await engine.ready();
    return engine;
  }

  function fresh(label: string): { prefix: string; keys: RedisKeys } {
    const prefix = uniquePrefix(label);
    prefixes.push(prefix);
    return { prefix, keys: new RedisKeys(prefix) };
  }

  /** What Redis holds for the user: entries of the stream, sizes listed, the byte total. */
  async function accounting(keys: RedisKeys, userId: string) {
    const [length, sizes, total] = await Promise.all([
      raw.xlen(keys.log(userId)),
      raw.lrange(keys.sizes(userId), 0, -1),
      raw.hget(keys.meta(userId), 'bytes'),
    ]);
    return { length, sizes: sizes.map(Number), total: Number(total) };
  }

  it('keeps one size per entry, in stream order, and their sum in the meta hash', async () => {
    const { prefix, keys } = fresh('bytes-sizes');
    const engine = await engineFor(prefix, 1_000_000);
    const stored = [
      await engine.append('alice', padded(1)),
      await engine.append('alice', { type: 'notification', data: { text: '😀' } }),
    ];
    expect(await accounting(keys, 'alice')).toEqual({
      length: 2,
      sizes: stored.map(bytes),
      total: bytes(stored[0] as StoredEvent) + bytes(stored[1] as StoredEvent),
    });
    const ttl = await raw.pttl(keys.sizes('alice'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300_000 + 1000);
  });

  it('rebuilds the accounting of a stream written without it (an upgrade), then trims by bytes', async () => {
    const { prefix, keys } = fresh('bytes-upgrade');
    const roomy = await engineFor(prefix, 1_000_000);
    const first = await roomy.append('alice', padded(1));
    for (let n = 2; n <= 4; n += 1) await roomy.append('alice', padded(n));
    // What an older version left: the stream alone.
    await raw.del(keys.sizes('alice'));
    await raw.hdel(keys.meta('alice'), 'bytes');
    const size = bytes(first);
    const tight = await engineFor(prefix, 3 * size);
    const fifth = await tight.append('alice', padded(5));
    expect(await accounting(keys, 'alice')).toEqual({
      length: 3,
      sizes: [size, size, size],
      total: 3 * size,
    });
    const { epoch } = fifth;
    const kept = await tight.history('alice', { since: 2, epoch, limit: 10 });
    expect(kept.kind === 'ok' && kept.events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(await tight.history('alice', { since: 1, epoch, limit: 10 })).toMatchObject({
      kind: 'reset',
      reason: 'expired',
    });
  });

  it('starts the total over when the log is gone but the meta hash survived (the log idled past its ttl)', async () => {
    const { prefix, keys } = fresh('bytes-expired');
    const engine = await engineFor(prefix, 1_000_000);
    await engine.append('alice', padded(1));
    await engine.append('alice', padded(2));
    // The log and its sizes expire together (same PEXPIRE); the meta hash lives on (24 h).
    await raw.del(keys.log('alice'), keys.sizes('alice'));
    const third = await engine.append('alice', padded(3));
    expect(third.seq).toBe(3);
    expect(await accounting(keys, 'alice')).toEqual({
      length: 1,
      sizes: [bytes(third)],
      total: bytes(third),
    });
  });

  it.skipIf(!privateAvailable)(
    'is refused whole, storing nothing, by a Redis at its maxmemory with noeviction (docs/redis.md, "Memory")',
    async () => {
      const redis = await startRedisServer({
        args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'],
      });
      const engine = new RedisEngine({ url: redis.url, keyPrefix: 'oom:', historyMaxBytes: 1_000_000 });
      try {
        await engine.ready();
        const big = { type: 'notification', data: { pad: 'x'.repeat(20_000) } };
        let stored = 0;
        let refusal: unknown;
        // 2 MB of maxmemory holds fewer than 100 such events; stop at the first refusal.
        for (let n = 0; n < 200 && refusal === undefined; n += 1) {
          try {
            await engine.append(`u${n % 4}`, big);
            stored += 1;
          } catch (error) {
            refusal = error;
          }
        }
        expect(refusal).toMatchObject({ code: AgentcastErrorCode.EngineUnavailable });
        expect(String((refusal as Error).message)).toContain('OOM');
        // Nothing of the refused event: the seqs handed out add up to the appends that succeeded.
        let seqs = 0;
        for (let u = 0; u < 4; u += 1) seqs += (await engine.head(`u${u}`)).seq;
        expect(seqs).toBe(stored);
        expect(engine.health()).toEqual({ ok: true });
      } finally {
        await engine.close();
        await redis.stop();
      }
    },
  );
});
