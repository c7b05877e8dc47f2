/** Options for {@link BadFrameCounter}. */
export interface BadFrameCounterOptions {
  /** Malformed frames within the window that close the connection. */
  readonly limit: number;
  readonly windowMs: number;
}

/**
 * Counts malformed frames of one connection (docs/protocol.md §5: 10 in 60 s close with 4008). The window
 * is fixed and starts at the first bad frame after the previous window ended: two numbers of state.
 */
export class BadFrameCounter {
  readonly #limit: number;
  readonly #windowMs: number;
  #windowStart = 0;
  #count = 0;

  constructor(options: BadFrameCounterOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
  }

  /** Records one bad frame at `nowMs`; true when the connection must now be closed. */
  record(nowMs: number): boolean {
    if (this.#count === 0 || nowMs - this.#windowStart >= this.#windowMs) {
      this.#windowStart = nowMs;
      this.#count = 0;
    }
    this.#count++;
    return this.#count >= this.#limit;
  }
}
