import { describe, expect, it } from 'vitest';
import { BadFrameCounter } from '../../../packages/server/src/security/bad-frame-counter.js';
import { FrameRateLimiter } from '../../../packages/server/src/security/frame-rate-limiter.js';
import { OriginPolicy } from '../../../packages/server/src/security/origin-policy.js';
import { ViolationTracker } from '../../../packages/server/src/security/violation-tracker.js';

/**
 * Cases that kill mutants which survived `npx stryker run --mutate 'src/security/**\/*.ts'` (TESTING.md
 * lists the ones left as equivalent). Each states the rule the mutant broke.
 */

describe('BadFrameCounter', () => {
  it('starts its window at the first bad frame, not at time 0 (docs/protocol.md §5: 10 in 60 s)', () => {
    const counter = new BadFrameCounter({ limit: 2, windowMs: 60_000 });
    expect(counter.record(50_000)).toBe(false);
    // 50 s after the first bad frame: still the same window, so this is the second of two.
    expect(counter.record(100_000)).toBe(true);
  });
});

describe('FrameRateLimiter', () => {
  it('keeps closing on further excess frames within the window that reached the strikes', () => {
    // One token, refilled every 10 s: every frame after the first is excess.
    const limiter = new FrameRateLimiter({ ratePerSec: 0.1, burst: 1, strikes: 2 }, 0);
    expect(limiter.check(0)).toBe('accept');
    expect(limiter.check(10)).toBe('limited'); // window 0: strike 1
    expect(limiter.check(1010)).toBe('close'); // window 1: strike 2
    // More excess in the same window does not restart the streak.
    expect(limiter.check(1020)).toBe('close');
  });
});

describe('OriginPolicy', () => {
  it('allows a request without an Origin header when requireOrigin is not given (docs/protocol.md §5)', () => {
    expect(new OriginPolicy({ env: 'test' }).check(undefined)).toEqual({ ok: true });
    expect(
      new OriginPolicy({ env: 'production', origins: ['https://app.example.com'] }).check(undefined),
    ).toEqual({
      ok: true,
    });
  });
});

describe('ViolationTracker', () => {
  it('keeps an expired block counted until room is needed, a sweep or blockedCount() drops it', () => {
    let now = 0;
    const tracker = new ViolationTracker({
      limit: 1,
      windowMs: 1000,
      blockMs: 1000,
      maxTrackedIps: 10,
      now: () => now,
    });
    expect(tracker.record('192.0.2.1')).toEqual({ blocked: true, retryAfterS: 1 });
    now = 5000;
    // Room is plentiful, so recording another IP does not spend time pruning expired blocks.
    expect(tracker.record('192.0.2.2')).toEqual({ blocked: true, retryAfterS: 1 });
    expect(tracker.trackedCount()).toBe(2);
    expect(tracker.blockedCount()).toBe(1);
    expect(tracker.trackedCount()).toBe(1);
  });
});
