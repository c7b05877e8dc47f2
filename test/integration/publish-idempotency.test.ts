import { afterEach, describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import { AgentcastError, AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';

/**
 * `Idempotency-Key` on POST /v1/publish (docs/protocol.md D): a repeat with the same body answers the
 * first 202 byte for byte and stores nothing; another body is 409 IDEMPOTENCY_KEY_REUSED; concurrent
 * repeats store once; a key is kept per API key; on Redis across nodes, and a write that Redis ran but
 * never confirmed is deduplicated on the retry.
 */

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
}

async function publish(
  h: Harness,
  body: string,
  key: string | undefined,
  apiKey = TEST_API_KEY,
): Promise<Answer> {
  const res = await fetch(`${h.httpUrl}/v1/publish`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'Content-Type': 'application/json',
      ...(key === undefined ? {} : { 'Idempotency-Key': key }),
    },
    body,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function seqOf(h: Harness, userId: string): Promise<number> {
  const res = await fetch(`${h.httpUrl}/v1/users/${userId}/history`, {
    headers: { Authorization: `Bearer ${TEST_API_KEY}` },
  });
  return ((await res.json()) as { seq: number }).seq;
}

const one = (user: string, n = 1) => JSON.stringify({ user_id: user, type: 'notification', data: { n } });

describe('POST /v1/publish with Idempotency-Key (memory engine)', () => {
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
  });
  async function gateway(...args: Parameters<typeof startGateway>): Promise<Harness> {
    const h = await startGateway(...args);
    open.push(h);
    return h;
  }

  it('answers a repeat with the first 202 body byte for byte and stores nothing more', async () => {
    const h = await gateway();
    const first = await publish(h, one('u1'), 'k-1');
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const repeat = await publish(h, one('u1'), 'k-1');
    expect(repeat.status).toBe(202);
    expect(repeat.text).toBe(first.text);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(await seqOf(h, 'u1')).toBe(1);
  });

  it('keys a batch across users as a whole: the repeat stores none of it', async () => {
    const h = await gateway();
    const batch = JSON.stringify({
      events: [JSON.parse(one('a', 1)), JSON.parse(one('b', 2)), JSON.parse(one('a', 3))],
    });
    const first = await publish(h, batch, 'batch-1');
    expect(JSON.parse(first.text).results.map((r: { seq: number }) => r.seq)).toEqual([1, 1, 2]);
    expect((await publish(h, batch, 'batch-1')).text).toBe(first.text);
    expect([await seqOf(h, 'a'), await seqOf(h, 'b')]).toEqual([2, 1]);
  });

  it('refuses the same key with another body with 409 IDEMPOTENCY_KEY_REUSED, storing nothing', async () => {
    const h = await gateway();
    await publish(h, one('u1', 1), 'k');
    const other = await publish(h, one('u1', 2), 'k');
    expect(other.status).toBe(409);
    expect(JSON.parse(other.text)).toEqual({
      error: {
        code: 'IDEMPOTENCY_KEY_REUSED',
        message:
          'Idempotency-Key: already used with a different body; nothing was stored. Use a new key for a new publish',
      },
    });
    expect(await seqOf(h, 'u1')).toBe(1);
  });

  it('stores once when the same keyed publish arrives many times at once; every answer is the same', async () => {
    const h = await gateway();
    const answers = await Promise.all(Array.from({ length: 10 }, () => publish(h, one('c'), 'same')));
    expect(new Set(answers.map((a) => `${a.status} ${a.text}`)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(await seqOf(h, 'c')).toBe(1);
  });

  it('forgets a key after --publish-idempotency-ttl-s', async () => {
    let now = Date.now();
    const { MemoryEngine } = await import('../../packages/server/src/engine/memory-engine.js');
    const engine = new MemoryEngine({ now: () => now });
    const h = await gateway({ publishIdempotencyTtlS: 60 }, { engine });
    await publish(h, one('t'), 'k');
    now += 59_999;
    expect((await publish(h, one('t'), 'k')).headers.get('idempotent-replayed')).toBe('true');
    now += 1;
    expect((await publish(h, one('t'), 'k')).headers.get('idempotent-replayed')).toBeNull();
    expect(await seqOf(h, 't')).toBe(2);
    await engine.close();
  });

  it.each([
    ['empty', ''],
    ['with a space', 'a b'],
    ['of 129 characters', 'k'.repeat(129)],
    ['with a control character', 'a\tb'],
  ])('refuses a key %s with 400 INVALID_MESSAGE before storing anything', async (_name, key) => {
    const h = await gateway();
    const res = await publish(h, one('v'), key);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toEqual({
      code: 'INVALID_MESSAGE',
      message: 'Idempotency-Key: must be 1..128 visible ASCII characters (no spaces)',
    });
    expect(await seqOf(h, 'v')).toBe(0);
  });

  it('accepts a key of exactly 128 visible characters', async () => {
    const h = await gateway();
    const key = `${'!~'.repeat(63)}ab`;
    expect((await publish(h, one('w'), key)).status).toBe(202);
    expect((await publish(h, one('w'), key)).headers.get('idempotent-replayed')).toBe('true');
  });

  it('dedupes the retry of a keyed publish whose write was stored but never confirmed (503)', async () => {
    const engine = new DelegatingEngine();
    const h = await gateway({}, { engine });
    // The engine stores it, then the answer is lost: what a Redis command timeout looks like.
    const stop = engine.intercept('appendBatchOnce', async (next, items, key) => {
      await next(items, key);
      throw new EngineUnavailableError('Command timed out', { nothingApplied: false });
    });
    const lost = await publish(h, one('x'), 'k-lost');
    expect(lost.status).toBe(503);
    expect(JSON.parse(lost.text).error.message).toBe(
      'the engine did not confirm the write: the event may or may not have been stored; retry with the same Idempotency-Key, which stores it at most once',
    );
    stop();
    const retry = await publish(h, one('x'), 'k-lost');
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await seqOf(h, 'x')).toBe(1);
    await engine.close();
  });

  it('answers 400 INVALID_MESSAGE with the engine’s words when it cannot store a keyed batch at once (a Redis Cluster)', async () => {
    const engine = new DelegatingEngine();
    const why =
      'Idempotency-Key: on this Redis Cluster a keyed batch must name users of one hash slot; publish each user with its own key';
    engine.fail('appendBatchOnce', new AgentcastError(AgentcastErrorCode.EventInvalid, why));
    const h = await gateway({}, { engine });
    const res = await publish(h, one('z'), 'k');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toEqual({ code: 'INVALID_MESSAGE', message: why });
    await engine.close();
  });

  it('tells an unkeyed publish whose write was not confirmed to send an Idempotency-Key', async () => {
    const engine = new DelegatingEngine();
    engine.fail('appendBatch', new EngineUnavailableError('Command timed out', { nothingApplied: false }));
    const h = await gateway({}, { engine });
    const res = await publish(h, one('y'), undefined);
    expect(JSON.parse(res.text).error.message).toMatch(/send an Idempotency-Key header/);
    await engine.close();
  });
});

const redisUp = await requireRedis(REDIS_URL, 'publish idempotency on Redis');

describe.skipIf(!redisUp)('POST /v1/publish with Idempotency-Key on Redis, across nodes', () => {
  const open: Harness[] = [];
  let prefix = '';
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await deleteKeys(REDIS_URL, `${prefix}*`);
  });
  async function node(
    serverId: string,
    apiKey = TEST_API_KEY,
    wrap: (engine: RedisEngine) => DelegatingEngine | RedisEngine = (engine) => engine,
  ): Promise<Harness> {
    const engine = new RedisEngine({ url: REDIS_URL, keyPrefix: prefix });
    await engine.ready();
    const h = await startGateway({ serverId, apiKey }, { engine: wrap(engine) });
    const close = h.close;
    open.push({
      ...h,
      close: async () => {
        await close();
        await engine.close();
      },
    });
    return h;
  }

  it('answers a repeat on another node with the first 202 byte for byte, storing nothing more', async () => {
    prefix = uniquePrefix('publish-idem');
    const [a, b] = [await node('node-a'), await node('node-b')];
    const first = await publish(a, one('r1'), 'k');
    const repeat = await publish(b, one('r1'), 'k');
    expect(repeat.status).toBe(202);
    expect(repeat.text).toBe(first.text);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect((await publish(b, one('r1', 2), 'k')).status).toBe(409);
    expect(await seqOf(a, 'r1')).toBe(1);
  });

  it('stores once when both nodes get the same keyed batch many times at once', async () => {
    prefix = uniquePrefix('publish-idem');
    const [a, b] = [await node('node-a'), await node('node-b')];
    const batch = JSON.stringify({ events: [JSON.parse(one('r2', 1)), JSON.parse(one('r3', 2))] });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => publish(i % 2 === 0 ? a : b, batch, 'race')),
    );
    expect(new Set(answers.map((x) => `${x.status} ${x.text}`)).size).toBe(1);
    expect([await seqOf(a, 'r2'), await seqOf(a, 'r3')]).toEqual([1, 1]);
  });

  it('keeps keys per API key: the same key under another API key is another publish', async () => {
    prefix = uniquePrefix('publish-idem');
    const other = 'another-api-key-0123456789';
    const [a, b] = [await node('node-a'), await node('node-b', other)];
    await publish(a, one('r4'), 'k');
    const res = await publish(b, one('r4'), 'k', other);
    expect(res.status).toBe(202);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await seqOf(a, 'r4')).toBe(2);
  });

  it('dedupes on node B the retry of a publish node A stored in Redis but never answered', async () => {
    prefix = uniquePrefix('publish-idem');
    let lossy: DelegatingEngine | undefined;
    const a = await node('node-a', TEST_API_KEY, (engine) => {
      lossy = new DelegatingEngine(engine);
      // Redis ran the script; the reply never came back (a command timeout, a crash before the answer).
      lossy.intercept('appendBatchOnce', async (next, items, key) => {
        await next(items, key);
        throw new EngineUnavailableError('Command timed out', { nothingApplied: false });
      });
      return lossy;
    });
    const b = await node('node-b');
    expect((await publish(a, one('r5'), 'k-lost')).status).toBe(503);
    const retry = await publish(b, one('r5'), 'k-lost');
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(JSON.parse(retry.text).results[0].seq).toBe(1);
    expect(await seqOf(b, 'r5')).toBe(1);
    expect(lossy?.calls.appendBatchOnce).toBe(1);
  });
});
