import { describe, expect, it } from 'vitest';
import { reconnectDelay } from '../../../packages/server/src/engine/reconnect-delay.js';

describe('reconnectDelay', () => {
  const bounds = { min: 50, max: 2000 };

  it.each([
    [1, 50],
    [2, 100],
    [3, 200],
    [6, 1600],
    [7, 2000],
    [100, 2000],
    [0, 50],
  ])('waits min·2^(attempt-1) capped at max: attempt %i -> %i ms without jitter', (attempt, expected) => {
    expect(reconnectDelay(attempt, bounds, () => 0)).toBe(expected);
  });

  it('adds at most 10% jitter', () => {
    expect(reconnectDelay(1, bounds, () => 0.999)).toBe(55);
    expect(reconnectDelay(7, bounds, () => 0.5)).toBe(2100);
  });
});
