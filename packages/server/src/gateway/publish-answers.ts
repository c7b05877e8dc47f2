import { createHash } from 'node:crypto';
import { provesNothingApplied } from '../engine/engine-unavailable.js';

/** What scopes a publish's idempotency key to the API key: a digest, so the key itself is never stored. */
export function keyScope(apiKey: string | undefined): string {
  return createHash('sha256')
    .update(apiKey ?? '')
    .digest('hex')
    .slice(0, 16);
}

/**
 * The 503 message of a publish the engine failed (docs/protocol.md D), true to what is known: "nothing
 * was stored" only when the engine refused before sending anything; otherwise the write may have run
 * in Redis after its timeout, and only a retry with the same `Idempotency-Key` cannot store it twice.
 */
export function unstoredMessage(
  error: unknown,
  events: number,
  options: { readonly keyed: boolean } = { keyed: false },
): string {
  if (provesNothingApplied(error)) return 'the engine is unavailable; nothing was stored, retry later';
  if (options.keyed) {
    // One script stores a keyed publish: all of it or none.
    const what =
      events === 1
        ? 'the event may or may not have been stored'
        : 'none or all of the events may have been stored';
    return `the engine did not confirm the write: ${what}; retry with the same Idempotency-Key, which stores ${events === 1 ? 'it' : 'them'} at most once`;
  }
  const what =
    events === 1
      ? 'the event may or may not have been stored, and a retry may store it twice'
      : 'none, some or all of the events may have been stored, and a retry may store them twice';
  return `the engine did not confirm the write: ${what}; send an Idempotency-Key header so that a retry stores at most once (docs/protocol.md D)`;
}
