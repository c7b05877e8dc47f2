import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../../packages/server/src/security/log-throttle.js';

describe('LogThrottle', () => {
  it('allows a burst of 10 lines, then 1/s, counting what it dropped (defaults)', () => {
    const throttle = new LogThrottle();
    for (let i = 0; i < 10; i++) expect(throttle.take(0)).toEqual({ log: true, suppressed: 0 });
    expect(throttle.take(0)).toEqual({ log: false });
    expect(throttle.take(500)).toEqual({ log: false });
    expect(throttle.take(1_000)).toEqual({ log: true, suppressed: 2 });
    expect(throttle.take(1_000)).toEqual({ log: false });
    expect(throttle.take(2_000)).toEqual({ log: true, suppressed: 1 });
  });

  it('takes its rate and burst from the options', () => {
    const throttle = new LogThrottle({ perSec: 2, burst: 1 });
    expect(throttle.take(0)).toEqual({ log: true, suppressed: 0 });
    expect(throttle.take(0)).toEqual({ log: false });
    expect(throttle.take(500)).toEqual({ log: true, suppressed: 1 });
  });
});
