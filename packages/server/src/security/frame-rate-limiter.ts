import { TokenBucket } from './token-bucket.js';

/** What to do with one inbound frame under the rate limit (docs/protocol.md §5). */
export type RateDecision = 'accept' | 'limited' | 'close';

/** Options for {@link FrameRateLimiter}. */
export interface FrameRateLimiterOptions {
  /** Frames per second (token bucket rate). */
  readonly ratePerSec: number;
  /** Token bucket size. */
  readonly burst: number;
  /** Consecutive one-second windows with refused frames before the connection is closed. */
  readonly strikes: number;
}

const WINDOW_MS = 1000;

/**
 * Inbound frame rate of one connection (docs/protocol.md §5): a token bucket (20/s, burst 40); each excess
 * frame is `limited` (error RATE_LIMITED), and when refusals happen in `strikes` consecutive
 * one-second windows the answer is `close` (4029). A window with no refusal ends the streak.
 */
export class FrameRateLimiter {
  readonly #bucket: TokenBucket;
  readonly #strikes: number;
  #lastExcessWindow = Number.NEGATIVE_INFINITY;
  #streak = 0;

  constructor(options: FrameRateLimiterOptions, nowMs: number) {
    this.#bucket = new TokenBucket({ ratePerSec: options.ratePerSec, burst: options.burst }, nowMs);
    this.#strikes = options.strikes;
  }

  /** Decides for one frame arriving at `nowMs`. */
  check(nowMs: number): RateDecision {
    if (this.#bucket.take(nowMs)) return 'accept';
    const window = Math.floor(nowMs / WINDOW_MS);
    if (window !== this.#lastExcessWindow) {
      this.#streak = window === this.#lastExcessWindow + 1 ? this.#streak + 1 : 1;
      this.#lastExcessWindow = window;
    }
    return this.#streak >= this.#strikes ? 'close' : 'limited';
  }
}
