import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryRing } from '../../../packages/server/src/engine/history-ring.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';

function ev(seq: number): StoredEvent {
  return { type: 'notification', data: {}, seq, epoch: 'e_x', ts: '2026-01-01T00:00:00.000Z' };
}

function seqs(events: readonly StoredEvent[] | undefined): number[] | undefined {
  return events?.map((e) => e.seq);
}

function filled(capacity: number, count: number, ttlMs = 1000): HistoryRing {
  const ring = new HistoryRing({ capacity, ttlMs });
  for (let s = 1; s <= count; s += 1) ring.push(ev(s), s, 1, s);
  return ring;
}

describe('HistoryRing', () => {
  it.each([
    [{ capacity: 0, ttlMs: 1 }, 'HistoryRing: capacity must be an integer >= 1, got 0'],
    [{ capacity: 2.5, ttlMs: 1 }, 'HistoryRing: capacity must be an integer >= 1, got 2.5'],
    [{ capacity: 1, ttlMs: 0 }, 'HistoryRing: ttlMs must be > 0, got 0'],
    [{ capacity: 1, ttlMs: Number.NaN }, 'HistoryRing: ttlMs must be > 0, got NaN'],
    [{ capacity: 1, ttlMs: 1, maxBytes: 0 }, 'HistoryRing: maxBytes must be > 0, got 0'],
    [{ capacity: 1, ttlMs: 1, maxBytes: Number.NaN }, 'HistoryRing: maxBytes must be > 0, got NaN'],
  ])('refuses %o', (options, message) => {
    expect(() => new HistoryRing(options)).toThrow(new TypeError(message));
  });

  it('starts empty', () => {
    const ring = new HistoryRing({ capacity: 3, ttlMs: 10 });
    expect(ring.size).toBe(0);
    expect(ring.oldestSeq).toBeUndefined();
    expect(ring.after(0, 10)).toBeUndefined();
    expect(ring.bytes).toBe(0);
    expect(ring.oldestOrder).toBeUndefined();
    expect(ring.evictOldest()).toBe(0);
  });

  describe('byte budget (maxBytes)', () => {
    function sized(maxBytes: number, sizes: readonly number[], capacity = 100): HistoryRing {
      const ring = new HistoryRing({ capacity, ttlMs: 1000, maxBytes });
      for (const [i, bytes] of sizes.entries()) ring.push(ev(i + 1), i, bytes, 10 + i);
      return ring;
    }

    it('counts the bytes of the events held', () => {
      const ring = sized(1000, [10, 20, 30]);
      expect(ring.bytes).toBe(60);
      expect(ring.size).toBe(3);
    });

    it('evicts oldest first while over the budget, and keeps a total exactly at it', () => {
      const ring = sized(100, [40, 30, 30]);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([3, 100, 1]);
      ring.push(ev(4), 3, 1, 13);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([3, 61, 2]);
      ring.push(ev(5), 4, 70, 14);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([2, 71, 4]);
      expect(ring.after(2, 10)).toBeUndefined();
      expect(seqs(ring.after(3, 10))).toEqual([4, 5]);
    });

    it('keeps an event larger than the whole budget on its own, as the newest', () => {
      const ring = sized(100, [10, 20]);
      ring.push(ev(3), 2, 500, 12);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([1, 500, 3]);
      expect(seqs(ring.after(2, 10))).toEqual([3]);
      ring.push(ev(4), 3, 5, 13);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([1, 5, 4]);
      expect(seqs(ring.after(3, 10))).toEqual([4]);
    });

    it('takes evicted bytes off the total when trimming by count and by age', () => {
      const byCount = sized(1000, [10, 20, 30, 40], 3);
      expect([byCount.size, byCount.bytes, byCount.oldestSeq]).toEqual([3, 90, 2]);
      const byAge = new HistoryRing({ capacity: 10, ttlMs: 100, maxBytes: 1000 });
      byAge.push(ev(1), 0, 7, 1);
      byAge.push(ev(2), 50, 11, 2);
      byAge.expire(101);
      expect([byAge.size, byAge.bytes]).toEqual([1, 11]);
      byAge.expire(151);
      expect([byAge.size, byAge.bytes]).toEqual([0, 0]);
    });
  });

  describe('#evictOldest and #oldestOrder (the global budget, memory-engine.ts)', () => {
    it('reports the append order of the oldest event held', () => {
      const ring = new HistoryRing({ capacity: 2, ttlMs: 1000 });
      ring.push(ev(1), 0, 5, 40);
      expect(ring.oldestOrder).toBe(40);
      ring.push(ev(2), 0, 5, 42);
      ring.push(ev(3), 0, 5, 47);
      expect(ring.oldestOrder).toBe(42);
    });

    it('drops the oldest event and returns its bytes; an emptied ring starts over cleanly', () => {
      const ring = new HistoryRing({ capacity: 3, ttlMs: 1000 });
      for (let s = 1; s <= 4; s += 1) ring.push(ev(s), 0, s * 10, s);
      expect(ring.evictOldest()).toBe(20);
      expect([ring.size, ring.bytes, ring.oldestSeq, ring.oldestOrder]).toEqual([2, 70, 3, 3]);
      expect(ring.after(1, 10)).toBeUndefined();
      expect(ring.evictOldest()).toBe(30);
      expect(ring.evictOldest()).toBe(40);
      expect([ring.size, ring.bytes, ring.oldestSeq, ring.oldestOrder]).toEqual([0, 0, undefined, undefined]);
      expect(ring.evictOldest()).toBe(0);
      ring.push(ev(5), 0, 9, 5);
      ring.push(ev(6), 0, 9, 6);
      expect(seqs(ring.after(4, 10))).toEqual([5, 6]);
    });

    it('clear() drops everything and returns the bytes freed', () => {
      const ring = filled(3, 5);
      expect(ring.clear()).toBe(3);
      expect([ring.size, ring.bytes, ring.oldestSeq]).toEqual([0, 0, undefined]);
    });
  });

  describe('#after', () => {
    it('returns events after since, oldest first, up to limit', () => {
      const ring = filled(5, 4);
      expect(seqs(ring.after(0, 10))).toEqual([1, 2, 3, 4]);
      expect(seqs(ring.after(1, 2))).toEqual([2, 3]);
      expect(seqs(ring.after(3, 10))).toEqual([4]);
      expect(seqs(ring.after(4, 10))).toEqual([]);
      expect(seqs(ring.after(9, 10))).toEqual([]);
      expect(seqs(ring.after(0, 0))).toEqual([]);
    });

    it('is undefined once since + 1 was evicted by count', () => {
      const ring = filled(3, 5);
      expect(ring.size).toBe(3);
      expect(ring.oldestSeq).toBe(3);
      expect(ring.after(1, 10)).toBeUndefined();
      expect(seqs(ring.after(2, 10))).toEqual([3, 4, 5]);
      expect(seqs(ring.after(3, 1))).toEqual([4]);
    });

    it('keeps order across many wraps', () => {
      const ring = filled(4, 23);
      expect(seqs(ring.after(19, 10))).toEqual([20, 21, 22, 23]);
      expect(seqs(ring.after(21, 10))).toEqual([22, 23]);
    });
  });

  describe('#expire', () => {
    it('keeps an event exactly ttlMs old and drops one a millisecond older', () => {
      const ring = new HistoryRing({ capacity: 5, ttlMs: 100 });
      ring.push(ev(1), 1000, 1, 1);
      ring.push(ev(2), 1050, 1, 2);
      ring.expire(1100);
      expect(ring.size).toBe(2);
      ring.expire(1101);
      expect(ring.oldestSeq).toBe(2);
      expect(ring.after(0, 10)).toBeUndefined();
      expect(seqs(ring.after(1, 10))).toEqual([2]);
      ring.expire(1151);
      expect(ring.size).toBe(0);
      expect(ring.oldestSeq).toBeUndefined();
    });

    it('starts over cleanly after emptying', () => {
      const ring = filled(3, 5, 10);
      ring.expire(100);
      expect(ring.size).toBe(0);
      ring.push(ev(6), 100, 1, 6);
      ring.push(ev(7), 101, 1, 7);
      expect(seqs(ring.after(5, 10))).toEqual([6, 7]);
      expect(ring.oldestSeq).toBe(6);
    });

    it('drops across the wrap point', () => {
      const ring = new HistoryRing({ capacity: 3, ttlMs: 10 });
      for (let s = 1; s <= 5; s += 1) ring.push(ev(s), s * 10, 1, s);
      ring.expire(50);
      expect(seqs(ring.after(3, 10))).toEqual([4, 5]);
      ring.push(ev(6), 60, 1, 6);
      expect(seqs(ring.after(3, 10))).toEqual([4, 5, 6]);
    });
  });

  it('matches a plain-array model for any sequence of pushes, expiries and evictions, by count, age and bytes', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('push' as const),
        dt: fc.integer({ min: 0, max: 20 }),
        bytes: fc.integer({ min: 1, max: 30 }),
      }),
      fc.record({ t: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ t: fc.constant('evict' as const), dt: fc.constant(0) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(op, { maxLength: 60 }),
        fc.nat(),
        fc.integer({ min: 0, max: 10 }),
        (capacity, ttlMs, maxBytes, ops, sinceSeed, limit) => {
          const ring = new HistoryRing({ capacity, ttlMs, maxBytes });
          let model: { seq: number; at: number; bytes: number }[] = [];
          const total = () => model.reduce((sum, m) => sum + m.bytes, 0);
          let now = 0;
          let seq = 0;
          for (const o of ops) {
            now += o.dt;
            if (o.t === 'push') {
              seq += 1;
              ring.push(ev(seq), now, o.bytes, seq * 3);
              model.push({ seq, at: now, bytes: o.bytes });
              if (model.length > capacity) model.shift();
              while (total() > maxBytes && model.length > 1) model.shift();
            } else if (o.t === 'expire') {
              ring.expire(now);
              model = model.filter((m) => now - m.at <= ttlMs);
            } else {
              expect(ring.evictOldest()).toBe(model.shift()?.bytes ?? 0);
            }
          }
          expect(ring.size).toBe(model.length);
          expect(ring.bytes).toBe(total());
          expect(ring.oldestSeq).toBe(model[0]?.seq);
          expect(ring.oldestOrder).toBe(model[0] === undefined ? undefined : model[0].seq * 3);
          const since = sinceSeed % (seq + 1);
          const first = model[0];
          const expected =
            first === undefined || first.seq > since + 1
              ? undefined
              : model
                  .filter((m) => m.seq > since)
                  .slice(0, limit)
                  .map((m) => m.seq);
          expect(seqs(ring.after(since, limit))).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
