import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BusyPolicy, Engine, UserDisconnect } from '../../packages/server/src/engine/engine.js';
import type { SnapshotLimits } from '../../packages/server/src/engine/run-snapshot.js';
import { AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import { encodeEvent, type NewEvent, type StoredEvent } from '../../packages/server/src/protocol/events.js';

/** What the suite asks of an engine it builds; every engine must honour all three bounds. */
export interface EngineContractConfig {
  readonly historySize: number;
  readonly historyTtlMs: number;
  /** Bytes of wire frames kept per user (`--history-max-bytes`). */
  readonly historyMaxBytes: number;
  /** Run snapshot bounds (docs/protocol.md F); engine defaults where left out. */
  readonly runSnapshots?: Partial<SnapshotLimits>;
}

/** One engine under test. */
export interface EngineFixture {
  readonly engine: Engine;
  /** Extra teardown after `engine.close()` (e.g. deleting Redis keys). */
  readonly cleanup?: () => Promise<void>;
  /**
   * Moves the engine's injected clock forward. Engines whose time is not injectable (Redis keeps its own)
   * leave it out; the suite then waits in real time for ttls it keeps small, polling with vi.waitFor.
   */
  readonly advanceClock?: (ms: number) => void;
}

/** Builds a fresh, isolated engine: its users, keys and slots must not be seen by any other fixture. */
export type MakeEngine = (config: EngineContractConfig) => Promise<EngineFixture> | EngineFixture;

const DEFAULT_CONFIG: EngineContractConfig = {
  historySize: 1000,
  historyTtlMs: 60_000,
  historyMaxBytes: 8 * 1024 * 1024,
};
/** Real-time ttls used where the clock cannot be injected: long enough to observe, short enough to wait. */
const SHORT_TTL_MS = 250;
const WAIT = { timeout: 5_000, interval: 5 } as const;

function event(n: number, extra: Partial<NewEvent> = {}): NewEvent {
  return { type: 'notification', data: { n }, ...extra };
}

/** Subscribes and records everything delivered. */
async function record(engine: Engine, userId: string) {
  const events: StoredEvent[] = [];
  const frames: string[] = [];
  const unsubscribe = await engine.subscribe(userId, (ev, frame) => {
    events.push(ev);
    frames.push(frame);
  });
  return { events, frames, unsubscribe, seqs: () => events.map((e) => e.seq) };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/**
 * The behaviour every Engine implementation must show (src/engine/engine.ts,
 * docs/protocol.md §3, §4, §5, §6). Registers vitest blocks; call it from a test file with a factory for
 * the engine under test.
 */
export function describeEngineContract(name: string, makeEngine: MakeEngine): void {
  describe(`Engine contract: ${name}`, () => {
    const open: EngineFixture[] = [];

    afterEach(async () => {
      for (const fixture of open.splice(0)) {
        await fixture.engine.close();
        await fixture.cleanup?.();
      }
    });

    async function setup(config: Partial<EngineContractConfig> = {}) {
      const fixture = await makeEngine({ ...DEFAULT_CONFIG, ...config });
      open.push(fixture);
      const elapse = (ms: number) => fixture.advanceClock?.(ms);
      return { engine: fixture.engine, elapse };
    }

    describe('#append', () => {
      it('numbers each user’s events 1, 2, 3… independently of other users', async () => {
        const { engine } = await setup();
        const a1 = await engine.append('alice', event(1));
        const b1 = await engine.append('bob', event(2));
        const a2 = await engine.append('alice', event(3));
        const a3 = await engine.append('alice', event(4));
        expect([a1.seq, a2.seq, a3.seq]).toEqual([1, 2, 3]);
        expect(b1.seq).toBe(1);
        expect(new Set([a1.epoch, a2.epoch, a3.epoch]).size).toBe(1);
      });

      it('keeps an event’s trace context: in its frame, its delivery and its history', async () => {
        const { engine } = await setup();
        const sub = await record(engine, 'alice');
        const meta = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
        const stored = await engine.append('alice', { type: 'notification', data: { n: 1 }, meta });
        const [batched] = await engine.appendBatch([
          { userId: 'alice', event: { type: 'notification', run_id: 'r1', data: { n: 2 }, meta } },
        ]);
        expect(stored.meta).toEqual(meta);
        expect(batched?.meta).toEqual(meta);
        await vi.waitFor(
          () => expect(sub.frames).toEqual([encodeEvent(stored), encodeEvent(batched as StoredEvent)]),
          WAIT,
        );
        expect(JSON.parse(sub.frames[0] as string).meta).toEqual(meta);
        expect(sub.events.map((e) => e.meta)).toEqual([meta, meta]);
        const history = await engine.history('alice', { since: 0, limit: 10, epoch: stored.epoch });
        expect(history.kind === 'ok' && history.events.map((e) => e.meta)).toEqual([meta, meta]);
      });

      it('stores type, run_id and data, and sets epoch and an ISO ts', async () => {
        const { engine } = await setup();
        const before = Date.now();
        const sub = await record(engine, 'alice');
        // JSON-hostile text: the frame must still be byte for byte encodeEvent(event).
        const data = { reasoning: 'say "hi" </script> \\ \u2028 é 😀', nested: { a: [1, 2.5, null] } };
        const stored = await engine.append('alice', { type: 'agent_thinking', run_id: 'r_"1"/', data });
        expect(stored).toMatchObject({ type: 'agent_thinking', run_id: 'r_"1"/', data, seq: 1 });
        await vi.waitFor(() => expect(sub.frames).toEqual([encodeEvent(stored)]), WAIT);
        expect(sub.events).toEqual([stored]);
        const history = await engine.history('alice', { since: 0, limit: 1 });
        expect(history.kind === 'ok' && history.events).toEqual([stored]);
        expect(stored.epoch).toMatch(/^e_[A-Za-z0-9_-]{8,}$/);
        expect(stored.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(new Date(stored.ts).toISOString()).toBe(stored.ts);
        const head = await engine.head('alice');
        expect(head).toEqual({ epoch: stored.epoch, seq: 1 });
        // A real or injected clock: both are near now, not at 1970.
        expect(Math.abs(Date.parse(stored.ts) - before)).toBeLessThan(24 * 3600_000);
      });

      it('leaves run_id out when none was given', async () => {
        const { engine } = await setup();
        const stored = await engine.append('alice', event(1));
        expect(stored.run_id).toBeUndefined();
        expect(JSON.parse(encodeEvent(stored))).not.toHaveProperty('run_id');
      });

      it('gives 500 concurrent appends to one user exactly seqs 1..500, delivered in order', async () => {
        const { engine } = await setup();
        const sub = await record(engine, 'alice');
        const stored = await Promise.all(range(1, 500).map((n) => engine.append('alice', event(n))));
        expect(stored.map((e) => e.seq).sort((x, y) => x - y)).toEqual(range(1, 500));
        await vi.waitFor(() => expect(sub.events.length).toBe(500), WAIT);
        expect(sub.seqs()).toEqual(range(1, 500));
        expect((await engine.head('alice')).seq).toBe(500);
      });
    });

    describe('#appendBatch', () => {
      it('returns results in input order, seqs in order per user', async () => {
        const { engine } = await setup();
        await engine.append('bob', event(0));
        const sub = await record(engine, 'alice');
        const results = await engine.appendBatch([
          { userId: 'alice', event: event(1) },
          { userId: 'bob', event: event(2) },
          { userId: 'alice', event: event(3, { run_id: 'r_9' }) },
          { userId: 'carol', event: event(4) },
          { userId: 'alice', event: event(5) },
        ]);
        expect(results.map((r) => [r.seq, r.data.n])).toEqual([
          [1, 1],
          [2, 2],
          [2, 3],
          [1, 4],
          [3, 5],
        ]);
        expect(results[2]?.run_id).toBe('r_9');
        await vi.waitFor(() => expect(sub.events.length).toBe(3), WAIT);
        expect(sub.events.map((e) => e.data.n)).toEqual([1, 3, 5]);
        const history = await engine.history('bob', { since: 0, limit: 10 });
        expect(history.kind === 'ok' && history.events.map((e) => e.data.n)).toEqual([0, 2]);
      });

      it('stores nothing for an empty batch', async () => {
        const { engine } = await setup();
        expect(await engine.appendBatch([])).toEqual([]);
      });
    });

    describe('#appendBatchOnce', () => {
      const once = (key: string, fingerprint = 'f1', ttlMs = 60_000) => ({ key, fingerprint, ttlMs });

      it('stores a keyed batch once; a repeat gets the first seqs and epochs and stores nothing', async () => {
        const { engine } = await setup();
        const sub = await record(engine, 'alice');
        // One user: on a Redis Cluster a keyed batch keeps to one hash slot (docs/protocol.md D).
        await engine.append('alice', event(0));
        const items = [
          { userId: 'alice', event: event(1) },
          { userId: 'alice', event: event(2) },
          { userId: 'alice', event: event(3, { run_id: 'r_1' }) },
        ];
        const first = await engine.appendBatchOnce(items, once('k1'));
        if (first.outcome !== 'stored') throw new Error(`expected stored, got ${first.outcome}`);
        expect(first.events.map((e) => [e.seq, e.data.n, e.run_id])).toEqual([
          [2, 1, undefined],
          [3, 2, undefined],
          [4, 3, 'r_1'],
        ]);
        const repeat = await engine.appendBatchOnce(items, once('k1'));
        expect(repeat).toEqual({
          outcome: 'repeat',
          results: first.events.map(({ seq, epoch }) => ({ seq, epoch })),
        });
        expect((await engine.head('alice')).seq).toBe(4);
        await engine.append('alice', event(4));
        await vi.waitFor(() => expect(sub.events.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4]), WAIT);
      });

      it('answers conflict to the same key with another fingerprint, storing nothing', async () => {
        const { engine } = await setup();
        await engine.appendBatchOnce([{ userId: 'u', event: event(1) }], once('k', 'f1'));
        expect(await engine.appendBatchOnce([{ userId: 'u', event: event(2) }], once('k', 'f2'))).toEqual({
          outcome: 'conflict',
        });
        expect((await engine.head('u')).seq).toBe(1);
      });

      it('keys by the first event’s user: the same key for another user stores', async () => {
        const { engine } = await setup();
        await engine.appendBatchOnce([{ userId: 'u1', event: event(1) }], once('k'));
        const other = await engine.appendBatchOnce([{ userId: 'u2', event: event(1) }], once('k'));
        expect(other.outcome).toBe('stored');
        const again = await engine.appendBatchOnce([{ userId: 'u1', event: event(1) }], once('k2'));
        expect(again.outcome === 'stored' && again.events[0]?.seq).toBe(2);
      });

      it('stores once when the same keyed batch is sent many times at once; every answer names the same seqs', async () => {
        const { engine } = await setup();
        const items = [
          { userId: 'c', event: event(1) },
          { userId: 'c', event: event(2) },
        ];
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => engine.appendBatchOnce(items, once('same'))),
        );
        expect(answers.filter((a) => a.outcome === 'stored')).toHaveLength(1);
        const seqs = answers.map((a) =>
          a.outcome === 'stored'
            ? a.events.map((e) => e.seq)
            : a.outcome === 'repeat'
              ? a.results.map((r) => r.seq)
              : [],
        );
        for (const s of seqs) expect(s).toEqual([1, 2]);
        expect((await engine.head('c')).seq).toBe(2);
      });

      it('forgets the key once its ttl has passed', async () => {
        const { engine, elapse } = await setup();
        await engine.appendBatchOnce([{ userId: 't', event: event(1) }], once('k', 'f', SHORT_TTL_MS));
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => {
          const later = await engine.appendBatchOnce(
            [{ userId: 't', event: event(1) }],
            once('k', 'f', 60_000),
          );
          expect(later.outcome).toBe('stored');
        }, WAIT);
        expect((await engine.head('t')).seq).toBe(2);
      });
    });

    describe('#head', () => {
      it('is seq 0 with an epoch for a user never seen, and that epoch is kept', async () => {
        const { engine } = await setup();
        const head = await engine.head('nobody');
        expect(head.seq).toBe(0);
        expect(head.epoch).toMatch(/^e_/);
        expect(await engine.head('nobody')).toEqual(head);
        const stored = await engine.append('nobody', event(1));
        expect(stored.epoch).toBe(head.epoch);
      });
    });

    describe('#subscribe', () => {
      it('delivers only its user’s events, in seq order, with frame = encodeEvent(event)', async () => {
        const { engine } = await setup();
        const alice = await record(engine, 'alice');
        const bob = await record(engine, 'bob');
        for (let n = 1; n <= 5; n += 1) {
          await engine.append('alice', event(n));
          if (n % 2 === 0) await engine.append('bob', event(100 + n));
        }
        await vi.waitFor(() => expect([alice.events.length, bob.events.length]).toEqual([5, 2]), WAIT);
        expect(alice.seqs()).toEqual([1, 2, 3, 4, 5]);
        expect(alice.events.map((e) => e.data.n)).toEqual([1, 2, 3, 4, 5]);
        expect(bob.events.map((e) => e.data.n)).toEqual([102, 104]);
        for (const [i, ev] of alice.events.entries()) expect(alice.frames[i]).toBe(encodeEvent(ev));
        const history = await engine.history('alice', { since: 0, limit: 10 });
        expect(history.kind === 'ok' && history.events).toEqual(alice.events);
      });

      it('does not deliver events appended before it resolved', async () => {
        const { engine } = await setup();
        await engine.append('alice', event(1));
        const sub = await record(engine, 'alice');
        await engine.append('alice', event(2));
        await vi.waitFor(() => expect(sub.events.length).toBeGreaterThan(0), WAIT);
        expect(sub.seqs()).toEqual([2]);
      });

      it('does not hand a joining subscriber events appended before it subscribed', async () => {
        const { engine } = await setup();
        const first = await record(engine, 'alice');
        await Promise.all(range(1, 20).map((n) => engine.append('alice', event(n))));
        const joining = await record(engine, 'alice');
        await engine.append('alice', event(21));
        await vi.waitFor(() => expect(first.seqs()).toEqual(range(1, 21)), WAIT);
        await vi.waitFor(() => expect(joining.seqs()).toEqual([21]), WAIT);
      });

      it('delivers to every subscriber of the user, each once', async () => {
        const { engine } = await setup();
        const first = await record(engine, 'alice');
        const second = await record(engine, 'alice');
        await engine.append('alice', event(1));
        await engine.append('alice', event(2));
        await vi.waitFor(
          () =>
            expect([first.seqs(), second.seqs()]).toEqual([
              [1, 2],
              [1, 2],
            ]),
          WAIT,
        );
      });

      it('stops delivery on unsubscribe, which is idempotent', async () => {
        const { engine } = await setup();
        const leaving = await record(engine, 'alice');
        const staying = await record(engine, 'alice');
        await engine.append('alice', event(1));
        await vi.waitFor(() => expect(leaving.seqs()).toEqual([1]), WAIT);
        await leaving.unsubscribe();
        await leaving.unsubscribe();
        await engine.append('alice', event(2));
        await engine.append('alice', event(3));
        // `staying` is a barrier: once it has seq 3, anything meant for `leaving` would have arrived too.
        await vi.waitFor(() => expect(staying.seqs()).toEqual([1, 2, 3]), WAIT);
        expect(leaving.seqs()).toEqual([1]);
      });

      it('resumes delivery for a user subscribed again after everyone left', async () => {
        const { engine } = await setup();
        const first = await record(engine, 'alice');
        await first.unsubscribe();
        await engine.append('alice', event(1));
        const second = await record(engine, 'alice');
        await engine.append('alice', event(2));
        await vi.waitFor(() => expect(second.seqs()).toEqual([2]), WAIT);
        expect(first.seqs()).toEqual([]);
      });
    });

    describe('#history', () => {
      async function seeded(count: number, config: Partial<EngineContractConfig> = {}) {
        const ctx = await setup(config);
        for (let n = 1; n <= count; n += 1) await ctx.engine.append('alice', event(n));
        const head = await ctx.engine.head('alice');
        return { ...ctx, head };
      }

      it('returns every event after since, oldest first, complete', async () => {
        const { engine, head } = await seeded(5);
        const result = await engine.history('alice', { since: 2, epoch: head.epoch, limit: 100 });
        expect(result).toMatchObject({ kind: 'ok', head, complete: true });
        expect(result.kind === 'ok' && result.events.map((e) => [e.seq, e.data.n])).toEqual([
          [3, 3],
          [4, 4],
          [5, 5],
        ]);
      });

      it('serves since=0 without an epoch (a client that has seen nothing)', async () => {
        const { engine, head } = await seeded(3);
        const result = await engine.history('alice', { since: 0, limit: 100 });
        expect(result.kind === 'ok' && result.events.map((e) => e.seq)).toEqual([1, 2, 3]);
        expect(result.head).toEqual(head);
      });

      it('stops at limit and says the answer is not complete', async () => {
        const { engine, head } = await seeded(5);
        const result = await engine.history('alice', { since: 1, epoch: head.epoch, limit: 2 });
        expect(result).toMatchObject({ kind: 'ok', complete: false });
        expect(result.kind === 'ok' && result.events.map((e) => e.seq)).toEqual([2, 3]);
        const exact = await engine.history('alice', { since: 1, epoch: head.epoch, limit: 4 });
        expect(exact).toMatchObject({ kind: 'ok', complete: true });
      });

      it('answers ok with no events when since is the head', async () => {
        const { engine, head } = await seeded(4);
        expect(await engine.history('alice', { since: 4, epoch: head.epoch, limit: 10 })).toEqual({
          kind: 'ok',
          head,
          events: [],
          complete: true,
        });
      });

      it('answers ok with no events for a user never seen, since=0', async () => {
        const { engine } = await setup();
        const result = await engine.history('nobody', { since: 0, limit: 10 });
        expect(result).toMatchObject({ kind: 'ok', events: [], complete: true, head: { seq: 0 } });
        expect(result.head.epoch).toBe((await engine.head('nobody')).epoch);
      });

      it('resets with "ahead" when since is beyond the head', async () => {
        const { engine, head } = await seeded(3);
        expect(await engine.history('alice', { since: 4, epoch: head.epoch, limit: 10 })).toEqual({
          kind: 'reset',
          head,
          reason: 'ahead',
        });
      });

      it('resets with "epoch_changed" when the epoch differs, even if since is available', async () => {
        const { engine, head } = await seeded(3);
        expect(await engine.history('alice', { since: 1, epoch: 'e_other', limit: 10 })).toEqual({
          kind: 'reset',
          head,
          reason: 'epoch_changed',
        });
        expect(await engine.history('alice', { since: 0, epoch: 'e_other', limit: 10 })).toMatchObject({
          kind: 'reset',
          reason: 'epoch_changed',
        });
      });

      it('resets with "epoch_changed" when since > 0 comes without an epoch (unknown epoch, §4)', async () => {
        const { engine, head } = await seeded(3);
        expect(await engine.history('alice', { since: 1, limit: 10 })).toEqual({
          kind: 'reset',
          head,
          reason: 'epoch_changed',
        });
        expect(await engine.history('nobody', { since: 5, limit: 10 })).toMatchObject({
          kind: 'reset',
          reason: 'epoch_changed',
          head: { seq: 0 },
        });
      });

      it('resets with "expired" when events after since were evicted by count', async () => {
        const { engine, head } = await seeded(8, { historySize: 5 });
        expect(await engine.history('alice', { since: 2, epoch: head.epoch, limit: 10 })).toEqual({
          kind: 'reset',
          head,
          reason: 'expired',
        });
        const kept = await engine.history('alice', { since: 3, epoch: head.epoch, limit: 10 });
        expect(kept.kind === 'ok' && kept.events.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
        expect(await engine.history('alice', { since: 0, limit: 10 })).toMatchObject({
          kind: 'reset',
          reason: 'expired',
        });
      });

      describe('byte budget (historyMaxBytes: the UTF-8 bytes of the wire frames, per user)', () => {
        // Every frame of these events has the same size for seqs 1..9: one-digit seq, an epoch of fixed
        // length, an ISO ts. The padding is non-ASCII so that bytes, not characters, must be counted.
        const PAD = 'é'.repeat(60) + 'x'.repeat(40);
        const padded = (n: number, repeat = 1) => event(n, { data: { n, pad: PAD.repeat(repeat) } });
        const bytes = (stored: StoredEvent) => Buffer.byteLength(encodeEvent(stored));
        /** The frame size of padded(n) for a one-digit seq, measured on a probe engine. */
        async function frameSize(): Promise<number> {
          const probe = await setup();
          return bytes(await probe.engine.append('probe', padded(1)));
        }

        it('evicts the oldest events first once a user’s frames pass it; a resume past them is reset "expired"', async () => {
          const size = await frameSize();
          const { engine } = await setup({ historyMaxBytes: 3 * size });
          for (let n = 1; n <= 8; n += 1) {
            const stored = await engine.append('alice', padded(n));
            expect(bytes(stored)).toBe(size);
          }
          await engine.append('bob', padded(1));
          await engine.append('bob', padded(2));
          const head = await engine.head('alice');
          expect(head.seq).toBe(8);
          // Exactly three frames fit (a total equal to the budget is kept), and no more.
          const kept = await engine.history('alice', { since: 5, epoch: head.epoch, limit: 10 });
          expect(kept).toMatchObject({ kind: 'ok', complete: true });
          expect(kept.kind === 'ok' && kept.events.map((e) => e.data.n)).toEqual([6, 7, 8]);
          for (const since of [0, 4]) {
            expect(await engine.history('alice', { since, epoch: head.epoch, limit: 10 })).toEqual({
              kind: 'reset',
              head,
              reason: 'expired',
            });
          }
          expect(await engine.history('alice', { since: 8, epoch: head.epoch, limit: 10 })).toMatchObject({
            kind: 'ok',
            events: [],
          });
          // Another user's history is its own.
          const bob = await engine.history('bob', { since: 0, limit: 10 });
          expect(bob.kind === 'ok' && bob.events.map((e) => e.seq)).toEqual([1, 2]);
        });

        it('stores and delivers an event larger than the budget, kept alone until the next one', async () => {
          const size = await frameSize();
          const { engine } = await setup({ historyMaxBytes: 3 * size });
          const sub = await record(engine, 'alice');
          await engine.append('alice', padded(1));
          await engine.append('alice', padded(2));
          const big = await engine.append('alice', padded(3, 10));
          expect(bytes(big)).toBeGreaterThan(3 * size);
          await vi.waitFor(() => expect(sub.frames).toHaveLength(3), WAIT);
          expect(sub.frames[2]).toBe(encodeEvent(big));
          const { epoch } = big;
          const alone = await engine.history('alice', { since: 2, epoch, limit: 10 });
          expect(alone.kind === 'ok' && alone.events).toEqual([big]);
          expect(await engine.history('alice', { since: 1, epoch, limit: 10 })).toMatchObject({
            kind: 'reset',
            reason: 'expired',
          });
          const next = await engine.append('alice', padded(4));
          expect(await engine.history('alice', { since: 2, epoch, limit: 10 })).toMatchObject({
            kind: 'reset',
            reason: 'expired',
          });
          const after = await engine.history('alice', { since: 3, epoch, limit: 10 });
          expect(after.kind === 'ok' && after.events).toEqual([next]);
        });

        it('applies with trimming by count: whichever bound is tighter wins', async () => {
          const size = await frameSize();
          const { engine } = await setup({ historyMaxBytes: 4 * size, historySize: 2 });
          for (let n = 1; n <= 5; n += 1) await engine.append('alice', padded(n));
          const { epoch } = await engine.head('alice');
          const byCount = await engine.history('alice', { since: 3, epoch, limit: 10 });
          expect(byCount.kind === 'ok' && byCount.events.map((e) => e.seq)).toEqual([4, 5]);
          expect(await engine.history('alice', { since: 2, epoch, limit: 10 })).toMatchObject({
            kind: 'reset',
            reason: 'expired',
          });
        });
      });

      it('resets with "expired" once events are older than historyTtlMs, but since=head stays ok', async () => {
        const { engine, head, elapse } = await seeded(2, { historyTtlMs: SHORT_TTL_MS });
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => {
          expect(await engine.history('alice', { since: 1, epoch: head.epoch, limit: 10 })).toEqual({
            kind: 'reset',
            head,
            reason: 'expired',
          });
        }, WAIT);
        expect(await engine.history('alice', { since: 2, epoch: head.epoch, limit: 10 })).toEqual({
          kind: 'ok',
          head,
          events: [],
          complete: true,
        });
        const third = await engine.append('alice', event(3));
        expect(third).toMatchObject({ seq: 3, epoch: head.epoch });
        const after = await engine.history('alice', { since: 2, epoch: head.epoch, limit: 10 });
        expect(after.kind === 'ok' && after.events).toEqual([third]);
      });
    });

    describe('#claimIdempotency', () => {
      it('lets the first claim win and answers later claims with its value', async () => {
        const { engine } = await setup();
        expect(await engine.claimIdempotency('u1:m1', 'r_first', 60_000)).toEqual({ claimed: true });
        expect(await engine.claimIdempotency('u1:m1', 'r_second', 60_000)).toEqual({
          claimed: false,
          value: 'r_first',
        });
        expect(await engine.claimIdempotency('u1:m2', 'r_other', 60_000)).toEqual({ claimed: true });
      });

      it('frees the key once its ttl has passed', async () => {
        const { engine, elapse } = await setup();
        expect(await engine.claimIdempotency('k', 'v1', SHORT_TTL_MS)).toEqual({ claimed: true });
        expect(await engine.claimIdempotency('k', 'v2', SHORT_TTL_MS)).toEqual({
          claimed: false,
          value: 'v1',
        });
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(
          async () => expect(await engine.claimIdempotency('k', 'v3', 60_000)).toEqual({ claimed: true }),
          WAIT,
        );
        expect(await engine.claimIdempotency('k', 'v4', 60_000)).toEqual({ claimed: false, value: 'v3' });
      });
    });

    describe('#putTicket / #takeTicket', () => {
      it('gives a ticket’s value to exactly one of many concurrent takes, then null', async () => {
        const { engine } = await setup();
        await engine.putTicket('t1', '{"user_id":"u1"}', 60_000);
        await engine.putTicket('t2', '{"user_id":"u2"}', 60_000);
        const takes = await Promise.all(Array.from({ length: 20 }, () => engine.takeTicket('t1')));
        expect(takes.filter((v) => v !== null)).toEqual(['{"user_id":"u1"}']);
        expect(await engine.takeTicket('t1')).toBeNull();
        expect(await engine.takeTicket('t2')).toBe('{"user_id":"u2"}');
        expect(await engine.takeTicket('never-stored')).toBeNull();
      });

      it('forgets a ticket once its ttl has passed', async () => {
        const { engine, elapse } = await setup();
        await engine.putTicket('late', 'v', SHORT_TTL_MS);
        await engine.putTicket('kept', 'w', 60_000);
        // A clock probe stored after the ticket with the same ttl: once it is free, the ticket expired.
        expect(await engine.claimIdempotency('probe', 'p', SHORT_TTL_MS)).toEqual({ claimed: true });
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(
          async () => expect(await engine.claimIdempotency('probe', 'p', 60_000)).toEqual({ claimed: true }),
          WAIT,
        );
        expect(await engine.takeTicket('late')).toBeNull();
        expect(await engine.takeTicket('kept')).toBe('w');
      });
    });

    describe('#acquireConnectionSlot / #releaseConnectionSlot', () => {
      it('grants up to limit slots per user and refuses the next', async () => {
        const { engine } = await setup();
        expect(await engine.acquireConnectionSlot('alice', 'c1', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c2', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c3', 2)).toBe(false);
        expect(await engine.acquireConnectionSlot('bob', 'c4', 2)).toBe(true);
      });

      it('counts a connection once, however often it acquires', async () => {
        const { engine } = await setup();
        expect(await engine.acquireConnectionSlot('alice', 'c1', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c1', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c2', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c3', 2)).toBe(false);
      });

      it('gives a slot back exactly once per release, idempotently', async () => {
        const { engine } = await setup();
        await engine.acquireConnectionSlot('alice', 'c1', 2);
        await engine.acquireConnectionSlot('alice', 'c2', 2);
        await engine.releaseConnectionSlot('alice', 'c1');
        await engine.releaseConnectionSlot('alice', 'c1');
        await engine.releaseConnectionSlot('alice', 'never-held');
        await engine.releaseConnectionSlot('nobody', 'c1');
        expect(await engine.acquireConnectionSlot('alice', 'c3', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c4', 2)).toBe(false);
        await engine.releaseConnectionSlot('alice', 'c2');
        await engine.releaseConnectionSlot('alice', 'c3');
        expect(await engine.acquireConnectionSlot('alice', 'c5', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c6', 2)).toBe(true);
        expect(await engine.acquireConnectionSlot('alice', 'c7', 2)).toBe(false);
      });

      it('never grants more than limit to concurrent acquires', async () => {
        const { engine } = await setup();
        const granted = await Promise.all(
          range(1, 25).map((i) => engine.acquireConnectionSlot('alice', `c${i}`, 10)),
        );
        expect(granted.filter(Boolean).length).toBe(10);
      });
    });

    describe('run registry (#startRun / #renewRuns / #endRun / #activeRuns)', () => {
      const LEASE_MS = 60_000;
      const start = (runId: string, node = 'node-a', limit = 2, leaseMs = LEASE_MS) => ({
        runId,
        agent: 'demo',
        node,
        limit,
        leaseMs,
      });
      const ids = (runs: readonly { readonly runId: string }[]) => runs.map((r) => r.runId);

      it('reserves up to limit runs per user, across nodes, and refuses the next with "limit"', async () => {
        const { engine } = await setup();
        expect(await engine.startRun('alice', start('r1', 'node-a'))).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r2', 'node-b'))).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r3', 'node-a'))).toEqual({ ok: false, reason: 'limit' });
        expect(await engine.startRun('alice', start('r3', 'node-c'))).toEqual({ ok: false, reason: 'limit' });
        expect(await engine.startRun('bob', start('r4', 'node-a'))).toEqual({ ok: true });
        // Registering an active run again renews it: it does not take a second place.
        expect(await engine.startRun('alice', start('r1', 'node-a'))).toEqual({ ok: true });
        expect(ids(await engine.activeRuns('alice')).sort()).toEqual(['r1', 'r2']);
      });

      it('answers a start at the limit with the active run of the same key, as a duplicate', async () => {
        const { engine } = await setup();
        expect(await engine.startRun('alice', { ...start('r1', 'node-a'), key: 'k1' })).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r2', 'node-a'))).toEqual({ ok: true });
        expect(await engine.startRun('alice', { ...start('r3', 'node-b'), key: 'k1' })).toEqual({
          ok: false,
          reason: 'duplicate',
          runId: 'r1',
        });
        expect(await engine.startRun('alice', { ...start('r3', 'node-b'), key: 'k2' })).toEqual({
          ok: false,
          reason: 'limit',
        });
        expect(await engine.startRun('bob', { ...start('r4', 'node-b'), key: 'k1' })).toEqual({ ok: true });
        // Once that run ended, the key names no active run: at the limit it is refused like any other.
        await engine.endRun('alice', 'r1', 'node-a');
        await engine.startRun('alice', start('r5', 'node-a'));
        expect(await engine.startRun('alice', { ...start('r6', 'node-b'), key: 'k1' })).toEqual({
          ok: false,
          reason: 'limit',
        });
      });

      it('lists active runs with agent, owner node and start time, oldest first, per user', async () => {
        const { engine } = await setup();
        const before = Date.now();
        await engine.startRun('alice', { ...start('r1', 'node-a'), agent: 'webhook' });
        await engine.startRun('alice', start('r2', 'node-b'));
        await engine.startRun('bob', start('r3', 'node-a'));
        const runs = await engine.activeRuns('alice');
        expect(runs.map(({ runId, agent, node }) => ({ runId, agent, node }))).toEqual([
          { runId: 'r1', agent: 'webhook', node: 'node-a' },
          { runId: 'r2', agent: 'demo', node: 'node-b' },
        ]);
        for (const run of runs) {
          expect(Number.isSafeInteger(run.startedAt)).toBe(true);
          // Engines with an injected clock start from about now as well (the fixtures seed it so).
          expect(Math.abs(run.startedAt - before)).toBeLessThan(60_000);
        }
        expect(await engine.activeRuns('nobody')).toEqual([]);
      });

      it('never reserves more than limit for concurrent starts', async () => {
        const { engine } = await setup();
        const answers = await Promise.all(
          range(1, 25).map((i) => engine.startRun('alice', start(`r${i}`, `node-${i % 3}`, 4))),
        );
        expect(answers.filter((a) => a.ok).length).toBe(4);
        expect(answers.filter((a) => !a.ok).every((a) => !a.ok && a.reason === 'limit')).toBe(true);
        expect((await engine.activeRuns('alice')).length).toBe(4);
      });

      it('ends a run once: it frees its place and leaves the list; ending again is a no-op', async () => {
        const { engine } = await setup();
        await engine.startRun('alice', start('r1'));
        await engine.startRun('alice', start('r2'));
        expect(await engine.endRun('alice', 'r1', 'node-a')).toBe(true);
        expect(await engine.endRun('alice', 'r1', 'node-a')).toBe(false);
        expect(await engine.endRun('alice', 'never', 'node-a')).toBe(false);
        expect(await engine.endRun('nobody', 'r1', 'node-a')).toBe(false);
        expect(ids(await engine.activeRuns('alice'))).toEqual(['r2']);
        expect(await engine.startRun('alice', start('r3'))).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r4'))).toEqual({ ok: false, reason: 'limit' });
      });

      it('lets only the owner node end or renew a run', async () => {
        const { engine } = await setup();
        await engine.startRun('alice', start('r1', 'node-a'));
        expect(await engine.endRun('alice', 'r1', 'node-b')).toBe(false);
        expect(ids(await engine.activeRuns('alice'))).toEqual(['r1']);
        expect(
          await engine.renewRuns(
            'node-b',
            [
              { userId: 'alice', runId: 'r1' },
              { userId: 'alice', runId: 'unknown' },
            ],
            LEASE_MS,
          ),
        ).toEqual(['r1', 'unknown']);
        expect(await engine.renewRuns('node-a', [{ userId: 'alice', runId: 'r1' }], LEASE_MS)).toEqual([]);
        expect(await engine.renewRuns('node-a', [], LEASE_MS)).toEqual([]);
        await engine.endRun('alice', 'r1', 'node-a');
        expect(await engine.renewRuns('node-a', [{ userId: 'alice', runId: 'r1' }], LEASE_MS)).toEqual([
          'r1',
        ]);
      });

      it('stops counting and listing a run whose lease lapsed unrenewed; a renewed one stays', async () => {
        const { engine, elapse } = await setup();
        await engine.startRun('alice', start('silent', 'node-a', 2, SHORT_TTL_MS));
        await engine.startRun('alice', start('renewed', 'node-b', 2, SHORT_TTL_MS));
        expect(await engine.startRun('alice', start('r3'))).toEqual({ ok: false, reason: 'limit' });
        // node-b renews its run for long; node-a's lease runs out.
        expect(await engine.renewRuns('node-b', [{ userId: 'alice', runId: 'renewed' }], LEASE_MS)).toEqual(
          [],
        );
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(
          async () => expect(ids(await engine.activeRuns('alice'))).toEqual(['renewed']),
          WAIT,
        );
        expect(await engine.startRun('alice', start('r3'))).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r4'))).toEqual({ ok: false, reason: 'limit' });
      });

      it('does not bring back a lapsed lease: a late renewal reports the run lost, so the limit holds', async () => {
        const { engine, elapse } = await setup();
        await engine.startRun('alice', start('r1', 'node-a', 2, SHORT_TTL_MS));
        await engine.startRun('alice', start('r2', 'node-a', 2, SHORT_TTL_MS));
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => expect(await engine.activeRuns('alice')).toEqual([]), WAIT);
        // Other nodes take the places the lapsed runs left.
        expect(await engine.startRun('alice', start('r3', 'node-b', 2))).toEqual({ ok: true });
        expect(await engine.startRun('alice', start('r4', 'node-b', 2))).toEqual({ ok: true });
        // node-a was only frozen: its renewal arrives late and must not revive r1 and r2.
        const late = await engine.renewRuns(
          'node-a',
          [
            { userId: 'alice', runId: 'r1' },
            { userId: 'alice', runId: 'r2' },
          ],
          LEASE_MS,
        );
        expect([...late].sort()).toEqual(['r1', 'r2']);
        expect(ids(await engine.activeRuns('alice')).sort()).toEqual(['r3', 'r4']);
      });

      describe('reaping lapsed runs and fencing (#reapLapsedRuns, #append with a run fence)', () => {
        const nodeLost = (runId: string): NewEvent => ({
          type: 'agent_completed',
          run_id: runId,
          data: { status: 'failed', final_response: null, error: { code: 'NODE_LOST', message: 'lost' } },
        });
        const everything = async (engine: Engine, userId: string) => {
          const answer = await engine.history(userId, { since: 0, limit: 100 });
          return answer.kind === 'ok' ? answer.events : [];
        };
        const terminals = async (engine: Engine, userId: string) =>
          (await everything(engine, userId)).filter((e) => e.type === 'agent_completed');
        const fenced = { code: AgentcastErrorCode.RunFenced };

        async function reapUntilSome(engine: Engine, rounds = 2) {
          const reaped: Awaited<ReturnType<Engine['reapLapsedRuns']>> = [];
          await vi.waitFor(async () => {
            // Two reapers at once, as two nodes whose timers fire together.
            const answers = await Promise.all(
              range(1, rounds).map(() => engine.reapLapsedRuns(10, nodeLost)),
            );
            reaped.push(...answers.flat());
            expect(reaped.length).toBeGreaterThan(0);
          }, WAIT);
          return reaped;
        }

        async function lapsed(engine: Engine, userId: string, runId: string, elapse: (ms: number) => void) {
          elapse(SHORT_TTL_MS + 1);
          await vi.waitFor(
            async () => expect(ids(await engine.activeRuns(userId))).not.toContain(runId),
            WAIT,
          );
        }

        it('ends a run whose lease lapsed with exactly one terminal, however many reap at once; a renewed run is left alone', async () => {
          const { engine, elapse } = await setup();
          await engine.append('alice', event(1));
          await engine.startRun('alice', start('dead', 'node-a', 3, SHORT_TTL_MS));
          await engine.append(
            'alice',
            { type: 'agent_started', run_id: 'dead', data: {} },
            { node: 'node-a' },
          );
          await engine.startRun('alice', start('renewed', 'node-b', 3, SHORT_TTL_MS));
          await engine.renewRuns('node-b', [{ userId: 'alice', runId: 'renewed' }], LEASE_MS);
          await engine.startRun('bob', start('bobs', 'node-b', 3, LEASE_MS));
          await lapsed(engine, 'alice', 'dead', elapse);
          const reaped = await reapUntilSome(engine, 3);
          expect(reaped.map(({ userId, runId, agent, node }) => ({ userId, runId, agent, node }))).toEqual([
            { userId: 'alice', runId: 'dead', agent: 'demo', node: 'node-a' },
          ]);
          expect(reaped[0]?.event).toMatchObject({ type: 'agent_completed', run_id: 'dead', seq: 3 });
          // Later rounds find nothing more to reap.
          expect(await engine.reapLapsedRuns(10, nodeLost)).toEqual([]);
          const events = await everything(engine, 'alice');
          expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
          expect(await terminals(engine, 'alice')).toEqual([reaped[0]?.event]);
          expect(ids(await engine.activeRuns('alice'))).toEqual(['renewed']);
          expect(ids(await engine.activeRuns('bob'))).toEqual(['bobs']);
          // The owner comes back: it may store nothing more of the run, nor end or renew it.
          await expect(
            engine.append('alice', { type: 'agent_thinking', run_id: 'dead', data: {} }, { node: 'node-a' }),
          ).rejects.toMatchObject(fenced);
          await expect(
            engine.append('alice', nodeLost('dead'), { node: 'node-a', ends: true }),
          ).rejects.toMatchObject(fenced);
          expect(await engine.endRun('alice', 'dead', 'node-a')).toBe(false);
          expect(await engine.renewRuns('node-a', [{ userId: 'alice', runId: 'dead' }], LEASE_MS)).toEqual([
            'dead',
          ]);
          expect((await everything(engine, 'alice')).map((e) => e.seq)).toEqual([1, 2, 3]);
        });

        it('resolves a reaped run’s pending approval cancelled, once, just before its one terminal', async () => {
          const { engine, elapse } = await setup();
          await engine.startRun('alice', start('dead', 'node-a', 3, SHORT_TTL_MS));
          const fence = { node: 'node-a' };
          await engine.append('alice', { type: 'agent_started', run_id: 'dead', data: {} }, fence);
          const question = {
            approval_id: 'a_dead',
            tool_name: 'send_email',
            tool_args: {},
            message: 'Send it?',
            expires_at: new Date(Date.now() + 60_000).toISOString(),
          };
          await engine.append('alice', { type: 'approval_requested', run_id: 'dead', data: question }, fence);
          // Another run's question, whose node lives, stays pending.
          await engine.startRun('alice', start('alive', 'node-b', 3, LEASE_MS));
          const other = { ...question, approval_id: 'a_alive' };
          await engine.append(
            'alice',
            { type: 'approval_requested', run_id: 'alive', data: other },
            { node: 'node-b' },
          );
          await lapsed(engine, 'alice', 'dead', elapse);
          await reapUntilSome(engine, 3);
          const types = (await everything(engine, 'alice'))
            .filter((e) => e.run_id === 'dead')
            .map((e) => [e.type, e.data.decision ?? null]);
          expect(types).toEqual([
            ['agent_started', null],
            ['approval_requested', null],
            ['approval_resolved', 'cancelled'],
            ['agent_completed', null],
          ]);
          expect(await engine.pendingApprovals('alice')).toEqual([{ runId: 'alive', request: other }]);
          expect(
            await engine.resolveApproval('alice', 'a_dead', { decision: 'approved', by: 'user' }),
          ).toEqual({
            kind: 'conflict',
            decision: 'cancelled',
          });
        });

        it('stores one terminal when the owner ends its lapsed run while reapers reap it', async () => {
          const { engine, elapse } = await setup();
          for (const n of range(1, 5)) await engine.startRun(`u${n}`, start('r', 'node-a', 3, SHORT_TTL_MS));
          await lapsed(engine, 'u5', 'r', elapse);
          const own: NewEvent = {
            type: 'agent_completed',
            run_id: 'r',
            data: { status: 'succeeded', final_response: 'done' },
          };
          const outcomes = await Promise.all(
            range(1, 5).map(async (n) => {
              const [mine, ...reaps] = await Promise.all([
                engine.append(`u${n}`, own, { node: 'node-a', ends: true }).then(
                  () => 'stored',
                  (error: unknown) => (error as { code?: string }).code,
                ),
                engine.reapLapsedRuns(10, nodeLost),
                engine.reapLapsedRuns(10, nodeLost),
              ]);
              return { mine, reaped: reaps.flat().filter((r) => r.userId === `u${n}`).length };
            }),
          );
          // Reapers of one user's round may have reaped another user's run: count by what is stored.
          await vi.waitFor(async () => {
            await engine.reapLapsedRuns(10, nodeLost);
            for (const n of range(1, 5)) expect((await terminals(engine, `u${n}`)).length).toBe(1);
          }, WAIT);
          for (const [i, outcome] of outcomes.entries()) {
            const [terminal] = await terminals(engine, `u${i + 1}`);
            if (outcome.mine === 'stored') expect(terminal?.data).toEqual(own.data);
            else {
              expect(outcome.mine).toBe(AgentcastErrorCode.RunFenced);
              expect(terminal?.data).toEqual(nodeLost('r').data);
            }
            expect(await engine.activeRuns(`u${i + 1}`)).toEqual([]);
          }
          expect(await engine.reapLapsedRuns(10, nodeLost)).toEqual([]);
        });

        it('stores a run’s fenced events only while the run is registered to that node; its terminal ends it', async () => {
          const { engine } = await setup();
          await engine.startRun('alice', start('r1', 'node-a'));
          const started = await engine.append(
            'alice',
            { type: 'agent_started', run_id: 'r1', data: {} },
            { node: 'node-a' },
          );
          expect(started).toMatchObject({ seq: 1, run_id: 'r1' });
          await expect(
            engine.append('alice', { type: 'agent_thinking', run_id: 'r1', data: {} }, { node: 'node-b' }),
          ).rejects.toMatchObject(fenced);
          await expect(
            engine.append('alice', { type: 'agent_thinking', run_id: 'nope', data: {} }, { node: 'node-a' }),
          ).rejects.toMatchObject(fenced);
          await expect(
            engine.append('bob', { type: 'agent_thinking', run_id: 'r1', data: {} }, { node: 'node-a' }),
          ).rejects.toMatchObject(fenced);
          const end: NewEvent = { type: 'agent_completed', run_id: 'r1', data: { status: 'succeeded' } };
          expect(await engine.append('alice', end, { node: 'node-a', ends: true })).toMatchObject({ seq: 2 });
          // The terminal ended the registration in the same step: nothing more, and nothing to end.
          expect(await engine.activeRuns('alice')).toEqual([]);
          await expect(engine.append('alice', end, { node: 'node-a', ends: true })).rejects.toMatchObject(
            fenced,
          );
          expect(await engine.endRun('alice', 'r1', 'node-a')).toBe(false);
          // An unfenced append of the same run id (a backend publishing over HTTP) is not fenced.
          expect(
            await engine.append('alice', { type: 'notification', run_id: 'r1', data: {} }),
          ).toMatchObject({
            seq: 3,
          });
          expect((await everything(engine, 'alice')).map((e) => e.seq)).toEqual([1, 2, 3]);
          expect((await everything(engine, 'bob')).length).toBe(0);
        });
        it('lets an unregistered run end only when the user’s log is no longer of the run’s epoch (the store lost both)', async () => {
          const { engine } = await setup();
          await engine.startRun('alice', start('r1', 'node-a'));
          const first = await engine.append(
            'alice',
            { type: 'agent_started', run_id: 'r1', data: {} },
            { node: 'node-a' },
          );
          const end: NewEvent = { type: 'agent_completed', run_id: 'r1', data: { status: 'failed' } };
          await engine.append('alice', end, { node: 'node-a', ends: true, epoch: first.epoch });
          // Ended in the same epoch: fenced, whatever the fence says of its epoch.
          await expect(
            engine.append('alice', end, { node: 'node-a', ends: true, epoch: first.epoch }),
          ).rejects.toMatchObject(fenced);
          // A run of an epoch the log no longer has (data lost, registry with it) may still end.
          const other = await engine.append(
            'alice',
            { ...end, run_id: 'r0' },
            {
              node: 'node-a',
              ends: true,
              epoch: 'e_lost-with-the-data',
            },
          );
          expect(other).toMatchObject({ run_id: 'r0', seq: 3, epoch: first.epoch });
          // Never for a reaper: it reaps only registered runs.
          expect(await engine.reapLapsedRuns(10, nodeLost)).toEqual([]);
        });
      });

      it('rejects registering and listing after close; ending after close is a no-op', async () => {
        const { engine } = await setup();
        await engine.close();
        const closed = { code: AgentcastErrorCode.EngineClosed };
        await expect(engine.startRun('alice', start('r1'))).rejects.toMatchObject(closed);
        await expect(engine.renewRuns('node-a', [], LEASE_MS)).rejects.toMatchObject(closed);
        await expect(engine.activeRuns('alice')).rejects.toMatchObject(closed);
        await expect(engine.endRun('alice', 'r1', 'node-a')).resolves.toBe(false);
      });
    });

    describe('cancel requests (#requestCancel / #onCancelRequest)', () => {
      const start = (runId: string, node: string, leaseMs = 60_000) => ({
        runId,
        agent: 'demo',
        node,
        limit: 5,
        leaseMs,
      });

      /** Listens as `node` and records every request it gets. */
      async function listen(engine: Engine, node: string) {
        const got: string[] = [];
        const stop = await engine.onCancelRequest(node, (userId, runId) => got.push(`${userId}/${runId}`));
        return { got, stop };
      }

      it('sends a cancel of an active run to its owner node only, and names that node', async () => {
        const { engine } = await setup();
        const a = await listen(engine, 'node-a');
        const b = await listen(engine, 'node-b');
        await engine.startRun('alice', start('r1', 'node-a'));
        await engine.startRun('alice', start('r2', 'node-b'));
        expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'active', node: 'node-a' });
        await vi.waitFor(() => expect(a.got).toEqual(['alice/r1']), WAIT);
        expect(await engine.requestCancel('alice', 'r2')).toEqual({ state: 'active', node: 'node-b' });
        await vi.waitFor(() => expect(b.got).toEqual(['alice/r2']), WAIT);
        expect(a.got).toEqual(['alice/r1']);
      });

      it('answers unknown for another user’s run and an unknown run, and sends nothing', async () => {
        const { engine } = await setup();
        const a = await listen(engine, 'node-a');
        await engine.startRun('alice', start('r1', 'node-a'));
        expect(await engine.requestCancel('bob', 'r1')).toEqual({ state: 'unknown' });
        expect(await engine.requestCancel('alice', 'nope')).toEqual({ state: 'unknown' });
        // A request sent after them arrives alone: they sent nothing.
        await engine.startRun('carol', start('r9', 'node-a'));
        await engine.requestCancel('carol', 'r9');
        await vi.waitFor(() => expect(a.got).toEqual(['carol/r9']), WAIT);
      });

      it('answers ended for a run of the user that ended, and sends nothing', async () => {
        const { engine } = await setup();
        const a = await listen(engine, 'node-a');
        await engine.startRun('alice', start('r1', 'node-a'));
        await engine.endRun('alice', 'r1', 'node-a');
        expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'ended' });
        expect(await engine.requestCancel('bob', 'r1')).toEqual({ state: 'unknown' });
        await engine.startRun('alice', start('r2', 'node-a'));
        await engine.requestCancel('alice', 'r2');
        await vi.waitFor(() => expect(a.got).toEqual(['alice/r2']), WAIT);
      });

      it('answers lapsed for a run whose owner stopped renewing, and still sends it to that owner', async () => {
        const { engine, elapse } = await setup();
        const a = await listen(engine, 'node-a');
        await engine.startRun('alice', start('r1', 'node-a', SHORT_TTL_MS));
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => expect(await engine.activeRuns('alice')).toEqual([]), WAIT);
        expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'lapsed', node: 'node-a' });
        await vi.waitFor(() => expect(a.got).toEqual(['alice/r1']), WAIT);
      });

      it('delivers to every listener of the node until each stops; stopping is idempotent', async () => {
        const { engine } = await setup();
        const first = await listen(engine, 'node-a');
        const second = await listen(engine, 'node-a');
        await engine.startRun('alice', start('r1', 'node-a'));
        await engine.startRun('alice', start('r2', 'node-a'));
        await engine.requestCancel('alice', 'r1');
        await vi.waitFor(() => expect([first.got, second.got]).toEqual([['alice/r1'], ['alice/r1']]), WAIT);
        await first.stop();
        await first.stop();
        await engine.requestCancel('alice', 'r2');
        await vi.waitFor(() => expect(second.got).toEqual(['alice/r1', 'alice/r2']), WAIT);
        expect(first.got).toEqual(['alice/r1']);
        // The last listener gone, a new one of the node still gets requests.
        await second.stop();
        const third = await listen(engine, 'node-a');
        await engine.requestCancel('alice', 'r1');
        await vi.waitFor(() => expect(third.got).toEqual(['alice/r1']), WAIT);
        expect(second.got).toEqual(['alice/r1', 'alice/r2']);
      });

      it('rejects requests and new listeners after close', async () => {
        const { engine } = await setup();
        await engine.close();
        const closed = { code: AgentcastErrorCode.EngineClosed };
        await expect(engine.requestCancel('alice', 'r1')).rejects.toMatchObject(closed);
        await expect(engine.onCancelRequest('node-a', () => undefined)).rejects.toMatchObject(closed);
      });
    });

    describe('thread turns (#startRun with a thread / #promoteRun, docs/protocol.md E)', () => {
      const LEASE_MS = 60_000;
      const turn = (
        runId: string,
        node: string,
        policy: BusyPolicy,
        extra: { key?: string; leaseMs?: number; threadId?: string } = {},
      ) => ({
        runId,
        agent: 'demo',
        node,
        limit: 10,
        leaseMs: extra.leaseMs ?? LEASE_MS,
        key: extra.key,
        thread: { threadId: extra.threadId ?? 't1', policy, maxQueued: 2 },
      });
      const ended = (runId: string): NewEvent => ({
        type: 'agent_completed',
        run_id: runId,
        data: { status: 'succeeded', final_response: null },
      });

      it('reject: a thread holds one run; its next message is refused busy naming it, others start, a retry is a duplicate', async () => {
        const { engine } = await setup();
        expect(await engine.startRun('alice', turn('r1', 'node-a', 'reject', { key: 'k1' }))).toEqual({
          ok: true,
        });
        expect(await engine.startRun('alice', turn('r2', 'node-b', 'reject'))).toEqual({
          ok: false,
          reason: 'busy',
          runId: 'r1',
        });
        expect(await engine.startRun('alice', turn('r3', 'node-b', 'reject', { key: 'k1' }))).toEqual({
          ok: false,
          reason: 'duplicate',
          runId: 'r1',
        });
        expect(await engine.startRun('alice', turn('r4', 'node-b', 'reject', { threadId: 't2' }))).toEqual({
          ok: true,
        });
        const { thread: _thread, ...free } = turn('r5', 'node-a', 'reject');
        expect(await engine.startRun('alice', free)).toEqual({ ok: true });
        expect(await engine.startRun('bob', turn('r6', 'node-a', 'reject'))).toEqual({ ok: true });
        expect(await engine.endRun('alice', 'r1', 'node-a')).toBe(true);
        expect(await engine.startRun('alice', turn('r7', 'node-b', 'reject'))).toEqual({ ok: true });
      });

      it('enqueue: queued runs wait first in, first out, bounded, and each takes its turn once the runs ahead ended', async () => {
        const { engine } = await setup();
        await engine.startRun('alice', turn('r1', 'node-a', 'enqueue'));
        const queued = (behind: string) => ({ ok: true, queued: true, behind });
        expect(await engine.startRun('alice', turn('r2', 'node-b', 'enqueue', { key: 'k2' }))).toEqual(
          queued('r1'),
        );
        expect(await engine.startRun('alice', turn('r3', 'node-a', 'enqueue'))).toEqual(queued('r1'));
        expect(await engine.startRun('alice', turn('r4', 'node-a', 'enqueue'))).toEqual({
          ok: false,
          reason: 'queue_full',
        });
        // A retry of a queued run's message is a duplicate, even with the queue full.
        expect(await engine.startRun('alice', turn('r5', 'node-a', 'enqueue', { key: 'k2' }))).toEqual({
          ok: false,
          reason: 'duplicate',
          runId: 'r2',
        });
        // Queued runs are listed with their thread, and say they wait.
        const listed = (await engine.activeRuns('alice')).sort((x, y) => x.runId.localeCompare(y.runId));
        expect(listed.map(({ runId, threadId, queued }) => ({ runId, threadId, queued }))).toEqual([
          { runId: 'r1', threadId: 't1', queued: undefined },
          { runId: 'r2', threadId: 't1', queued: true },
          { runId: 'r3', threadId: 't1', queued: true },
        ]);
        expect(await engine.promoteRun('alice', 'r2', 'node-b')).toBe('waiting');
        expect(await engine.promoteRun('alice', 'r2', 'node-a')).toBe('gone');
        expect(await engine.promoteRun('alice', 'r1', 'node-a')).toBe('started');
        await engine.append('alice', ended('r1'), { node: 'node-a', ends: true });
        expect(await engine.promoteRun('alice', 'r3', 'node-a')).toBe('waiting');
        expect(await engine.promoteRun('alice', 'r2', 'node-b')).toBe('started');
        expect(await engine.promoteRun('alice', 'r2', 'node-b')).toBe('started');
        expect(await engine.promoteRun('alice', 'r3', 'node-a')).toBe('waiting');
        expect(await engine.startRun('alice', turn('r6', 'node-a', 'reject'))).toMatchObject({ runId: 'r2' });
        expect(await engine.endRun('alice', 'r2', 'node-b')).toBe(true);
        expect(await engine.promoteRun('alice', 'r3', 'node-a')).toBe('started');
        expect(await engine.promoteRun('alice', 'gone', 'node-a')).toBe('gone');
        // Queued runs are the user's runs: listed, and counted against the limit.
        expect((await engine.activeRuns('alice')).map((r) => r.runId)).toEqual(['r3']);
      });

      it('interrupt: asks the active run’s node to cancel it as interrupted, and goes ahead of the queue', async () => {
        const { engine } = await setup();
        const got: string[] = [];
        const stop = await engine.onCancelRequest('node-a', (userId, runId, reason) =>
          got.push(`${userId}/${runId}/${reason}`),
        );
        await engine.startRun('alice', turn('r1', 'node-a', 'interrupt'));
        expect(await engine.startRun('alice', turn('r2', 'node-b', 'enqueue'))).toMatchObject({
          behind: 'r1',
        });
        expect(await engine.startRun('alice', turn('r3', 'node-b', 'interrupt'))).toEqual({
          ok: true,
          queued: true,
          behind: 'r1',
        });
        await vi.waitFor(() => expect(got).toEqual(['alice/r1/interrupted']), WAIT);
        await engine.requestCancel('alice', 'r1');
        await vi.waitFor(() => expect(got).toEqual(['alice/r1/interrupted', 'alice/r1/cancel']), WAIT);
        await engine.append('alice', ended('r1'), { node: 'node-a', ends: true });
        expect(await engine.promoteRun('alice', 'r2', 'node-b')).toBe('waiting');
        expect(await engine.promoteRun('alice', 'r3', 'node-b')).toBe('started');
        await stop();
      });

      it('skips a queued run whose lease lapsed (it is gone); a dead node’s active run holds the thread until reaped', async () => {
        const { engine, elapse } = await setup();
        await engine.startRun('alice', turn('r1', 'node-a', 'enqueue', { leaseMs: SHORT_TTL_MS }));
        await engine.startRun('alice', turn('r2', 'node-b', 'enqueue', { leaseMs: SHORT_TTL_MS }));
        await engine.startRun('alice', turn('r3', 'node-c', 'enqueue'));
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(
          async () => expect((await engine.activeRuns('alice')).map((r) => r.runId)).toEqual(['r3']),
          WAIT,
        );
        expect(await engine.promoteRun('alice', 'r2', 'node-b')).toBe('gone');
        expect(await engine.promoteRun('alice', 'r3', 'node-c')).toBe('waiting');
        // r1 (active, its node dead) still holds the thread: a rejecting message is told about it.
        expect(await engine.startRun('alice', turn('r4', 'node-c', 'reject'))).toMatchObject({ runId: 'r1' });
        await vi.waitFor(async () => {
          await engine.reapLapsedRuns(10, ended);
          expect(await engine.promoteRun('alice', 'r3', 'node-c')).toBe('started');
        }, WAIT);
      });
    });

    describe('run snapshots (#runSnapshot / #runSnapshots / #catchUp, docs/protocol.md F)', () => {
      const ev = (runId: string, type: string, data: Record<string, unknown>): NewEvent => ({
        type,
        run_id: runId,
        data,
      });
      const started = (runId: string, thread?: string) =>
        ev(runId, 'agent_started', {
          agent_name: 'demo',
          task_description: 'add numbers',
          ...(thread === undefined ? {} : { thread_id: thread }),
        });
      const chunk = (runId: string, text: string) => ev(runId, 'stream_chunk', { text });
      const completed = (runId: string, status = 'succeeded') =>
        ev(runId, 'agent_completed', {
          status,
          final_response: status === 'succeeded' ? 'done' : null,
          ...(status === 'succeeded' ? {} : { error: { code: 'CANCELLED', message: 'stopped' } }),
        });

      it('folds every golden-path event of a run into one snapshot, exact up to its last event', async () => {
        const { engine } = await setup();
        const first = await engine.append('alice', started('r1', 't1'));
        await engine.append('alice', ev('r1', 'agent_thinking', { reasoning: 'Plan: ' }));
        await engine.append('alice', ev('r1', 'agent_thinking', { reasoning: 'add.' }));
        await engine.append('alice', event(1)); // not of the run
        await engine.append('alice', {
          type: 'tool_executing',
          run_id: 'r1',
          data: { tool_name: 'calc', tool_args: { a: 1, b: [2] }, execution_id: 'x1' },
        });
        await engine.append('alice', {
          type: 'tool_completed',
          run_id: 'r1',
          data: { tool_name: 'calc', execution_id: 'x1', success: true, results: { sum: 3 }, duration_ms: 4 },
        });
        await engine.append(
          'alice',
          ev('r1', 'tool_executing', { tool_name: 'web', tool_args: {}, execution_id: 'x2' }),
        );
        await engine.append('alice', chunk('r1', 'The sum '));
        await engine.append('alice', ev('r1', 'app.custom', { any: 1 }));
        await engine.append('alice', chunk('r1', 'is 3 ✓'));
        const last = await engine.append('alice', completed('r1'));
        expect(await engine.runSnapshot('alice', 'r1')).toEqual({
          run_id: 'r1',
          thread_id: 't1',
          agent: 'demo',
          task: 'add numbers',
          status: 'succeeded',
          started_at: first.ts,
          ended_at: last.ts,
          text: 'The sum is 3 ✓',
          reasoning: 'Plan: add.',
          tools: [
            {
              execution_id: 'x1',
              tool_name: 'calc',
              tool_args: { a: 1, b: [2] },
              success: true,
              results: { sum: 3 },
              duration_ms: 4,
            },
            { execution_id: 'x2', tool_name: 'web', tool_args: {} },
          ],
          approvals: [],
          final_response: 'done',
          first_seq: first.seq,
          last_seq: last.seq,
          epoch: last.epoch,
          truncated: false,
        });
      });

      it('keeps a run published without agent_started, and answers undefined for an unknown or another user’s run', async () => {
        const { engine } = await setup();
        const stored = await engine.append('alice', chunk('r1', 'hi'));
        expect(await engine.runSnapshot('alice', 'r1')).toMatchObject({
          run_id: 'r1',
          status: 'running',
          started_at: stored.ts,
          text: 'hi',
          tools: [],
          last_seq: 1,
        });
        expect(await engine.runSnapshot('alice', 'nope')).toBeUndefined();
        expect(await engine.runSnapshot('bob', 'r1')).toBeUndefined();
      });

      it('stops keeping text at maxBytes and says truncated, while status and last_seq stay exact', async () => {
        const { engine } = await setup({ runSnapshots: { maxBytes: 40 } });
        await engine.append('alice', started('r1')); // agent + task: 4 + 11 bytes
        await engine.append('alice', chunk('r1', 'a'.repeat(20)));
        await engine.append('alice', chunk('r1', 'b'.repeat(20))); // does not fit: truncated from here on
        await engine.append('alice', chunk('r1', 'c')); // would fit, but must not leave a hole
        const last = await engine.append('alice', completed('r1', 'cancelled'));
        const snapshot = await engine.runSnapshot('alice', 'r1');
        expect(snapshot).toMatchObject({
          text: 'a'.repeat(20),
          truncated: true,
          status: 'cancelled',
          ended_at: last.ts,
          last_seq: last.seq,
        });
        expect(snapshot?.final_response).toBeUndefined();
      });

      it('catches up at one head: the active runs, each exact up to that head', async () => {
        const { engine } = await setup();
        await engine.append('alice', started('done'));
        await engine.append('alice', completed('done'));
        await engine.append('alice', started('r1'));
        await engine.append('alice', chunk('r1', 'x'));
        await engine.append('alice', started('r2'));
        await engine.append('alice', event(9));
        await engine.append('bob', started('rb'));
        const caught = await engine.catchUp('alice', {});
        expect(caught.head.seq).toBe(6);
        expect(caught.runs.map((r) => [r.run_id, r.last_seq, r.text])).toEqual([
          ['r1', 4, 'x'],
          ['r2', 5, ''],
        ]);
        const none = await engine.catchUp('carol', {});
        expect(none).toEqual({ head: { epoch: none.head.epoch, seq: 0 }, runs: [] });
      });

      it('adds the runs with an event after `since` of the head’s epoch, ended ones too', async () => {
        const { engine } = await setup();
        const a = await engine.append('alice', started('old'));
        await engine.append('alice', completed('old'));
        await engine.append('alice', started('ended'));
        await engine.append('alice', completed('ended'));
        await engine.append('alice', started('live'));
        const ids = async (q: Parameters<Engine['catchUp']>[1]) =>
          (await engine.catchUp('alice', q)).runs.map((r) => r.run_id);
        expect(await ids({ since: 2, epoch: a.epoch })).toEqual(['ended', 'live']);
        expect(await ids({ since: 0, epoch: a.epoch })).toEqual(['old', 'ended', 'live']);
        expect(await ids({ since: 2, epoch: 'e_other' })).toEqual(['live']);
        expect(await ids({ since: 2 })).toEqual(['live']);
      });

      it('lists a user’s runs most recently active first, by state and thread, up to the limit', async () => {
        const { engine } = await setup();
        await engine.append('alice', started('r1', 't1'));
        await engine.append('alice', started('r2', 't2'));
        await engine.append('alice', started('r3', 't1'));
        await engine.append('alice', completed('r2'));
        await engine.append('alice', chunk('r1', 'again'));
        const list = async (q: Parameters<Engine['runSnapshots']>[1]) =>
          (await engine.runSnapshots('alice', q)).map((r) => r.run_id);
        expect(await list({ state: 'recent', limit: 10 })).toEqual(['r1', 'r2', 'r3']);
        expect(await list({ state: 'active', limit: 10 })).toEqual(['r1', 'r3']);
        expect(await list({ state: 'recent', threadId: 't1', limit: 10 })).toEqual(['r1', 'r3']);
        expect(await list({ state: 'recent', limit: 2 })).toEqual(['r1', 'r2']);
        expect(await engine.runSnapshots('bob', { state: 'recent', limit: 10 })).toEqual([]);
      });

      it('lists at most perUser runs: the least recently active are no longer listed', async () => {
        const { engine } = await setup({ runSnapshots: { perUser: 2 } });
        for (const id of ['r1', 'r2', 'r3']) await engine.append('alice', started(id));
        const listed = await engine.runSnapshots('alice', { state: 'recent', limit: 10 });
        expect(listed.map((r) => r.run_id)).toEqual(['r3', 'r2']);
        expect((await engine.catchUp('alice', {})).runs.map((r) => r.run_id)).toEqual(['r2', 'r3']);
      });

      it('forgets a snapshot ttlMs after its run’s last event', async () => {
        const { engine, elapse } = await setup({ runSnapshots: { ttlMs: SHORT_TTL_MS } });
        await engine.append('alice', started('r1'));
        await engine.append('alice', completed('r1'));
        expect(await engine.runSnapshot('alice', 'r1')).toBeDefined();
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => expect(await engine.runSnapshot('alice', 'r1')).toBeUndefined(), WAIT);
        expect(await engine.runSnapshots('alice', { state: 'recent', limit: 10 })).toEqual([]);
      });

      it('folds the terminal a reaper stores for a lapsed run', async () => {
        const { engine, elapse } = await setup();
        await engine.startRun('alice', {
          runId: 'r1',
          agent: 'demo',
          node: 'node-a',
          limit: 5,
          leaseMs: SHORT_TTL_MS,
        });
        const fence = { node: 'node-a' };
        await engine.append('alice', started('r1'), fence);
        await engine.append('alice', chunk('r1', 'half'), fence);
        elapse(SHORT_TTL_MS + 1);
        const lost = (runId: string): NewEvent => ({
          type: 'agent_completed',
          run_id: runId,
          data: { status: 'failed', final_response: null, error: { code: 'NODE_LOST', message: 'lost' } },
        });
        await vi.waitFor(async () => expect((await engine.reapLapsedRuns(10, lost)).length).toBe(1), WAIT);
        expect(await engine.runSnapshot('alice', 'r1')).toMatchObject({
          status: 'failed',
          text: 'half',
          error: { code: 'NODE_LOST', message: 'lost' },
        });
        expect((await engine.catchUp('alice', {})).runs).toEqual([]);
      });

      it('property: a catch-up’s snapshot plus the run’s later events is the whole run, at any point', async () => {
        const { engine } = await setup();
        let round = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.nat(2), fc.string({ maxLength: 4 }), fc.boolean()), {
              minLength: 1,
              maxLength: 30,
            }),
            async (steps) => {
              round += 1;
              const user = `snap${round}`;
              const texts = new Map<string, string>();
              const caught: { head: number; text: Map<string, string> }[] = [];
              for (const [run, text, join] of steps) {
                const runId = `r${run}`;
                await engine.append(user, chunk(runId, text));
                texts.set(runId, (texts.get(runId) ?? '') + text);
                if (join) {
                  const at = await engine.catchUp(user, {});
                  caught.push({ head: at.head.seq, text: new Map(at.runs.map((r) => [r.run_id, r.text])) });
                }
              }
              const all = await engine.history(user, { since: 0, limit: 1000 });
              if (all.kind !== 'ok') throw new Error('history reset');
              for (const { head, text } of caught) {
                for (const [runId, whole] of texts) {
                  const later = all.events
                    .filter((e) => e.run_id === runId && e.seq > head)
                    .map((e) => String(e.data.text))
                    .join('');
                  expect((text.get(runId) ?? '') + later).toBe(whole);
                }
              }
            },
          ),
          { numRuns: 30 },
        );
      });
    });

    describe('approvals (#resolveApproval / #pendingApprovals, docs/protocol.md G)', () => {
      const asked = (runId: string, approvalId: string, expiresInMs = 60_000): NewEvent => ({
        type: 'approval_requested',
        run_id: runId,
        data: {
          approval_id: approvalId,
          tool_name: 'send_email',
          tool_args: { to: 'a@example.com' },
          message: 'Send it?',
          expires_at: new Date(Date.now() + expiresInMs).toISOString(),
        },
      });
      const answer = (decision: 'approved' | 'denied', key?: string) => ({
        decision,
        by: 'user' as const,
        key,
      });
      const resolvedEvents = async (engine: Engine, userId: string) => {
        const all = await engine.history(userId, { since: 0, limit: 1000 });
        return all.kind === 'ok' ? all.events.filter((e) => e.type === 'approval_resolved') : [];
      };

      it('registers an approval with its approval_requested: pending, and the run waiting', async () => {
        const { engine } = await setup();
        await engine.append('alice', {
          type: 'agent_started',
          run_id: 'r1',
          data: { agent_name: 'a', task_description: 't' },
        });
        const request = asked('r1', 'a_1');
        await engine.append('alice', request);
        expect(await engine.pendingApprovals('alice')).toEqual([{ runId: 'r1', request: request.data }]);
        expect(await engine.pendingApprovals('bob')).toEqual([]);
        expect(await engine.runSnapshot('alice', 'r1')).toMatchObject({
          status: 'waiting',
          approvals: [request.data],
        });
      });

      it('lets the first answer win: one approval_resolved, then duplicate for the same key and conflict for any other', async () => {
        const { engine } = await setup();
        await engine.append('alice', asked('r1', 'a_1'));
        const first = await engine.resolveApproval('alice', 'a_1', answer('approved', 'k1'));
        expect(first).toMatchObject({
          kind: 'resolved',
          event: {
            type: 'approval_resolved',
            run_id: 'r1',
            data: { approval_id: 'a_1', decision: 'approved', by: 'user' },
          },
        });
        expect(await engine.resolveApproval('alice', 'a_1', answer('approved', 'k1'))).toEqual({
          kind: 'duplicate',
          decision: 'approved',
        });
        expect(await engine.resolveApproval('alice', 'a_1', answer('denied', 'k2'))).toEqual({
          kind: 'conflict',
          decision: 'approved',
        });
        expect(await engine.resolveApproval('alice', 'a_1', answer('approved'))).toEqual({
          kind: 'conflict',
          decision: 'approved',
        });
        expect(await resolvedEvents(engine, 'alice')).toHaveLength(1);
        expect(await engine.pendingApprovals('alice')).toEqual([]);
        expect(await engine.runSnapshot('alice', 'r1')).toMatchObject({
          status: 'running',
          approvals: [{ approval_id: 'a_1', decision: 'approved', by: 'user' }],
        });
      });

      it('resolves once when answers race, whatever their order', async () => {
        const { engine } = await setup();
        for (let round = 0; round < 10; round++) {
          const id = `a_${round}`;
          await engine.append('alice', asked('r1', id));
          const outcomes = await Promise.all(
            range(1, 6).map((n) =>
              engine.resolveApproval('alice', id, answer(n % 2 ? 'approved' : 'denied', `k${n}`)),
            ),
          );
          const winners = outcomes.filter((o) => o.kind === 'resolved');
          expect(winners).toHaveLength(1);
          const decision = winners[0]?.kind === 'resolved' ? winners[0].event.data.decision : undefined;
          expect(
            outcomes
              .filter((o) => o.kind === 'conflict')
              .every((o) => 'decision' in o && o.decision === decision),
          ).toBe(true);
        }
        expect(await resolvedEvents(engine, 'alice')).toHaveLength(10);
      });

      it('answers unknown for another user’s approval and an unknown one, storing nothing', async () => {
        const { engine } = await setup();
        await engine.append('alice', asked('r1', 'a_1'));
        expect(await engine.resolveApproval('bob', 'a_1', answer('approved'))).toEqual({ kind: 'unknown' });
        expect(await engine.resolveApproval('alice', 'a_x', answer('approved'))).toEqual({ kind: 'unknown' });
        expect(await resolvedEvents(engine, 'alice')).toEqual([]);
        expect(await resolvedEvents(engine, 'bob')).toEqual([]);
      });

      it('does not list an approval past its expires_at', async () => {
        const { engine } = await setup();
        await engine.append('alice', asked('r1', 'a_old', -1));
        await engine.append('alice', asked('r1', 'a_new'));
        expect((await engine.pendingApprovals('alice')).map((a) => a.request.approval_id)).toEqual(['a_new']);
      });
    });

    describe('user disconnects and token revocations (#disconnectUser / #onUserDisconnect / #tokensRevokedBefore)', () => {
      async function listen(engine: Engine) {
        const got: UserDisconnect[] = [];
        const stop = await engine.onUserDisconnect((request) => got.push(request));
        return { got, stop };
      }

      it('tells every listener of every node, with the reason and revoke_before given', async () => {
        const { engine } = await setup();
        const a = await listen(engine);
        const b = await listen(engine);
        await engine.disconnectUser({ userId: 'alice', reason: 'logged out', revokeBefore: 1700 }, 60_000);
        await engine.disconnectUser({ userId: 'bob' }, 60_000);
        const expected = [
          { userId: 'alice', reason: 'logged out', revokeBefore: 1700 },
          { userId: 'bob', reason: undefined, revokeBefore: undefined },
        ];
        await vi.waitFor(() => expect([a.got, b.got]).toEqual([expected, expected]), WAIT);
        await a.stop();
        await a.stop();
        await engine.disconnectUser({ userId: 'carol' }, 60_000);
        await vi.waitFor(() => expect(b.got.map((r) => r.userId)).toEqual(['alice', 'bob', 'carol']), WAIT);
        expect(a.got).toHaveLength(2);
      });

      it('stores a revocation for its user only, never moving it back, and forgets it after its ttl', async () => {
        const { engine, elapse } = await setup();
        expect(await engine.tokensRevokedBefore('alice')).toBeUndefined();
        await engine.disconnectUser({ userId: 'alice', revokeBefore: 2000 }, SHORT_TTL_MS);
        expect(await engine.tokensRevokedBefore('alice')).toBe(2000);
        expect(await engine.tokensRevokedBefore('bob')).toBeUndefined();
        await engine.disconnectUser({ userId: 'alice', revokeBefore: 1000 }, SHORT_TTL_MS);
        expect(await engine.tokensRevokedBefore('alice')).toBe(2000);
        // A disconnect without revoke_before leaves the revocation as it is.
        await engine.disconnectUser({ userId: 'alice' }, SHORT_TTL_MS);
        expect(await engine.tokensRevokedBefore('alice')).toBe(2000);
        elapse(SHORT_TTL_MS + 1);
        await vi.waitFor(async () => expect(await engine.tokensRevokedBefore('alice')).toBeUndefined(), WAIT);
      });

      it('rejects disconnects, reads and new listeners after close', async () => {
        const { engine } = await setup();
        await engine.close();
        const closed = { code: AgentcastErrorCode.EngineClosed };
        await expect(engine.disconnectUser({ userId: 'alice' }, 1000)).rejects.toMatchObject(closed);
        await expect(engine.tokensRevokedBefore('alice')).rejects.toMatchObject(closed);
        await expect(engine.onUserDisconnect(() => undefined)).rejects.toMatchObject(closed);
      });
    });

    describe('presence (#putPresence / #removePresence / #presence)', () => {
      const entry = (connectionId: string, serverId: string, connectedAt: number) => ({
        connectionId,
        serverId,
        transport: 'websocket',
        connectedAt,
        deliveredSeq: 7,
        seenSeq: 5,
      });

      it('lists the records of the user’s connections holding a slot, oldest first, updated in place', async () => {
        const { engine } = await setup();
        await engine.acquireConnectionSlot('alice', 'c2', 10);
        await engine.acquireConnectionSlot('alice', 'c1', 10);
        await engine.acquireConnectionSlot('bob', 'c3', 10);
        await engine.putPresence([
          { userId: 'alice', entry: entry('c2', 'node-b', 2000) },
          { userId: 'alice', entry: entry('c1', 'node-a', 1000) },
          { userId: 'bob', entry: entry('c3', 'node-a', 3000) },
          // No slot: not a connection of the user, so never listed.
          { userId: 'alice', entry: entry('c9', 'node-a', 500) },
        ]);
        expect(await engine.presence('alice')).toEqual([
          entry('c1', 'node-a', 1000),
          entry('c2', 'node-b', 2000),
        ]);
        await engine.putPresence([
          { userId: 'alice', entry: { ...entry('c1', 'node-a', 1000), seenSeq: 7 } },
        ]);
        expect((await engine.presence('alice'))[0]).toMatchObject({ connectionId: 'c1', seenSeq: 7 });
        expect(await engine.presence('carol')).toEqual([]);
      });

      it('forgets a record when it is removed or its slot is released', async () => {
        const { engine } = await setup();
        await engine.acquireConnectionSlot('alice', 'c1', 10);
        await engine.acquireConnectionSlot('alice', 'c2', 10);
        await engine.putPresence([
          { userId: 'alice', entry: entry('c1', 'node-a', 1000) },
          { userId: 'alice', entry: entry('c2', 'node-a', 2000) },
        ]);
        await engine.removePresence('alice', 'c1');
        await engine.removePresence('alice', 'c1');
        await engine.releaseConnectionSlot('alice', 'c2');
        expect(await engine.presence('alice')).toEqual([]);
      });

      it('rejects writes and reads after close', async () => {
        const { engine } = await setup();
        await engine.close();
        const closed = { code: AgentcastErrorCode.EngineClosed };
        await expect(engine.presence('alice')).rejects.toMatchObject(closed);
        await expect(engine.putPresence([])).rejects.toMatchObject(closed);
        await expect(engine.removePresence('alice', 'c1')).resolves.toBeUndefined();
      });
    });

    describe('#health / #close', () => {
      it('is healthy when open and gives a remover for health listeners', async () => {
        const { engine } = await setup();
        expect(engine.health()).toEqual({ ok: true });
        const remove = engine.onHealthChange(() => undefined);
        expect(remove()).toBeUndefined();
      });

      it('closes idempotently, then rejects use with AC_ERR_ENGINE_CLOSED', async () => {
        const { engine } = await setup();
        const sub = await record(engine, 'alice');
        await engine.close();
        await engine.close();
        const closed = { code: AgentcastErrorCode.EngineClosed };
        await expect(engine.append('alice', event(1))).rejects.toMatchObject(closed);
        await expect(engine.appendBatch([{ userId: 'a', event: event(1) }])).rejects.toMatchObject(closed);
        await expect(engine.head('alice')).rejects.toMatchObject(closed);
        await expect(engine.history('alice', { since: 0, limit: 1 })).rejects.toMatchObject(closed);
        await expect(engine.subscribe('alice', () => undefined)).rejects.toMatchObject(closed);
        await expect(engine.claimIdempotency('k', 'v', 1000)).rejects.toMatchObject(closed);
        await expect(engine.acquireConnectionSlot('alice', 'c', 1)).rejects.toMatchObject(closed);
        // Cleanup after close must not throw: connections release while the gateway shuts down.
        await expect(sub.unsubscribe()).resolves.toBeUndefined();
        await expect(engine.releaseConnectionSlot('alice', 'c')).resolves.toBeUndefined();
      });
    });

    describe('property', () => {
      type Command =
        | { readonly t: 'append'; readonly user: number; readonly count: number }
        | { readonly t: 'subscribe'; readonly user: number }
        | { readonly t: 'unsubscribe'; readonly pick: number };

      const USERS = 3;
      const command: fc.Arbitrary<Command> = fc.oneof(
        fc.record({
          t: fc.constant('append' as const),
          user: fc.nat(USERS - 1),
          count: fc.integer({ min: 1, max: 6 }),
        }),
        fc.record({ t: fc.constant('subscribe' as const), user: fc.nat(USERS - 1) }),
        fc.record({ t: fc.constant('unsubscribe' as const), pick: fc.nat() }),
      );

      it('delivers to each subscriber exactly its user’s events appended while subscribed, gap-free', async () => {
        const { engine } = await setup();
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
            run += 1;
            const users = range(0, USERS - 1).map((i) => `prop${run}-u${i}`);
            const appended = users.map(() => 0);
            const subs: {
              user: number;
              from: number;
              to: number | undefined;
              sub: Awaited<ReturnType<typeof record>>;
            }[] = [];
            // Waits until every open subscription holds everything its user has so far (a no-op for
            // in-process engines), so "appended while subscribed" is well defined for async fan-out.
            const settle = () =>
              vi.waitFor(() => {
                for (const s of subs) {
                  if (s.to === undefined) expect(s.sub.events.length).toBe(appended[s.user]! - s.from);
                }
              }, WAIT);
            for (const c of commands) {
              if (c.t === 'append') {
                const user = users[c.user]!;
                await Promise.all(
                  range(1, c.count).map((n) =>
                    engine.append(user, { type: 'notification', data: { user, n } }),
                  ),
                );
                appended[c.user]! += c.count;
              } else if (c.t === 'subscribe') {
                const from = appended[c.user]!;
                subs.push({ user: c.user, from, to: undefined, sub: await record(engine, users[c.user]!) });
              } else if (subs.length > 0) {
                const s = subs[c.pick % subs.length]!;
                if (s.to === undefined) {
                  await settle();
                  await s.sub.unsubscribe();
                  s.to = appended[s.user]!;
                }
              }
            }
            await settle();
            for (const s of subs) {
              const to = s.to ?? appended[s.user]!;
              expect(s.sub.seqs()).toEqual(range(s.from + 1, to));
              expect(s.sub.events.every((e) => e.data.user === users[s.user])).toBe(true);
              expect(s.sub.frames).toEqual(s.sub.events.map(encodeEvent));
              await s.sub.unsubscribe();
            }
          }),
          { numRuns: 50 },
        );
      });
    });
  });
}
