import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '../../../packages/client/src/backoff.js';

const options = { initialMs: 500, maxMs: 30_000 };

describe('backoffDelay', () => {
  it.each([
    [0, 500],
    [1, 1_000],
    [2, 2_000],
    [5, 16_000],
    [6, 30_000],
    [7, 30_000],
    [100, 30_000],
    [5000, 30_000],
  ])('attempt %i has a window of %i ms (the upper bound, reached as random() nears 1)', (attempt, window) => {
    expect(backoffDelay(attempt, options, () => 0.999_999_999)).toBe(window - 1);
    expect(backoffDelay(attempt, options, () => 0.5)).toBe(window / 2);
  });

  it('is 0 when random() returns 0 (full jitter starts at zero)', () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
  });

  it('is random() times the window: full jitter over [0, min(maxMs, initialMs * 2^attempt))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (attempt, r, initialMs, extra) => {
          const opts = { initialMs, maxMs: initialMs + extra };
          const window = Math.min(opts.maxMs, initialMs * 2 ** attempt);
          const delay = backoffDelay(attempt, opts, () => r);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(window);
          expect(delay).toBe(Math.floor(r * window));
        },
      ),
    );
  });
});

describe('Backoff', () => {
  it('doubles the window with each attempt up to the cap', () => {
    const backoff = new Backoff(options, () => 0.5);
    const delays = Array.from({ length: 9 }, () => backoff.next());
    expect(delays).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
    expect(backoff.attempt).toBe(9);
  });

  it('starts again from initialMs after reset()', () => {
    const backoff = new Backoff(options, () => 0.5);
    backoff.next();
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(250);
  });

  it('draws a fresh random number for every delay', () => {
    const values = [0.1, 0.9, 0.3];
    const backoff = new Backoff(options, () => values.shift() ?? 0);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([50, 900, 600]);
  });
});
