/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second; fractions allowed (0.5 = one every 2 s). */
  readonly ratePerSec: number;
  /** Capacity: the most takes allowed at once after a quiet period. */
  readonly burst: number;
}

/**
 * A token bucket (docs/protocol.md §5: inbound frames per connection, 20/s with a burst of 40). It starts
 * full; each `take` spends one token, and tokens come back at `ratePerSec`, up to `burst`. One exists per
 * connection, so its state is two numbers, refilled lazily from the time passed to `take`: no timers.
 */
export class TokenBucket {
  readonly #ratePerSec: number;
  readonly #burst: number;
  #tokens: number;
  /** When tokens were last added. */
  #lastMs: number;

  /**
   * Builds a full bucket. `nowMs` is when it was filled; without it, the first `take` counts as that
   * moment. Throws a TypeError naming a rate or burst that is not a positive finite number.
   */
  constructor(options: TokenBucketOptions, nowMs = Number.NEGATIVE_INFINITY) {
    const { ratePerSec, burst } = options;
    if (!(Number.isFinite(ratePerSec) && ratePerSec > 0)) {
      throw new TypeError(`TokenBucket: ratePerSec must be a finite number > 0 (got ${String(ratePerSec)})`);
    }
    if (!(Number.isFinite(burst) && burst >= 1)) {
      throw new TypeError(`TokenBucket: burst must be a finite number >= 1 (got ${String(burst)})`);
    }
    this.#ratePerSec = ratePerSec;
    this.#burst = burst;
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Spends one token if there is one at `nowMs`; false means the caller is over the rate. */
  take(nowMs: number): boolean {
    const elapsedMs = nowMs - this.#lastMs;
    // A clock that steps back adds nothing (and does not move lastMs back, which would add twice).
    if (elapsedMs > 0) {
      // Multiply before dividing: 50 ms at 20/s is exactly 1 token, not 0.9999….
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs * this.#ratePerSec) / 1000);
      this.#lastMs = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
