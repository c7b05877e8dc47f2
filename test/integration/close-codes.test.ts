import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../packages/server/src/config/config.js';
import type {
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  RunRef,
  RunStart,
} from '../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import type { GatewayDeps } from '../../packages/server/src/gateway/gateway.js';
import { createLogger } from '../../packages/server/src/observability/logger.js';
import { CloseCode, CloseReason } from '../../packages/server/src/protocol/close-codes.js';
import { ErrorCode } from '../../packages/server/src/protocol/error-codes.js';
import type { NewEvent } from '../../packages/server/src/protocol/events.js';
import { Client, type Frame, type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * docs/protocol.md §5–§7 against a real gateway: every per-connection limit closes with its code, every error
 * frame carries its code, and none of it disturbs anyone else's connection.
 */

/** An engine whose writes fail as if Redis were unreachable, while reads and subscriptions still work. */
class WriteFailingEngine implements Engine {
  readonly kind = 'memory';
  readonly #inner = new MemoryEngine();

  #unavailable(): never {
    // Down, as the Redis engine is when it knows Redis is unreachable: refused before anything is sent.
    throw new EngineUnavailableError('engine unavailable (test double)', { nothingApplied: true });
  }
  async append(_userId: string, _event: NewEvent): Promise<never> {
    this.#unavailable();
  }
  async appendBatch(): Promise<never> {
    this.#unavailable();
  }
  async claimIdempotency(): Promise<never> {
    this.#unavailable();
  }
  head(userId: string) {
    return this.#inner.head(userId);
  }
  history(userId: string, query: HistoryQuery) {
    return this.#inner.history(userId, query);
  }
  subscribe(userId: string, listener: EventListener) {
    return this.#inner.subscribe(userId, listener);
  }
  acquireConnectionSlot(userId: string, connectionId: string, limit: number) {
    return this.#inner.acquireConnectionSlot(userId, connectionId, limit);
  }
  releaseConnectionSlot(userId: string, connectionId: string) {
    return this.#inner.releaseConnectionSlot(userId, connectionId);
  }
  startRun(userId: string, start: RunStart) {
    return this.#inner.startRun(userId, start);
  }
  renewRuns(node: string, runs: readonly RunRef[], leaseMs: number) {
    return this.#inner.renewRuns(node, runs, leaseMs);
  }
  endRun(userId: string, runId: string, node: string) {
    return this.#inner.endRun(userId, runId, node);
  }
  activeRuns(userId: string) {
    return this.#inner.activeRuns(userId);
  }
  health(): EngineHealth {
    return this.#inner.health();
  }
  onHealthChange(listener: (health: EngineHealth) => void) {
    return this.#inner.onHealthChange(listener);
  }
  close() {
    return this.#inner.close();
  }
}

/** A log destination that resolves `whenClosing(code)` when the gateway logs closing a connection with `code`. */
class CloseLog extends Writable {
  readonly #codes = new Set<number>();
  readonly #waiters = new Map<number, () => void>();

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      const entry: { msg?: string; close_code?: number } = JSON.parse(line);
      if (entry.msg === 'closing connection' && typeof entry.close_code === 'number') {
        this.#codes.add(entry.close_code);
        this.#waiters.get(entry.close_code)?.();
      }
    }
    done();
  }

  seen(code: number): boolean {
    return this.#codes.has(code);
  }

  whenClosing(code: number): Promise<void> {
    if (this.#codes.has(code)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(code, resolve));
  }
}

