import { describe, expect, it } from 'vitest';
import { BadFrameCounter } from '../../../packages/server/src/security/bad-frame-counter.js';

/** Records bad frames at the given times (ms) and returns each verdict (true = close with 4008). */
function record(counter: BadFrameCounter, times: readonly number[]): boolean[] {
  return times.map((t) => counter.record(t));
}

describe('BadFrameCounter', () => {
  describe('#record', () => {
    it('answers true on the limit-th bad frame within the window, not before', () => {
      const counter = new BadFrameCounter({ limit: 10, windowMs: 60_000 });
      const verdicts = record(
        counter,
        Array.from({ length: 10 }, (_, i) => 1000 + i * 5000),
      );
      expect(verdicts).toEqual([...Array(9).fill(false), true]);
    });

    it('starts a new window at the first bad frame after the previous window ended', () => {
      const counter = new BadFrameCounter({ limit: 3, windowMs: 1000 });
      expect(record(counter, [0, 500])).toEqual([false, false]);
      // 1000 ms after the window started: the two old frames no longer count.
      expect(record(counter, [1000, 1500])).toEqual([false, false]);
      expect(record(counter, [1999])).toEqual([true]);
    });

    it('keeps answering true past the limit within the same window', () => {
      const counter = new BadFrameCounter({ limit: 2, windowMs: 1000 });
      expect(record(counter, [0, 1, 2])).toEqual([false, true, true]);
    });

    it('starts its window at the first bad frame, not at time 0 (docs/protocol.md §5: 10 in 60 s)', () => {
      const counter = new BadFrameCounter({ limit: 2, windowMs: 60_000 });
      expect(counter.record(50_000)).toBe(false);
      // 50 s after the first bad frame: still the same window, so this is the second of two.
      expect(counter.record(100_000)).toBe(true);
    });

    it('closes at once with a limit of 1', () => {
      expect(new BadFrameCounter({ limit: 1, windowMs: 1000 }).record(0)).toBe(true);
    });

    it('works from time 0 and with a window that has just ended', () => {
      const counter = new BadFrameCounter({ limit: 2, windowMs: 100 });
      expect(record(counter, [0, 99])).toEqual([false, true]);
      expect(record(counter, [199, 299])).toEqual([false, false]);
    });
  });
});
