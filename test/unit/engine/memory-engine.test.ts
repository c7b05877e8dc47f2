import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine, type MemoryEngineOptions } from '../../../src/engine/memory-engine.js';

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

  describe('#claimIdempotency', () => {
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

  it('releases all state on close', async () => {
    const engine = make();
    await engine.append('alice', note(1));
    await engine.claimIdempotency('k', 'v', 1000);
    await engine.close();
    expect(engine.userCount).toBe(0);
    expect(engine.idempotencyKeyCount).toBe(0);
  });
});
