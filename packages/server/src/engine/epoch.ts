import { randomBytes } from 'node:crypto';

/** Every epoch id starts with this, so epochs are recognisable in frames and logs (docs/protocol.md §2). */
export const EPOCH_PREFIX = 'e_';

/**
 * 96 random bits: two lifetimes of one user's log must never share an epoch, or a client resuming
 * across a data loss would be answered `ok` with the wrong events (docs/protocol.md §4).
 */
export const EPOCH_RANDOM_BYTES = 12;

/** A source of random bytes; injected by tests that want stable epoch ids. */
export type RandomBytes = (size: number) => Uint8Array;

/**
 * A fresh epoch id: `e_` followed by 16 base64url characters. §4: an epoch names one lifetime of a
 * user's log; a new one starts whenever the store lost that user's data, and seq restarts at 1.
 */
export function newEpoch(random: RandomBytes = randomBytes): string {
  return EPOCH_PREFIX + Buffer.from(random(EPOCH_RANDOM_BYTES)).toString('base64url');
}
