import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../packages/server/src/security/token-bucket.js';

/** How many of `count` takes at `nowMs` succeed. */
function takeMany(bucket: TokenBucket, count: number, nowMs: number): number {
  let taken = 0;
  for (let i = 0; i < count; i++) if (bucket.take(nowMs)) taken++;
  return taken;
}

describe('TokenBucket', () => {
  describe('#take', () => {
    it('starts full: allows a burst of 40, then refuses (§5: 20/s, burst 40)', () => {
      const bucket = new TokenBucket({ ratePerSec: 20, burst: 40 });
      expect(takeMany(bucket, 41, 5_000)).toBe(40);
    });

    it('starts full when given a start time', () => {
      const bucket = new TokenBucket({ ratePerSec: 20, burst: 40 }, 1_000);
      expect(takeMany(bucket, 41, 1_000)).toBe(40);
    });

    it.each([
      [49, 0],
      [50, 1],
      [99, 1],
      [100, 2],
      [1_000, 20],
      [2_000, 40],
      [60_000, 40],
    ])('after %i ms at 20/s it refills %i tokens, capped at the burst', (elapsed, tokens) => {
      const bucket = new TokenBucket({ ratePerSec: 20, burst: 40 });
      takeMany(bucket, 40, 0);
      expect(takeMany(bucket, 100, elapsed)).toBe(tokens);
    });

    it.each([
      [0.5, 1_999, 0],
      [0.5, 2_000, 1],
      [0.5, 4_000, 2],
      [2.5, 400, 1],
      [2.5, 1_000, 2],
      [1 / 3, 3_000, 1],
    ])('handles a fractional rate of %d/s: after %i ms, %i tokens', (ratePerSec, elapsed, tokens) => {
      const bucket = new TokenBucket({ ratePerSec, burst: 5 });
      takeMany(bucket, 5, 0);
      expect(takeMany(bucket, 10, elapsed)).toBe(tokens);
    });

    it('keeps a fractional remainder between takes', () => {
      const bucket = new TokenBucket({ ratePerSec: 1, burst: 1 });
      expect(bucket.take(0)).toBe(true);
      expect(bucket.take(600)).toBe(false);
      expect(bucket.take(1_000)).toBe(true);
    });

    it('neither adds nor removes tokens when the clock steps back, and does not count the step twice', () => {
      const bucket = new TokenBucket({ ratePerSec: 1, burst: 2 });
      expect(bucket.take(10_000)).toBe(true);
      expect(bucket.take(5_000)).toBe(true);
      expect(bucket.take(5_000)).toBe(false);
      expect(bucket.take(10_500)).toBe(false);
      expect(bucket.take(11_000)).toBe(true);
    });

    it('never allows more than burst + rate × time (property)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 1, max: 50 }),
          fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
          (ratePerSec, burst, gaps) => {
            const bucket = new TokenBucket({ ratePerSec, burst });
            let now = 0;
            let taken = 0;
            for (const gap of gaps) {
              now += gap;
              if (bucket.take(now)) taken++;
            }
            expect(taken).toBeLessThanOrEqual(burst + Math.floor((now * ratePerSec) / 1000));
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('construction', () => {
    it.each([
      [{ ratePerSec: 0, burst: 1 }, 'TokenBucket: ratePerSec must be a finite number > 0 (got 0)'],
      [
        { ratePerSec: Number.POSITIVE_INFINITY, burst: 1 },
        'TokenBucket: ratePerSec must be a finite number > 0 (got Infinity)',
      ],
      [{ ratePerSec: Number.NaN, burst: 1 }, 'TokenBucket: ratePerSec must be a finite number > 0 (got NaN)'],
      [{ ratePerSec: 1, burst: 0.5 }, 'TokenBucket: burst must be a finite number >= 1 (got 0.5)'],
      [
        { ratePerSec: 1, burst: Number.POSITIVE_INFINITY },
        'TokenBucket: burst must be a finite number >= 1 (got Infinity)',
      ],
    ])('throws for %j', (options, message) => {
      expect(() => new TokenBucket(options)).toThrow(new TypeError(message));
    });

    it('accepts a burst of exactly 1 and a tiny rate', () => {
      const bucket = new TokenBucket({ ratePerSec: 0.001, burst: 1 });
      expect(bucket.take(0)).toBe(true);
      expect(bucket.take(999_999)).toBe(false);
      expect(bucket.take(1_000_000)).toBe(true);
    });
  });
});
