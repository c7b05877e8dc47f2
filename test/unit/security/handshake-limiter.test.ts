import { describe, expect, it } from 'vitest';
import { HandshakeLimiter } from '../../../packages/server/src/security/handshake-limiter.js';

describe('HandshakeLimiter', () => {
  it('grants each address up to the limit, independently of other addresses', () => {
    const limiter = new HandshakeLimiter(2);
    expect([limiter.tryAcquire('a'), limiter.tryAcquire('a'), limiter.tryAcquire('a')]).toEqual([
      true,
      true,
      false,
    ]);
    expect(limiter.tryAcquire('b')).toBe(true);
    expect([limiter.heldBy('a'), limiter.heldBy('b'), limiter.heldBy('c')]).toEqual([2, 1, 0]);
  });

  it('a release makes room again, and an address with none left is forgotten', () => {
    const limiter = new HandshakeLimiter(1);
    limiter.tryAcquire('a');
    limiter.release('a');
    expect(limiter.addresses).toBe(0);
    expect(limiter.tryAcquire('a')).toBe(true);
    expect(limiter.addresses).toBe(1);
  });

  it('counts down one at a time and ignores releases of addresses it does not hold', () => {
    const limiter = new HandshakeLimiter(3);
    limiter.tryAcquire('a');
    limiter.tryAcquire('a');
    limiter.release('a');
    expect(limiter.heldBy('a')).toBe(1);
    limiter.release('zzz');
    expect(limiter.addresses).toBe(1);
  });
});
