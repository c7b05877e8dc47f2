import { describe, expect, it } from 'vitest';
import {
  FrameRateLimiter,
  type RateDecision,
} from '../../../packages/server/src/security/frame-rate-limiter.js';

/** Feeds frames at the given times (ms) and returns each decision. */
function decide(limiter: FrameRateLimiter, times: readonly number[]): RateDecision[] {
  return times.map((t) => limiter.check(t));
}

function limiter(strikes = 3, ratePerSec = 5, burst = 5, startMs = 10_000): FrameRateLimiter {
  return new FrameRateLimiter({ ratePerSec, burst, strikes }, startMs);
}

describe('FrameRateLimiter', () => {
  describe('#check', () => {
    it('accepts a full burst at once, then limits the next frame', () => {
      expect(decide(limiter(), [10_000, 10_000, 10_000, 10_000, 10_000, 10_000])).toEqual([
        'accept',
        'accept',
        'accept',
        'accept',
        'accept',
        'limited',
      ]);
    });

    it('accepts frames again as tokens refill at ratePerSec', () => {
      const l = limiter(3, 5, 1);
      expect(decide(l, [10_000, 10_100, 10_200, 10_399, 10_400])).toEqual([
        'accept',
        'limited',
        'accept',
        'limited',
        'accept',
      ]);
    });

    it('closes when refusals happen in `strikes` consecutive one-second windows', () => {
      const l = limiter(3, 1, 1);
      expect(decide(l, [10_000, 10_001])).toEqual(['accept', 'limited']); // strike 1 (window 10)
      expect(decide(l, [11_000, 11_001])).toEqual(['accept', 'limited']); // strike 2 (window 11)
      expect(decide(l, [12_000, 12_001])).toEqual(['accept', 'close']); // strike 3 (window 12)
    });

    it('keeps answering close once the streak is reached within the same window', () => {
      const l = limiter(1, 1, 1);
      expect(decide(l, [10_000, 10_001, 10_002, 10_003])).toEqual(['accept', 'close', 'close', 'close']);
    });

    it('keeps closing on further excess frames within the window that reached the strikes', () => {
      // One token, refilled every 10 s: every frame after the first is excess.
      const l = new FrameRateLimiter({ ratePerSec: 0.1, burst: 1, strikes: 2 }, 0);
      expect(l.check(0)).toBe('accept');
      expect(l.check(10)).toBe('limited'); // window 0: strike 1
      expect(l.check(1010)).toBe('close'); // window 1: strike 2
      // More excess in the same window does not restart the streak.
      expect(l.check(1020)).toBe('close');
    });

    it('restarts the streak after a window without refusals', () => {
      const l = limiter(2, 1, 1);
      expect(decide(l, [10_000, 10_001])).toEqual(['accept', 'limited']); // window 10: strike 1
      // Window 11 has no refused frame (one accepted), so window 12 starts a new streak.
      expect(decide(l, [11_500])).toEqual(['accept']);
      expect(decide(l, [12_500, 12_501])).toEqual(['accept', 'limited']);
      expect(decide(l, [13_500, 13_501])).toEqual(['accept', 'close']);
    });

    it('counts windows by wall-clock second, so two refusals 2 ms apart across a boundary are two strikes', () => {
      const l = limiter(2, 1, 1, 10_998);
      expect(decide(l, [10_998, 10_999, 11_000])).toEqual(['accept', 'limited', 'close']);
    });

    it('treats a clock that steps back as no time passing', () => {
      const l = limiter(5, 1, 1);
      expect(decide(l, [10_000, 9_000, 5_000])).toEqual(['accept', 'limited', 'limited']);
    });
  });

  describe('constructor', () => {
    it.each([
      { ratePerSec: 0, burst: 1 },
      { ratePerSec: -1, burst: 1 },
      { ratePerSec: Number.NaN, burst: 1 },
      { ratePerSec: 1, burst: 0 },
      { ratePerSec: 1, burst: Number.POSITIVE_INFINITY },
    ])('throws a TypeError for rate $ratePerSec, burst $burst', (options) => {
      expect(() => new FrameRateLimiter({ ...options, strikes: 3 }, 0)).toThrow(TypeError);
    });
  });
});
