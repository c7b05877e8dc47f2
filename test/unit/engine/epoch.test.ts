import { describe, expect, it, vi } from 'vitest';
import { EPOCH_RANDOM_BYTES, newEpoch } from '../../../packages/server/src/engine/epoch.js';

describe('newEpoch', () => {
  it('is e_ followed by the base64url of 12 random bytes', () => {
    const random = vi.fn((size: number) => new Uint8Array(size).fill(0xff));
    expect(newEpoch(random)).toBe('e_________________');
    expect(random).toHaveBeenCalledWith(EPOCH_RANDOM_BYTES);
    expect(newEpoch((size) => new Uint8Array(size))).toBe('e_AAAAAAAAAAAAAAAA');
  });

  it('never repeats across many calls with the default randomness', () => {
    const epochs = new Set(Array.from({ length: 10_000 }, () => newEpoch()));
    expect(epochs.size).toBe(10_000);
    for (const epoch of [...epochs].slice(0, 100)) expect(epoch).toMatch(/^e_[A-Za-z0-9_-]{16}$/);
  });
});
