import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import { gate } from '../helpers/deferred.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';

/**
 * The streamed publish (docs/protocol.md D, "Streamed publish"): `POST /v1/publish` with
 * `Content-Type: application/x-ndjson`, written line by line with a chunked body, through the real
 * gateway. Each line is stored and delivered before the next is written; a bad line stops the stream
 * with what came before stored; keyed lines are stored once; a slow engine stops the reading.
 */

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly json: {
    readonly accepted: number;
    readonly results: readonly { seq: number; epoch: string; replayed?: boolean }[];
    readonly error?: { code: string; message: string };
  };
}

/** A chunked `POST /v1/publish` the test writes line by line; `answer` resolves with the response. */
function openStream(
  h: Harness,
  headers: Record<string, string> = {},
): { readonly req: ClientRequest; readonly answer: Promise<Answer>; line(value: unknown): boolean } {
  const req = request(`${h.httpUrl}/v1/publish`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${TEST_API_KEY}`,
      'Content-Type': 'application/x-ndjson',
      ...headers,
    },
  });
  req.flushHeaders();
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['json'],
        }),
      );
    });
  });
  return {
    req,
    answer,
    line: (value) => req.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`),
  };
}

const chunk = (user: string, text: string, extra: Record<string, unknown> = {}) => ({
  user_id: user,
  type: 'stream_chunk',
  run_id: 'r1',
  data: { text },
  ...extra,
});

async function headSeq(h: Harness, userId: string): Promise<number> {
  const res = await fetch(`${h.httpUrl}/v1/users/${userId}/history`, {
    headers: { Authorization: `Bearer ${TEST_API_KEY}` },
  });
  return ((await res.json()) as { seq: number }).seq;
}

