import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine, type MemoryEngineOptions } from '../../../packages/server/src/engine/memory-engine.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';

const note = (n: number) => ({ type: 'notification', data: { n } });

describe('MemoryEngine', () => {
  const engines: MemoryEngine[] = [];
  let clock = 1_000_000;

  function make(options: MemoryEngineOptions = {}): MemoryEngine {
    const engine = new MemoryEngine({ now: () => clock, ...options });
    engines.push(engine);
    return engine;
  }

  afterEach(async () => {
    vi.useRealTimers();
    for (const engine of engines.splice(0)) await engine.close();
    clock = 1_000_000;
  });

  it.each([
    [{ historySize: 0 }, 'MemoryEngine: historySize must be an integer >= 1, got 0'],
    [{ historySize: 1.5 }, 'MemoryEngine: historySize must be an integer >= 1, got 1.5'],
    [{ historyTtlMs: 0 }, 'MemoryEngine: historyTtlMs must be a number > 0, got 0'],
    [
      { historyTtlMs: Number.POSITIVE_INFINITY },
      'MemoryEngine: historyTtlMs must be a number > 0, got Infinity',
    ],
    [{ sweepIntervalMs: -1 }, 'MemoryEngine: sweepIntervalMs must be a number > 0, got -1'],
    [{ sweepIntervalMs: Number.NaN }, 'MemoryEngine: sweepIntervalMs must be a number > 0, got NaN'],
    [{ historyMaxBytes: 0 }, 'MemoryEngine: historyMaxBytes must be an integer >= 1, got 0'],
    [{ historyMaxBytes: 1.5 }, 'MemoryEngine: historyMaxBytes must be an integer >= 1, got 1.5'],
    [{ historyMemoryBytes: 0 }, 'MemoryEngine: historyMemoryBytes must be an integer >= 1, got 0'],
    [
      { historyMemoryBytes: Number.POSITIVE_INFINITY },
      'MemoryEngine: historyMemoryBytes must be an integer >= 1, got Infinity',
    ],
  ])('refuses %o', (options, message) => {
    expect(() => new MemoryEngine(options)).toThrow(new TypeError(message));
  });

  it('is of kind memory and always healthy', () => {
    const engine = make();
    const listener = vi.fn();
    engine.onHealthChange(listener)();
    expect(engine.kind).toBe('memory');
    expect(engine.health()).toEqual({ ok: true });
    expect(listener).not.toHaveBeenCalled();
  });

  it('stamps ts from the injected clock', async () => {
    clock = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const engine = make();
    expect((await engine.append('alice', note(1))).ts).toBe('2026-01-02T03:04:05.006Z');
    const [batched] = await engine.appendBatch([{ userId: 'alice', event: note(2) }]);
    expect(batched?.ts).toBe('2026-01-02T03:04:05.006Z');
  });

  it('makes one epoch per user with the injected generator', async () => {
    let n = 0;
    const engine = make({ newEpoch: () => `e_${++n}` });
    expect((await engine.append('alice', note(1))).epoch).toBe('e_1');
    expect((await engine.append('bob', note(1))).epoch).toBe('e_2');
    expect((await engine.append('alice', note(2))).epoch).toBe('e_1');
    expect(await engine.head('carol')).toEqual({ epoch: 'e_3', seq: 0 });
  });

  it('gives a restarted process new epochs, so resuming clients are reset (§4)', async () => {
    const before = make();
    const last = await before.append('alice', note(1));
    await before.close();
    const after = make();
    await after.append('alice', note(2));
    expect(await after.history('alice', { since: last.seq, epoch: last.epoch, limit: 10 })).toMatchObject({
      kind: 'reset',
      reason: 'epoch_changed',
      head: { seq: 1 },
    });
  });

  describe('#sweep', () => {
    it('drops a log with no subscriber once its last append is older than historyTtlMs', async () => {
      const engine = make({ historyTtlMs: 1000 });
      const first = await engine.append('alice', note(1));
      clock += 1000;
      engine.sweep();
      expect(engine.userCount).toBe(1);
      clock += 1;
      engine.sweep();
      expect(engine.userCount).toBe(0);
      const head = await engine.head('alice');
      expect(head.seq).toBe(0);
      expect(head.epoch).not.toBe(first.epoch);
      expect(await engine.history('alice', { since: 1, epoch: first.epoch, limit: 10 })).toMatchObject({
        kind: 'reset',
        reason: 'epoch_changed',
      });
    });

    it('keeps a log that has a subscriber, and drops it once idle after the last one left', async () => {
      const engine = make({ historyTtlMs: 1000 });
      const unsubscribe = await engine.subscribe('alice', () => undefined);
      await engine.append('alice', note(1));
      clock += 5000;
      engine.sweep();
      expect(engine.userCount).toBe(1);
      expect(await engine.history('alice', { since: 0, limit: 10 })).toMatchObject({
        kind: 'reset',
        reason: 'expired',
      });
      await unsubscribe();
      engine.sweep();
      expect(engine.userCount).toBe(0);
    });

    it('keeps a log appended to recently', async () => {
      const engine = make({ historyTtlMs: 1000 });
      await engine.append('alice', note(1));
      clock += 900;
      await engine.append('alice', note(2));
      clock += 900;
      engine.sweep();
      expect(engine.userCount).toBe(1);
      const result = await engine.history('alice', { since: 0, limit: 10 });
      expect(result).toMatchObject({ kind: 'reset', reason: 'expired' });
      expect((await engine.head('alice')).seq).toBe(2);
    });

    it('removes expired idempotency keys and keeps live ones', async () => {
      const engine = make();
      await engine.claimIdempotency('short', 'v', 100);
      await engine.claimIdempotency('long', 'v', 10_000);
      await engine.claimIdempotency('mid', 'v', 500);
      clock += 100;
      engine.sweep();
      expect(engine.idempotencyKeyCount).toBe(2);
      clock += 400;
      engine.sweep();
      expect(engine.idempotencyKeyCount).toBe(1);
      expect(await engine.claimIdempotency('long', 'w', 10)).toEqual({ claimed: false, value: 'v' });
    });

    it('runs on an unref’d interval, default min(historyTtlMs, 60 s), cleared by close', async () => {
      vi.useFakeTimers();
      const engine = make({ historyTtlMs: 5000 });
      await engine.append('alice', note(1));
      clock += 5001;
      vi.advanceTimersByTime(4999);
      expect(engine.userCount).toBe(1);
      vi.advanceTimersByTime(1);
      expect(engine.userCount).toBe(0);
      expect(vi.getTimerCount()).toBe(1);
      await engine.close();
      expect(vi.getTimerCount()).toBe(0);
    });

    it('caps the default interval at 60 s and honours sweepIntervalMs', async () => {
      vi.useFakeTimers();
      const capped = make();
      await capped.append('alice', note(1));
      clock += 300_001;
      vi.advanceTimersByTime(59_999);
      expect(capped.userCount).toBe(1);
      vi.advanceTimersByTime(1);
      expect(capped.userCount).toBe(0);
      const fast = make({ sweepIntervalMs: 10 });
      await fast.append('bob', note(1));
      clock += 300_001;
      vi.advanceTimersByTime(10);
      expect(fast.userCount).toBe(0);
    });

    it('does not keep the process alive', () => {
      const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const before = refTimers();
      make();
      expect(refTimers()).toBe(before);
    });
  });

  describe('#requestCancel (the registry’s memory of runs)', () => {
    const RETAIN_MS = 600_000;
    const run = (runId: string, leaseMs = 10_000) => ({ runId, agent: 'demo', node: 'n', limit: 9, leaseMs });

    it('keeps an ended run for runRetainMs, then forgets it', async () => {
      const engine = make();
      await engine.startRun('alice', run('r1'));
      await engine.endRun('alice', 'r1', 'n');
      clock += RETAIN_MS - 1;
      engine.sweep();
      expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'ended' });
      clock += 1;
      engine.sweep();
      expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'unknown' });
    });

    it('forgets a run whose lease lapsed runRetainMs ago, swept or not (as request-cancel.lua does)', async () => {
      const engine = make();
      await engine.startRun('alice', run('r1', 1_000));
      clock += 1_000 + RETAIN_MS - 1;
      expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'lapsed', node: 'n' });
      clock += 1;
      expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'unknown' });
    });

    it('keeps at most 100 000 ended markers, the oldest forgotten first', async () => {
      const engine = make();
      for (let i = 0; i <= 100_000; i++) {
        await engine.startRun('alice', run(`r${i}`));
        await engine.endRun('alice', `r${i}`, 'n');
      }
      expect(await engine.requestCancel('alice', 'r0')).toEqual({ state: 'unknown' });
      expect(await engine.requestCancel('alice', 'r1')).toEqual({ state: 'ended' });
      expect(await engine.requestCancel('alice', 'r100000')).toEqual({ state: 'ended' });
    });
  });

  describe('#claimIdempotency', () => {
    it('frees a key exactly when its ttl has passed, as Redis PX does', async () => {
      const engine = make();
      expect(await engine.claimIdempotency('k', 'r_1', 1000)).toEqual({ claimed: true });
      clock += 999;
      expect(await engine.claimIdempotency('k', 'r_2', 1000)).toEqual({ claimed: false, value: 'r_1' });
      clock += 1;
      expect(await engine.claimIdempotency('k', 'r_3', 1000)).toEqual({ claimed: true });
    });

    it('prunes expired keys at the front on each claim, so memory stays bounded without a sweep', async () => {
      const engine = make();
      for (let i = 0; i < 100; i += 1) await engine.claimIdempotency(`k${i}`, 'v', 1000);
      expect(engine.idempotencyKeyCount).toBe(100);
      clock += 1000;
      await engine.claimIdempotency('fresh', 'v', 1000);
      expect(engine.idempotencyKeyCount).toBe(1);
    });

    it('moves a re-claimed key to the back of the pruning order', async () => {
      const engine = make();
      await engine.claimIdempotency('a', 'v1', 100);
      await engine.claimIdempotency('b', 'v', 1000);
      clock += 100;
      expect(await engine.claimIdempotency('a', 'v2', 2000)).toEqual({ claimed: true });
      clock += 900;
      await engine.claimIdempotency('c', 'v', 1000);
      expect(engine.idempotencyKeyCount).toBe(2);
      expect(await engine.claimIdempotency('a', 'v3', 10)).toEqual({ claimed: false, value: 'v2' });
    });
  });

  describe('#acquireConnectionSlot', () => {
    it('answers a connection that asks again for the slot it holds with true, even at the limit', async () => {
      const engine = make();
      expect(await engine.acquireConnectionSlot('u1', 'c1', 1)).toBe(true);
      expect(await engine.acquireConnectionSlot('u1', 'c1', 1)).toBe(true);
      expect(await engine.acquireConnectionSlot('u1', 'c2', 1)).toBe(false);
      await engine.releaseConnectionSlot('u1', 'c1');
      expect(await engine.acquireConnectionSlot('u1', 'c2', 1)).toBe(true);
    });
  });

  describe('history bytes (historyMaxBytes per user, historyMemoryBytes for the process)', () => {
    /** Frame bytes of an event, as the engine counts them: its wire frame, UTF-8. */
    const bytes = (e: StoredEvent) => Buffer.byteLength(encodeEvent(e));
    const sum = (events: readonly StoredEvent[]) => events.reduce((s, e) => s + bytes(e), 0);
    const sized = (n: number) => ({ type: 'notification', data: { n, pad: 'p'.repeat(200) } });

    /** The events a user's history holds: the answer to the lowest since that is not a reset. */
    async function keptEvents(engine: MemoryEngine, userId: string): Promise<readonly StoredEvent[]> {
      const { epoch, seq } = await engine.head(userId);
      for (let since = 0; since < seq; since += 1) {
        const result = await engine.history(userId, { since, epoch, limit: 1000 });
        if (result.kind === 'ok') return result.events;
      }
      return [];
    }

    async function kept(engine: MemoryEngine, userId: string): Promise<number[] | string> {
      const events = await keptEvents(engine, userId);
      return events.length === 0 ? 'none' : events.map((e) => e.seq);
    }

    it('defaults to 8 MiB per user and 256 MiB per process', () => {
      const engine = make();
      expect(engine.historyMemoryBytes).toBe(256 * 1024 * 1024);
      expect(engine.historyMaxBytes).toBe(8 * 1024 * 1024);
    });

    it('counts the wire-frame bytes of every event held, of every user', async () => {
      const engine = make();
      expect(engine.historyBytes).toBe(0);
      const stored = [
        await engine.append('alice', note(1)),
        await engine.append('bob', { type: 'notification', run_id: 'r_1', data: { text: 'é😀' } }),
        ...(await engine.appendBatch([
          { userId: 'alice', event: note(2) },
          { userId: 'carol', event: note(3) },
        ])),
      ];
      expect(engine.historyBytes).toBe(sum(stored));
    });

    it('evicts the oldest events of all users first once the process total passes historyMemoryBytes', async () => {
      const first = await make().append('probe', sized(1));
      const size = bytes(first);
      const engine = make({ historyMemoryBytes: 4 * size });
      await engine.append('alice', sized(1)); // order 1
      await engine.append('bob', sized(1)); // 2
      await engine.append('alice', sized(2)); // 3
      await engine.append('carol', sized(1)); // 4: 4 frames, exactly the budget
      expect(engine.historyBytes).toBe(4 * size);
      expect([await kept(engine, 'alice'), await kept(engine, 'bob')]).toEqual([[1, 2], [1]]);
      await engine.append('carol', sized(2)); // 5: alice's seq 1 (order 1) goes
      expect(await kept(engine, 'alice')).toEqual([2]);
      await engine.appendBatch([
        { userId: 'carol', event: sized(3) }, // 6: bob's seq 1 goes, bob holds nothing
        { userId: 'carol', event: sized(4) }, // 7: alice's seq 2 goes
      ]);
      expect(engine.historyBytes).toBe(4 * size);
      expect(await kept(engine, 'carol')).toEqual([1, 2, 3, 4]);
      const bob = await engine.head('bob');
      expect(await engine.history('bob', { since: 0, epoch: bob.epoch, limit: 10 })).toEqual({
        kind: 'reset',
        head: bob,
        reason: 'expired',
      });
      // Nothing else changes for a user emptied by the budget: since = head is ok, the epoch and seq go on.
      expect(await engine.history('bob', { since: 1, epoch: bob.epoch, limit: 10 })).toMatchObject({
        kind: 'ok',
        events: [],
      });
      expect(await engine.append('bob', sized(2))).toMatchObject({ seq: 2, epoch: bob.epoch });
      expect(engine.historyBytes).toBe(4 * size);
    });

    it('delivers live an event the budget evicts at once (larger than the whole budget)', async () => {
      const engine = make({ historyMemoryBytes: 1024 });
      const seen: string[] = [];
      await engine.subscribe('alice', (_event, frame) => seen.push(frame));
      const big = await engine.append('alice', { type: 'notification', data: { pad: 'x'.repeat(2000) } });
      expect(seen).toEqual([encodeEvent(big)]);
      expect(engine.historyBytes).toBe(0);
      expect(await kept(engine, 'alice')).toBe('none');
    });

    it('keeps its total exact through trimming by count, by per-user bytes and by age, the sweep and close', async () => {
      const size = bytes(await make().append('probe', sized(1)));
      const engine = make({ historySize: 3, historyMaxBytes: 2 * size, historyTtlMs: 1000 });
      // A subscribed log is never dropped by the sweep, only aged.
      await engine.subscribe('bob', () => undefined);
      for (let n = 1; n <= 5; n += 1) await engine.append('alice', sized(n));
      const bobEvents: StoredEvent[] = [];
      for (let n = 1; n <= 5; n += 1) bobEvents.push(await engine.append('bob', note(n)));
      expect(await kept(engine, 'alice')).toEqual([4, 5]); // per-user bytes
      expect(await kept(engine, 'bob')).toEqual([3, 4, 5]); // count
      const bobBytes = sum(bobEvents.slice(2));
      expect(engine.historyBytes).toBe(2 * size + bobBytes);
      clock += 600;
      const carol = await engine.append('carol', note(1));
      clock += 401; // alice's and bob's events are now older than the ttl
      expect(await kept(engine, 'alice')).toBe('none'); // reading alice's history aged hers out
      expect(engine.historyBytes).toBe(bobBytes + bytes(carol));
      engine.sweep(); // drops alice (idle, unsubscribed), ages out bob's events
      expect(engine.userCount).toBe(2);
      expect(engine.historyBytes).toBe(bytes(carol));
      clock += 600;
      engine.sweep(); // carol is idle now: dropped, and her bytes with her
      expect(engine.userCount).toBe(1);
      expect(engine.historyBytes).toBe(0);
      await engine.append('alice', note(9));
      expect(engine.historyBytes).toBeGreaterThan(0);
      await engine.close();
      expect(engine.historyBytes).toBe(0);
    });
  });

  it('releases all state on close', async () => {
    const engine = make();
    await engine.append('alice', note(1));
    await engine.claimIdempotency('k', 'v', 1000);
    await engine.close();
    expect(engine.userCount).toBe(0);
    expect(engine.idempotencyKeyCount).toBe(0);
  });
});
