import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryRing } from '../../../src/engine/history-ring.js';
import type { StoredEvent } from '../../../src/protocol/events.js';

function ev(seq: number): StoredEvent {
  return { type: 'notification', data: {}, seq, epoch: 'e_x', ts: '2026-01-01T00:00:00.000Z' };
}

function seqs(events: readonly StoredEvent[] | undefined): number[] | undefined {
  return events?.map((e) => e.seq);
}

function filled(capacity: number, count: number, ttlMs = 1000): HistoryRing {
  const ring = new HistoryRing({ capacity, ttlMs });
  for (let s = 1; s <= count; s += 1) ring.push(ev(s), s);
  return ring;
}

describe('HistoryRing', () => {
  it.each([
    [{ capacity: 0, ttlMs: 1 }, 'HistoryRing: capacity must be an integer >= 1, got 0'],
    [{ capacity: 2.5, ttlMs: 1 }, 'HistoryRing: capacity must be an integer >= 1, got 2.5'],
    [{ capacity: 1, ttlMs: 0 }, 'HistoryRing: ttlMs must be > 0, got 0'],
    [{ capacity: 1, ttlMs: Number.NaN }, 'HistoryRing: ttlMs must be > 0, got NaN'],
  ])('refuses %o', (options, message) => {
    expect(() => new HistoryRing(options)).toThrow(new TypeError(message));
  });

  it('starts empty', () => {
    const ring = new HistoryRing({ capacity: 3, ttlMs: 10 });
    expect(ring.size).toBe(0);
    expect(ring.oldestSeq).toBeUndefined();
    expect(ring.after(0, 10)).toBeUndefined();
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
      ring.push(ev(1), 1000);
      ring.push(ev(2), 1050);
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
      ring.push(ev(6), 100);
      ring.push(ev(7), 101);
      expect(seqs(ring.after(5, 10))).toEqual([6, 7]);
      expect(ring.oldestSeq).toBe(6);
    });

    it('drops across the wrap point', () => {
      const ring = new HistoryRing({ capacity: 3, ttlMs: 10 });
      for (let s = 1; s <= 5; s += 1) ring.push(ev(s), s * 10);
      ring.expire(50);
      expect(seqs(ring.after(3, 10))).toEqual([4, 5]);
      ring.push(ev(6), 60);
      expect(seqs(ring.after(3, 10))).toEqual([4, 5, 6]);
    });
  });

  it('matches a plain-array model for any sequence of pushes and expiries', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('push' as const), dt: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ t: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 40 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(op, { maxLength: 60 }),
        fc.nat(),
        fc.integer({ min: 0, max: 10 }),
        (capacity, ttlMs, ops, sinceSeed, limit) => {
          const ring = new HistoryRing({ capacity, ttlMs });
          let model: { seq: number; at: number }[] = [];
          let now = 0;
          let seq = 0;
          for (const o of ops) {
            now += o.dt;
            if (o.t === 'push') {
              seq += 1;
              ring.push(ev(seq), now);
              model.push({ seq, at: now });
              if (model.length > capacity) model.shift();
            } else {
              ring.expire(now);
              model = model.filter((m) => now - m.at <= ttlMs);
            }
          }
          expect(ring.size).toBe(model.length);
          expect(ring.oldestSeq).toBe(model[0]?.seq);
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