describe('limits, close codes and error frames (docs/protocol.md §5–§7)', () => {
  let h: Harness | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function start(overrides: Partial<Config> = {}, deps: GatewayDeps = {}): Promise<Harness> {
    h = await startGateway(overrides, deps);
    return h;
  }

  /** `user` is still served: a published event reaches `client`. */
  async function expectDelivers(g: Harness, client: Client, userId: string): Promise<void> {
    const before = client.frames.filter((f) => typeof f.seq === 'number').length;
    expect((await g.publish({ user_id: userId, type: 'notification', data: { probe: true } })).status).toBe(
      202,
    );
    const events = await client.events(before + 1);
    expect(events.at(-1)).toMatchObject({ type: 'notification', data: { probe: true } });
  }

  /** Sends a ping and returns the next frame; proves the connection still answers. */
  async function roundTrip(client: Client, id: string): Promise<Frame> {
    client.send({ type: 'ping', id });
    return client.next('pong');
  }

  describe('1009: frame over max_payload', () => {
    it('closes with 1009 on a frame one byte over max_payload, and serves other users', async () => {
      const g = await start({ maxPayload: 1024 });
      const bystander = await g.connect('bystander');
      const client = await g.connect('u1');
      client.send(JSON.stringify({ type: 'ping', id: 'big' }).padEnd(1025, ' '));
      expect(await client.closedWith()).toBe(CloseCode.FrameTooLarge);
      await expectDelivers(g, bystander, 'bystander');
    });

    it('accepts a frame of exactly max_payload bytes', async () => {
      const g = await start({ maxPayload: 1024 });
      const client = await g.connect('u1');
      const frame = JSON.stringify({ type: 'ping', id: 'edge' }).padEnd(1024, ' ');
      expect(Buffer.byteLength(frame)).toBe(1024);
      client.send(frame);
      expect(await client.next()).toMatchObject({ type: 'pong', id: 'edge' });
    });
  });

  describe('RATE_LIMITED and 4029: inbound token bucket', () => {
    it('answers frames beyond the burst with RATE_LIMITED error frames and stays open', async () => {
      const g = await start({ rateLimit: 5, rateBurst: 5 });
      const client = await g.connect('u1');
      for (let i = 0; i < 10; i++) client.send({ type: 'ping', id: i });
      const answers = [];
      for (let i = 0; i < 10; i++) answers.push(await client.next());
      // The bucket starts full: the first five are answered; refills (one per 200 ms) may admit one more.
      expect(answers.slice(0, 5)).toEqual(
        [0, 1, 2, 3, 4].map((id) => ({ type: 'pong', id, ts: expect.any(String) })),
      );
      const limited = answers.filter((a) => a.type === 'error');
      expect(limited.length).toBeGreaterThanOrEqual(4);
      for (const frame of limited) {
        expect(frame).toEqual({
          type: 'error',
          data: { code: ErrorCode.RateLimited, message: 'more than 5 frames per second; slow down' },
        });
      }
      expect(client.closeCode).toBeUndefined();
      await expectDelivers(g, client, 'u1');
    });

    it('closes with 4029 after refusals in rate_limit_strikes consecutive one-second windows', async () => {
      const g = await start({ rateLimit: 5, rateBurst: 5, rateLimitStrikes: 2 });
      const bystander = await g.connect('bystander');
      const client = await g.connect('u1');
      const startedAt = Date.now();
      // Flood in rounds of ten frames, reading all ten answers before the next round, so the loop runs at
      // the server's pace (an unpaced burst of thousands would test the write buffer, not the rate limit).
      // Bounded by time, not rounds: a round takes well under a millisecond, and the close needs a second boundary.
      const deadline = startedAt + 3000;
      while (client.closeCode === undefined && Date.now() < deadline) {
        for (let i = 0; i < 10; i++) client.send({ type: 'ping' });
        try {
          for (let i = 0; i < 10; i++) await client.next();
        } catch (err) {
          // next() throws once the socket has closed; the close is asserted below, anything else is a failure.
          if (client.closeCode === undefined) throw err;
        }
      }
      expect(await client.closure()).toEqual({
        code: CloseCode.RateLimited,
        reason: CloseReason.RateLimited,
      });
      expect(client.frames.some((f) => f.type === 'error' && f.data?.code === ErrorCode.RateLimited)).toBe(
        true,
      );
      // Two windows: the flood spans at least one window boundary, never more than two seconds.
      expect(Date.now() - startedAt).toBeLessThan(2500);
      await expectDelivers(g, bystander, 'bystander');
    });
  });

  describe('error frames and 4008: malformed frames', () => {
    const malformed: { name: string; frame: string | Buffer; code: string; id?: string | number }[] = [
      { name: 'text that is not JSON', frame: 'hello', code: ErrorCode.InvalidJson },
      { name: 'truncated JSON', frame: '{"type":"ping"', code: ErrorCode.InvalidJson },
      { name: 'an empty text frame', frame: '', code: ErrorCode.InvalidJson },
      { name: 'a JSON array', frame: '[{"type":"ping"}]', code: ErrorCode.InvalidMessage },
      { name: 'a JSON number', frame: '42', code: ErrorCode.InvalidMessage },
      { name: 'JSON null', frame: 'null', code: ErrorCode.InvalidMessage },
      { name: 'an object without type', frame: '{"id":"x1"}', code: ErrorCode.InvalidMessage, id: 'x1' },
      { name: 'a numeric type', frame: '{"type":7}', code: ErrorCode.InvalidMessage },
      {
        name: 'a user_message without data',
        frame: '{"type":"user_message","id":"m1"}',
        code: ErrorCode.InvalidMessage,
        id: 'm1',
      },
      {
        name: 'a user_message with an empty text',
        frame: '{"type":"user_message","id":"m2","data":{"text":""}}',
        code: ErrorCode.InvalidMessage,
        id: 'm2',
      },
      {
        name: 'a user_message id of 129 characters',
        frame: JSON.stringify({ type: 'user_message', id: 'm'.repeat(129), data: { text: 'hi' } }),
        code: ErrorCode.InvalidMessage,
        id: 'm'.repeat(129),
      },
      {
        name: 'a cancel without run_id',
        frame: '{"type":"cancel","id":7,"data":{}}',
        code: ErrorCode.InvalidMessage,
        id: 7,
      },
      {
        name: 'a ping with an object id',
        frame: '{"type":"ping","id":{"a":1}}',
        code: ErrorCode.InvalidMessage,
      },
      {
        name: 'an unknown type',
        frame: '{"type":"subscribe","id":"s1"}',
        code: ErrorCode.UnknownType,
        id: 's1',
      },
      { name: 'type "__proto__"', frame: '{"type":"__proto__"}', code: ErrorCode.UnknownType },
      { name: 'type "constructor"', frame: '{"type":"constructor"}', code: ErrorCode.UnknownType },
      { name: 'type "toString"', frame: '{"type":"toString"}', code: ErrorCode.UnknownType },
      {
        name: 'an event type sent by a client',
        frame: '{"type":"agent_completed"}',
        code: ErrorCode.UnknownType,
      },
      { name: 'a binary frame', frame: Buffer.from('{"type":"ping"}'), code: ErrorCode.InvalidMessage },
    ];

    it.each(malformed)('answers $name with error $code and stays open', async ({ frame, code, id }) => {
      const g = await start();
      const client = await g.connect('u1');
      client.ws.send(frame);
      const error = await client.next();
      expect(error).toEqual({
        type: 'error',
        ...(id === undefined ? {} : { id }),
        data: { code, message: expect.any(String) },
      });
      expect(await roundTrip(client, 'after')).toMatchObject({ id: 'after' });
    });

    it('closes with 4008 on the max_bad_frames-th malformed frame, after answering each one', async () => {
      const g = await start({ maxBadFrames: 10 });
      const bystander = await g.connect('bystander');
      const client = await g.connect('u1');
      const sent = malformed.slice(0, 10);
      for (const { frame } of sent) client.ws.send(frame);
      const codes = [];
      for (let i = 0; i < sent.length; i++) codes.push((await client.next()).data?.code);
      expect(codes).toEqual(sent.map((m) => m.code));
      expect(await client.closure()).toEqual({
        code: CloseCode.TooManyBadFrames,
        reason: CloseReason.TooManyBadFrames,
      });
      await expectDelivers(g, bystander, 'bystander');
    });

    it('does not close with 4008 below max_bad_frames, and valid frames in between do not count', async () => {
      const g = await start({ maxBadFrames: 3 });
      const client = await g.connect('u1');
      for (let i = 0; i < 2; i++) {
        client.send('not json');
        expect(await client.next()).toMatchObject({ type: 'error', data: { code: ErrorCode.InvalidJson } });
        expect(await roundTrip(client, `ok-${i}`)).toMatchObject({ id: `ok-${i}` });
      }
      client.send('not json');
      await client.next('error');
      expect(await client.closure()).toEqual({
        code: CloseCode.TooManyBadFrames,
        reason: CloseReason.TooManyBadFrames,
      });
    });
  });

  describe('4009: connections per user', () => {
    it('closes the connection past max_connections_per_user with 4009 and keeps the others', async () => {
      const g = await start({ maxConnectionsPerUser: 3 });
      const first = await Promise.all([g.connect('u1'), g.connect('u1'), g.connect('u1')]);
      const extra = Client.open(g.wsUrl, { headers: { Authorization: `Bearer ${await g.token('u1')}` } });
      cleanups.push(async () => extra.ws.terminate());
      expect(await extra.closure()).toEqual({
        code: CloseCode.TooManyConnections,
        reason: CloseReason.TooManyConnections,
      });
      expect(extra.frames).toEqual([]);
      const other = await g.connect('u2');
      await g.publish({
        events: ['u1', 'u2'].map((user_id) => ({ user_id, type: 'notification', data: {} })),
      });
      for (const client of [...first, other]) expect(await client.events(1)).toHaveLength(1);
    });
  });

  describe('4013: slow consumer', () => {
    const PAD = 'x'.repeat(16 * 1024);

    it('closes a connection that stops reading with 4013 once its unsent bytes pass max_buffered_bytes', async () => {
      const log = new CloseLog();
      const g = await start(
        { maxBufferedBytes: 65_536 },
        { log: createLogger({ level: 'info', destination: log }) },
      );
      const reader = await g.connect('u1');
      const stalled = await g.connect('u1');
      stalled.ws.pause();
      // One event per publish, so each is written in its own tick; bounded at ~64 MiB in all.
      let published = 0;
      while (!log.seen(CloseCode.SlowConsumer) && published < 4000) {
        expect(
          (await g.publish({ user_id: 'u1', type: 'notification', data: { pad: PAD, n: published } })).status,
        ).toBe(202);
        published++;
      }
      await log.whenClosing(CloseCode.SlowConsumer);
      // The server sent its close frame behind the queued events; read on to see it.
      stalled.ws.resume();
      expect(await stalled.closure()).toEqual({
        code: CloseCode.SlowConsumer,
        reason: CloseReason.SlowConsumer,
      });
      // The reading connection of the same user got every event, in order.
      const events = await reader.events(published);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
      expect(reader.closeCode).toBeUndefined();
    });

    // BUG (reported): Connection.send corks the socket for the tick and compares ws.bufferedAmount, which
    // counts the corked bytes, with max_buffered_bytes. One publish batch larger than the limit therefore
    // closes every connection of the user with 4013, including ones that read everything at once.
    it('does not close a connection that keeps reading when one batch exceeds max_buffered_bytes', async () => {
      const g = await start({ maxBufferedBytes: 65_536 });
      const client = await g.connect('u1');
      const events = Array.from({ length: 10 }, (_, n) => ({
        user_id: 'u1',
        type: 'notification',
        data: { pad: PAD, n },
      }));
      expect((await g.publish({ events })).status).toBe(202);
      expect(await client.events(10)).toHaveLength(10);
      expect(client.closeCode).toBeUndefined();
    });
  });

  describe('client frames (§6)', () => {
    it('answers a ping with a pong carrying the same id and an ISO timestamp', async () => {
      const g = await start();
      const client = await g.connect('u1');
      for (const id of ['p-1', 42, 0, '']) {
        client.send({ type: 'ping', id });
        const pong = await client.next();
        expect(pong).toEqual({ type: 'pong', id, ts: expect.any(String) });
        expect(new Date(String(pong.ts)).toISOString()).toBe(pong.ts);
      }
      client.send({ type: 'ping' });
      expect(await client.next()).toEqual({ type: 'pong', ts: expect.any(String) });
    });

    it.each(['user_message', 'chat_message'])(
      'acks a %s with a run_id and streams the demo run',
      async (type) => {
        const g = await start();
        const client = await g.connect('u1');
        client.send({ type, id: 'm1', data: { text: 'what is 2+2?' } });
        const ack = await client.next();
        expect(ack).toEqual({
          type: 'ack',
          id: 'm1',
          data: { run_id: expect.stringMatching(/^r_/), duplicate: false },
        });
        const runId = ack.data?.run_id;
        const completed = await client.next('agent_completed');
        expect(completed).toMatchObject({ run_id: runId, data: { status: 'succeeded' } });
        const runEvents = client.frames.filter((f) => f.run_id === runId);
        expect(runEvents[0]).toMatchObject({ type: 'agent_started', seq: 1 });
        expect(runEvents.map((e) => e.seq)).toEqual(runEvents.map((_, i) => i + 1));
      },
    );

    it('acks a repeated user_message id with the first run_id and duplicate: true', async () => {
      const g = await start({ demoDelayMs: 5000 });
      const client = await g.connect('u1');
      client.send({ type: 'user_message', id: 'same', data: { text: 'one' } });
      const first = await client.next('ack');
      client.send({ type: 'chat_message', id: 'same', data: { text: 'again' } });
      const second = await client.next('ack');
      expect(second).toEqual({
        type: 'ack',
        id: 'same',
        data: { run_id: first.data?.run_id, duplicate: true },
      });
    });

    it('answers a cancel of an unknown run with NOT_FOUND', async () => {
      const g = await start();
      const client = await g.connect('u1');
      client.send({ type: 'cancel', id: 'c1', data: { run_id: 'r_does_not_exist' } });
      expect(await client.next()).toEqual({
        type: 'error',
        id: 'c1',
        data: { code: ErrorCode.NotFound, message: 'no active run r_does_not_exist for this user' },
      });
      expect(await roundTrip(client, 'after')).toMatchObject({ id: 'after' });
    });

    it("answers NOT_FOUND to a cancel of another user's run, which keeps going until its owner cancels it", async () => {
      const g = await start({ demoDelayMs: 5000 });
      const owner = await g.connect('owner');
      const intruder = await g.connect('intruder');
      owner.send({ type: 'user_message', id: 'm1', data: { text: 'long task' } });
      const runId = (await owner.next('ack')).data?.run_id;
      intruder.send({ type: 'cancel', id: 'x', data: { run_id: runId } });
      expect(await intruder.next()).toEqual({
        type: 'error',
        id: 'x',
        data: { code: ErrorCode.NotFound, message: `no active run ${runId} for this user` },
      });
      expect(owner.frames.some((f) => f.type === 'agent_completed')).toBe(false);
      owner.send({ type: 'cancel', id: 'c', data: { run_id: runId } });
      expect(await owner.next('ack')).toEqual({ type: 'ack', id: 'c', data: { run_id: runId } });
      expect(await owner.next('agent_completed')).toMatchObject({
        run_id: runId,
        data: { status: 'cancelled', error: { code: 'CANCELLED' } },
      });
      expect(intruder.frames.filter((f) => f.run_id === runId)).toEqual([]);
    });
  });

  describe('UNAVAILABLE: engine down', () => {
    it('answers user_message with UNAVAILABLE and POST /v1/publish with 503 when the engine cannot write', async () => {
      const engine = new WriteFailingEngine();
      cleanups.push(() => engine.close());
      const g = await start({}, { engine });
      const client = await g.connect('u1');
      client.send({ type: 'user_message', id: 'm1', data: { text: 'hi' } });
      expect(await client.next()).toEqual({
        type: 'error',
        id: 'm1',
        data: { code: ErrorCode.Unavailable, message: 'engine unavailable; retry later' },
      });
      const res = await fetch(`${g.httpUrl}/v1/publish`, {
        method: 'POST',
        headers: { Authorization: 'Bearer test-api-key-0123456789', 'Content-Type': 'application/json' },
        body: JSON.stringify({ user_id: 'u1', type: 'notification', data: {} }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({
        error: {
          code: ErrorCode.Unavailable,
          message: 'the engine is unavailable; nothing was stored, retry later',
        },
      });
      expect(await roundTrip(client, 'still-open')).toMatchObject({ id: 'still-open' });
    });
  });

  describe('1012: drain', () => {
    it('closes every connection with 1012 on drain', async () => {
      const g = await start();
      const clients = await Promise.all([g.connect('u1'), g.connect('u1'), g.connect('u2')]);
      await g.gateway.drain();
      for (const client of clients) {
        expect(await client.closure()).toEqual({
          code: CloseCode.ServiceRestart,
          reason: CloseReason.Draining,
        });
      }
      expect(g.gateway.state).toBe('closed');
    });
  });
});
