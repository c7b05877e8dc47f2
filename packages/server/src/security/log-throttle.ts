import { TokenBucket } from './token-bucket.js';

/** Options of {@link LogThrottle}. */
export interface LogThrottleOptions {
  /** Lines per second allowed on average. Default 1. */
  readonly perSec?: number;
  /** Lines allowed at once. Default 10. */
  readonly burst?: number;
}

/** Whether to write a line now; `suppressed` counts the lines dropped since the last one written. */
export type LogDecision = { readonly log: true; readonly suppressed: number } | { readonly log: false };

/**
 * Rate-limits one kind of log line, such as "origin rejected" or "ip blocked", so that a client spraying
 * bad requests cannot flood the logs. Intended use, one throttle per kind of line owned by the gateway:
 *
 * ```ts
 * const decision = originLogThrottle.take(now());
 * if (decision.log) log.info({ reason, origin, ip, suppressed: decision.suppressed }, 'origin rejected');
 * ```
 * Metrics still count every rejection; only the log lines are sampled.
 */
export class LogThrottle {
  readonly #bucket: TokenBucket;
  #suppressed = 0;

  constructor(options: LogThrottleOptions = {}) {
    this.#bucket = new TokenBucket({ ratePerSec: options.perSec ?? 1, burst: options.burst ?? 10 });
  }

  /** Decides on one line at `nowMs`. */
  take(nowMs: number): LogDecision {
    if (!this.#bucket.take(nowMs)) {
      this.#suppressed += 1;
      return { log: false };
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return { log: true, suppressed };
  }
}
