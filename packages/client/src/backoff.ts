/** Backoff bounds in milliseconds. */
export interface BackoffOptions {
  /** The cap of the first delay; each attempt doubles it. */
  readonly initialMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
}

/**
 * Exponential backoff with full jitter: attempt `n` (0-based) waits `random() * min(maxMs, initialMs * 2^n)`.
 * Full jitter spreads a crowd of clients that lost the same server over the whole window, so they do not
 * reconnect in lockstep (the "thundering herd"). Pure: the caller owns the attempt counter and `random`.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  // 2^n overflows to Infinity past n = 1023; Math.min keeps that harmless, but clamp to stay in integers.
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * ceiling);
}

/**
 * The attempt counter for {@link backoffDelay}. `next()` returns the delay of the next attempt and counts it;
 * `reset()` starts again from `initialMs` (the client calls it once a connection proved stable).
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions, random: () => number) {
    this.#options = options;
    this.#random = random;
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt, in ms; counts the attempt. */
  next(): number {
    const delay = backoffDelay(this.#attempt, this.#options, this.#random);
    this.#attempt += 1;
    return delay;
  }

  /** Starts again from the smallest window. */
  reset(): void {
    this.#attempt = 0;
  }
}
