import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ViolationTracker,
  type ViolationTrackerOptions,
} from '../../../packages/server/src/security/violation-tracker.js';

/** A tracker on a manual clock. */
function setup(options: Partial<Omit<ViolationTrackerOptions, 'now'>> = {}) {
  const clock = { t: 1_000_000 };
  const tracker = new ViolationTracker({ ...options, now: () => clock.t });
  return { clock, tracker };
}

describe('ViolationTracker', () => {
  describe('#record', () => {
    it('blocks on the 5th violation within 60 s, for 300 s (§5 defaults)', () => {
      const { clock, tracker } = setup();
      for (let i = 0; i < 4; i++) {
        expect(tracker.record('1.2.3.4')).toEqual({ blocked: false });
        clock.t += 10_000;
      }
      expect(tracker.record('1.2.3.4')).toEqual({ blocked: true, retryAfterS: 300 });
      expect(tracker.blockStatus('1.2.3.4')).toEqual({ blocked: true, retryAfterS: 300 });
      expect(tracker.blockedCount()).toBe(1);
    });

    it('does not block 5 violations spread over more than the window', () => {
      const { clock, tracker } = setup();
      for (let i = 0; i < 10; i++) {
        expect(tracker.record('1.2.3.4')).toEqual({ blocked: false });
        clock.t += 15_000;
      }
      expect(tracker.blockStatus('1.2.3.4')).toEqual({ blocked: false });
    });

    it('slides: no reset at a window edge to hide behind', () => {
      const { clock, tracker } = setup();
      // t=0, 1, 2, 3 s, then 59.5 s: five violations within 60 s, spanning any fixed 60 s boundary.
      for (const at of [0, 1_000, 2_000, 3_000]) {
        clock.t = 1_000_000 + at;
        tracker.record('ip');
      }
      clock.t = 1_000_000 + 59_500;
      expect(tracker.record('ip').blocked).toBe(true);
    });

    it('counts a violation for exactly windowMs, not one ms longer', () => {
      const { clock, tracker } = setup({ limit: 2, windowMs: 1_000 });
      tracker.record('ip');
      clock.t += 999;
      expect(tracker.record('ip').blocked).toBe(true);
      const other = setup({ limit: 2, windowMs: 1_000 });
      other.tracker.record('ip');
      other.clock.t += 1_000;
      expect(other.tracker.record('ip').blocked).toBe(false);
    });

    it('keeps IPs apart', () => {
      const { tracker } = setup({ limit: 2 });
      expect(tracker.record('10.0.0.1').blocked).toBe(false);
      expect(tracker.record('10.0.0.2').blocked).toBe(false);
      expect(tracker.record('10.0.0.1').blocked).toBe(true);
      expect(tracker.blockStatus('10.0.0.2')).toEqual({ blocked: false });
    });

    it('does not extend a block with further violations', () => {
      const { clock, tracker } = setup({ limit: 1, blockMs: 10_000 });
      expect(tracker.record('ip')).toEqual({ blocked: true, retryAfterS: 10 });
      clock.t += 4_000;
      expect(tracker.record('ip')).toEqual({ blocked: true, retryAfterS: 6 });
      clock.t += 6_000;
      expect(tracker.blockStatus('ip')).toEqual({ blocked: false });
    });

    it('starts counting afresh after a block expires', () => {
      const { clock, tracker } = setup({ limit: 2, blockMs: 1_000 });
      tracker.record('ip');
      expect(tracker.record('ip').blocked).toBe(true);
      clock.t += 1_000;
      expect(tracker.record('ip')).toEqual({ blocked: false });
      expect(tracker.record('ip')).toEqual({ blocked: true, retryAfterS: 1 });
    });
  });

  describe('#blockStatus', () => {
    it.each([
      [0, 300],
      [1, 300],
      [999, 300],
      [1_000, 299],
      [298_001, 2],
      [299_000, 1],
      [299_999, 1],
    ])('%i ms into a 300 s block, Retry-After is %i s (ceil, >= 1)', (elapsed, retryAfterS) => {
      const { clock, tracker } = setup({ limit: 1 });
      tracker.record('ip');
      clock.t += elapsed;
      expect(tracker.blockStatus('ip')).toEqual({ blocked: true, retryAfterS });
    });

    it('rounds a sub-second block up to 1 s', () => {
      const { tracker } = setup({ limit: 1, blockMs: 250 });
      expect(tracker.record('ip')).toEqual({ blocked: true, retryAfterS: 1 });
    });

    it('expires the block at exactly blockMs', () => {
      const { clock, tracker } = setup({ limit: 1 });
      tracker.record('ip');
      clock.t += 300_000;
      expect(tracker.blockStatus('ip')).toEqual({ blocked: false });
      expect(tracker.trackedCount()).toBe(0);
    });

    it('says an unknown IP is not blocked', () => {
      expect(setup().tracker.blockStatus('9.9.9.9')).toEqual({ blocked: false });
    });
  });

  describe('#blockedCount', () => {
    it('counts live blocks only, dropping expired ones', () => {
      const { clock, tracker } = setup({ limit: 1, blockMs: 10_000 });
      tracker.record('a');
      clock.t += 5_000;
      tracker.record('b');
      tracker.record('c');
      expect(tracker.blockedCount()).toBe(3);
      clock.t += 5_000;
      expect(tracker.blockedCount()).toBe(2);
      clock.t += 5_000;
      expect(tracker.blockedCount()).toBe(0);
      expect(tracker.trackedCount()).toBe(0);
    });
  });

  describe('#prune', () => {
    it('forgets IPs whose violations all left the window, and expired blocks', () => {
      const { clock, tracker } = setup({ limit: 3, windowMs: 1_000, blockMs: 5_000 });
      tracker.record('old');
      clock.t += 500;
      tracker.record('new');
      tracker.record('blocked');
      tracker.record('blocked');
      tracker.record('blocked');
      clock.t += 500;
      tracker.prune();
      expect(tracker.trackedCount()).toBe(2);
      clock.t += 499;
      tracker.prune();
      expect(tracker.trackedCount()).toBe(2);
      clock.t += 1;
      tracker.prune();
      expect(tracker.trackedCount()).toBe(1);
      clock.t += 4_000;
      tracker.prune();
      expect(tracker.trackedCount()).toBe(0);
    });

    it('keeps an IP while its newest violation is in the window, and counts it', () => {
      const { clock, tracker } = setup({ limit: 3, windowMs: 1_000 });
      tracker.record('ip');
      clock.t += 900;
      tracker.record('ip');
      clock.t += 200;
      tracker.prune();
      expect(tracker.trackedCount()).toBe(1);
      // The first violation has expired: this is the 2nd in the window, not the 3rd.
      expect(tracker.record('ip').blocked).toBe(false);
    });
  });

  describe('memory bound', () => {
    it('evicts the least recently touched counting IP first', () => {
      const { tracker } = setup({ limit: 2, maxTrackedIps: 2 });
      tracker.record('a');
      tracker.record('b');
      tracker.record('a'); // a blocks (2nd violation) and becomes the newest
      tracker.record('c'); // room needed: the stalest counting IP, b, goes; the block stays
      expect(tracker.trackedCount()).toBe(2);
      expect(tracker.blockStatus('a').blocked).toBe(true);
      expect(tracker.record('b').blocked).toBe(false); // b was forgotten: this is its 1st violation again
    });

    it('evicts nothing when an IP already tracked violates again at capacity', () => {
      const { tracker } = setup({ limit: 3, maxTrackedIps: 2 });
      tracker.record('a');
      tracker.record('b');
      tracker.record('b');
      expect(tracker.trackedCount()).toBe(2);
      expect(tracker.record('a')).toEqual({ blocked: false }); // a kept its 1st violation: this is its 2nd
      expect(tracker.record('a')).toEqual({ blocked: true, retryAfterS: 300 });
    });

    it('touching an IP makes it the most recent', () => {
      const { tracker } = setup({ limit: 3, maxTrackedIps: 2 });
      tracker.record('a');
      tracker.record('b');
      tracker.record('a'); // a is now newer than b
      tracker.record('c'); // evicts b
      expect(tracker.record('a')).toEqual({ blocked: true, retryAfterS: 300 }); // a kept its 2 violations
    });

    it('evicts the oldest block only when every tracked IP is blocked', () => {
      const { tracker } = setup({ limit: 1, maxTrackedIps: 2 });
      tracker.record('a');
      tracker.record('b');
      tracker.record('c');
      expect(tracker.trackedCount()).toBe(2);
      expect(tracker.blockStatus('a')).toEqual({ blocked: false });
      expect(tracker.blockStatus('b').blocked).toBe(true);
      expect(tracker.blockStatus('c').blocked).toBe(true);
    });

    it('reuses the room of expired blocks before evicting anything live', () => {
      const { clock, tracker } = setup({ limit: 1, maxTrackedIps: 2, blockMs: 1_000 });
      tracker.record('a');
      clock.t += 500;
      tracker.record('b');
      clock.t += 500; // a expired, b has 500 ms left
      tracker.record('c');
      expect(tracker.blockStatus('b').blocked).toBe(true);
      expect(tracker.blockStatus('c').blocked).toBe(true);
    });

    it('keeps an expired block counted until room is needed, a sweep or blockedCount() drops it', () => {
      const { clock, tracker } = setup({ limit: 1, windowMs: 1000, blockMs: 1000, maxTrackedIps: 10 });
      expect(tracker.record('192.0.2.1')).toEqual({ blocked: true, retryAfterS: 1 });
      clock.t += 5000;
      // Room is plentiful, so recording another IP does not spend time pruning expired blocks.
      expect(tracker.record('192.0.2.2')).toEqual({ blocked: true, retryAfterS: 1 });
      expect(tracker.trackedCount()).toBe(2);
      expect(tracker.blockedCount()).toBe(1);
      expect(tracker.trackedCount()).toBe(1);
    });

    it('never tracks more than maxTrackedIps under random IP sprays', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 6 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30_000 })), {
            maxLength: 300,
          }),
          (maxTrackedIps, limit, sprays) => {
            const { clock, tracker } = setup({ maxTrackedIps, limit, windowMs: 60_000, blockMs: 120_000 });
            for (const [ip, advance] of sprays) {
              clock.t += advance;
              tracker.record(`10.0.${ip >> 8}.${ip & 0xff}`);
              expect(tracker.trackedCount()).toBeLessThanOrEqual(maxTrackedIps);
              expect(tracker.blockedCount()).toBeLessThanOrEqual(tracker.trackedCount());
            }
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('construction', () => {
    it.each([
      [{ limit: 0 }, 'ViolationTracker: limit must be an integer >= 1 (got 0)'],
      [{ limit: 1.5 }, 'ViolationTracker: limit must be an integer >= 1 (got 1.5)'],
      [{ windowMs: 0 }, 'ViolationTracker: windowMs must be a finite number > 0 (got 0)'],
      [
        { windowMs: Number.POSITIVE_INFINITY },
        'ViolationTracker: windowMs must be a finite number > 0 (got Infinity)',
      ],
      [{ blockMs: -1 }, 'ViolationTracker: blockMs must be a finite number > 0 (got -1)'],
      [{ blockMs: Number.NaN }, 'ViolationTracker: blockMs must be a finite number > 0 (got NaN)'],
      [{ maxTrackedIps: 0 }, 'ViolationTracker: maxTrackedIps must be an integer >= 1 (got 0)'],
    ])('throws for %j', (options, message) => {
      expect(() => new ViolationTracker({ ...options, now: () => 0 })).toThrow(new TypeError(message));
    });

    it('accepts the smallest legal values', () => {
      expect(
        () => new ViolationTracker({ limit: 1, windowMs: 0.5, blockMs: 0.5, maxTrackedIps: 1, now: () => 0 }),
      ).not.toThrow();
    });
  });
});