describe('POST /v1/publish, application/x-ndjson', () => {
  const engine = new DelegatingEngine();
  let h: Harness;
  beforeAll(async () => {
    h = await startGateway({ maxPublishBytes: 4096 }, { engine });
  });
  afterAll(async () => {
    await h.close();
  });

  it('delivers each line before the next is written, in order, and answers once the body ends', async () => {
    const client = await h.connect('live');
    // Media type parameters are ignored, as the JSON path ignores them.
    const stream = openStream(h, {
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
      'Content-Type': 'application/x-ndjson; charset=utf-8',
    });
    for (const text of ['He', 'llo', ' world']) {
      stream.line(chunk('live', text));
      // Line n is on the user's screen while the body is still open: nothing waits for its end.
      const frame = await client.next('stream_chunk');
      expect(frame.data).toEqual({ text });
      expect(frame.meta).toEqual({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
    }
    stream.req.write('\n\r\n'); // blank lines are skipped (and counted)
    stream.req.end(JSON.stringify(chunk('other', 'last'))); // a last line needs no newline
    const answer = await stream.answer;
    expect(answer.status).toBe(202);
    expect(answer.json.accepted).toBe(4);
    expect(answer.json.results.map((r) => r.seq)).toEqual([1, 2, 3, 1]);
    expect(client.frames.filter((f) => f.type === 'stream_chunk').map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it('stops at a bad line with 400 naming it; the lines before it are stored, the rest never read', async () => {
    const stream = openStream(h);
    stream.line(chunk('bad', 'one'));
    stream.line(chunk('bad', 'two'));
    stream.line({ user_id: 'bad', type: 'ack', data: {} });
    stream.line(chunk('bad', 'never'));
    const answer = await stream.answer;
    expect(answer.status).toBe(400);
    expect(answer.headers.connection).toBe('close');
    expect(answer.json.error).toEqual({
      code: 'INVALID_MESSAGE',
      message: 'line 3: type: "ack" is reserved for the gateway\'s own frames',
    });
    expect(answer.json.accepted).toBe(2);
    expect(await headSeq(h, 'bad')).toBe(2);

    const json = openStream(h);
    json.line(chunk('bad', 'three'));
    json.req.end('{"user_id":');
    const notJson = await json.answer;
    expect([notJson.status, notJson.json.error?.code, notJson.json.error?.message]).toEqual([
      400,
      'INVALID_JSON',
      'line 2: not valid JSON',
    ]);
    expect(notJson.json.accepted).toBe(1);

    for (const [line, message] of [
      ['[1]', 'line 1: must be one event object {"user_id","type","data"}'],
      ['{"events":[]}', 'line 1: events: one event per line, not a batch'],
    ]) {
      const s = openStream(h);
      s.req.end(line);
      expect((await s.answer).json.error?.message).toBe(message);
    }
  });

  it('bounds a line by max_publish_bytes and a stream by publish_stream_max_lines (413)', async () => {
    const small = await startGateway({ maxPublishBytes: 4096, publishStreamMaxLines: 50 });
    const long = openStream(small);
    long.line(chunk('limits', 'ok'));
    long.req.end(JSON.stringify(chunk('limits', 'x'.repeat(5000))));
    const tooLong = await long.answer;
    expect([tooLong.status, tooLong.json.error?.message]).toEqual([
      413,
      'line 2 is longer than 4096 characters (max_publish_bytes)',
    ]);
    expect(tooLong.json.accepted).toBe(1);
    // 2,100 characters but 4,200 bytes: the limit is in bytes, as for a JSON body.
    const wide = openStream(small);
    wide.req.end(JSON.stringify(chunk('limits', 'é'.repeat(2100))));
    expect((await wide.answer).json.error?.message).toBe(
      'line 1 is longer than 4096 bytes (max_publish_bytes)',
    );

    const many = openStream(small);
    many.req.end(
      `${Array.from({ length: 51 }, (_, i) => JSON.stringify(chunk('limits', `${i}`))).join('\n')}\n`,
    );
    const tooMany = await many.answer;
    expect(tooMany.status).toBe(413);
    expect(tooMany.json.error?.message).toMatch(/^line 51: a stream takes at most 50 lines/);
    expect(tooMany.json.accepted).toBe(50);
    await small.close();
  });

  it('stores a keyed line at most once: by its idempotency_key, or by the Idempotency-Key header and its number', async () => {
    const first = openStream(h);
    first.line(chunk('keyed', 'a', { idempotency_key: 'line-a' }));
    first.req.end(`${JSON.stringify(chunk('keyed', 'b', { idempotency_key: 'line-b' }))}\n`);
    expect((await first.answer).json.results).toEqual([
      { seq: 1, epoch: expect.any(String) },
      { seq: 2, epoch: expect.any(String) },
    ]);
    const retry = openStream(h);
    retry.line(chunk('keyed', 'a', { idempotency_key: 'line-a' }));
    retry.req.end(`${JSON.stringify(chunk('keyed', 'c'))}\n`);
    const retried = await retry.answer;
    expect(retried.json.results.map((r) => [r.seq, r.replayed])).toEqual([
      [1, true],
      [3, undefined],
    ]);
    const reused = openStream(h);
    reused.req.end(`${JSON.stringify(chunk('keyed', 'other', { idempotency_key: 'line-b' }))}\n`);
    const conflict = await reused.answer;
    expect([conflict.status, conflict.json.error?.code, conflict.json.accepted]).toEqual([
      409,
      'IDEMPOTENCY_KEY_REUSED',
      0,
    ]);

    // A whole stream retried with the same header: every line it stored before is a repeat.
    const body = `${JSON.stringify(chunk('header', 'x'))}\n${JSON.stringify(chunk('header', 'y'))}\n`;
    for (const replayed of [undefined, true]) {
      const s = openStream(h, { 'Idempotency-Key': 'run-42' });
      s.req.end(body);
      expect((await s.answer).json.results.map((r) => [r.seq, r.replayed])).toEqual([
        [1, replayed],
        [2, replayed],
      ]);
    }
    expect(await headSeq(h, 'header')).toBe(2);

    const badKey = openStream(h);
    badKey.req.end(`${JSON.stringify(chunk('keyed', 'a', { idempotency_key: 'has space' }))}\n`);
    expect((await badKey.answer).json.error?.message).toBe(
      'line 1: idempotency_key: must be 1..128 visible ASCII characters (no spaces)',
    );
  });

  it('stops reading while the engine is slow and stores everything in order once it answers', async () => {
    const held = gate();
    const release = engine.hold('appendBatch', held);
    const before = engine.calls.appendBatch;
    const stream = openStream(h);
    const line = JSON.stringify(chunk('slow', 'x'.repeat(900)));
    // Write until the gateway stops taking bytes: the kernel's buffers fill, then `drain` stops coming.
    let lines = 0;
    for (let i = 0; i < 40_000; i++) {
      lines += 1;
      if (stream.line(line)) continue;
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => stream.req.once('drain', () => resolve(true))),
        held.wasReached.then(() => new Promise<boolean>((resolve) => setTimeout(resolve, 300, false))),
      ]);
      if (!drained) break;
    }
    // 40,000 lines are 37 MB: far more than loopback buffers hold. The gateway took one chunk's lines
    // to the engine and read no further while they were being stored.
    expect(lines).toBeLessThan(40_000);
    expect(engine.calls.appendBatch - before).toBe(1);
    held.open();
    release();
    stream.req.end();
    const answer = await stream.answer;
    expect(answer.status).toBe(202);
    expect(answer.json.accepted).toBe(lines);
    expect(answer.json.results.map((r) => r.seq)).toEqual(Array.from({ length: lines }, (_, i) => i + 1));
  });

  it('answers 503 naming the lines the engine failed, with what it stored before', async () => {
    const client = await h.connect('down');
    const stream = openStream(h);
    stream.line(chunk('down', 'stored'));
    await client.next('stream_chunk');
    const restore = engine.fail(
      'appendBatchOnce',
      new EngineUnavailableError('down', { nothingApplied: true }),
    );
    stream.line(chunk('down', 'lost', { idempotency_key: 'down-1' }));
    const answer = await stream.answer;
    restore();
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.json.error?.message).toBe(
      'line 2: the engine is unavailable; nothing was stored, retry later',
    );
    expect(answer.json.accepted).toBe(1);
  });

  it('answers an unconfirmed batch of lines 503, and a bug 500 INTERNAL, with what was stored before', async () => {
    const n = engine.calls.appendBatch;
    const unavailable = new EngineUnavailableError('Command timed out', { nothingApplied: false });
    const restore = engine.fail('appendBatch', (call) => (call === n + 1 ? unavailable : new Error('a bug')));
    const answers: Answer[] = [];
    for (let i = 0; i < 2; i++) {
      const s = openStream(h);
      s.req.end(`${JSON.stringify(chunk('fail', 'a'))}\n${JSON.stringify(chunk('fail', 'b'))}\n`);
      answers.push(await s.answer);
    }
    restore();
    const [unconfirmed, bug] = answers;
    expect(unconfirmed?.status).toBe(503);
    expect(unconfirmed?.json.error?.message).toMatch(
      /^lines from 1 \(2 events\): the engine did not confirm the write: none, some or all/,
    );
    expect([bug?.status, bug?.json.error]).toEqual([500, { code: 'INTERNAL', message: 'internal error' }]);
  });

  it('keeps what was stored when the backend goes away mid-body, and serves the next stream', async () => {
    const client = await h.connect('gone');
    const stream = openStream(h);
    stream.answer.catch(() => undefined);
    stream.line(chunk('gone', 'kept'));
    await client.next('stream_chunk');
    stream.req.write('{"user_id":"gone","type":"stream_ch'); // an open line, never finished
    stream.req.destroy();
    const next = openStream(h);
    next.req.end(`${JSON.stringify(chunk('gone', 'after'))}\n`);
    expect((await next.answer).json.results.map((r) => r.seq)).toEqual([2]);
  });
});

const redisUp = await requireRedis(REDIS_URL, 'streamed publish on Redis');

describe.skipIf(!redisUp)('POST /v1/publish, application/x-ndjson, on Redis', () => {
  it('stores a stream in order, keyed lines once, and a retried stream only where the first stopped', async () => {
    const prefix = uniquePrefix('publish-stream');
    const engine = new RedisEngine({ url: REDIS_URL, keyPrefix: prefix });
    await engine.ready();
    const h = await startGateway({}, { engine });
    try {
      const client = await h.connect('redis-user');
      const first = openStream(h, { 'Idempotency-Key': 'run-7' });
      first.line(chunk('redis-user', 'a'));
      expect((await client.next('stream_chunk')).data).toEqual({ text: 'a' });
      first.line(chunk('redis-user', 'b'));
      first.req.end(`${JSON.stringify({ type: 'ack', user_id: 'redis-user' })}\n`);
      const stopped = await first.answer;
      expect([stopped.status, stopped.json.accepted]).toEqual([400, 2]);
      // The same stream again, fixed: lines 1 and 2 are repeats, line 3 is new.
      const retry = openStream(h, { 'Idempotency-Key': 'run-7' });
      retry.req.end(
        [chunk('redis-user', 'a'), chunk('redis-user', 'b'), chunk('redis-user', 'c')]
          .map((l) => `${JSON.stringify(l)}\n`)
          .join(''),
      );
      expect((await retry.answer).json.results.map((r) => [r.seq, r.replayed])).toEqual([
        [1, true],
        [2, true],
        [3, undefined],
      ]);
      expect((await client.events(3)).map((f) => f.data)).toEqual([
        { text: 'a' },
        { text: 'b' },
        { text: 'c' },
      ]);
    } finally {
      await h.close();
      await engine.close();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    }
  });
});
