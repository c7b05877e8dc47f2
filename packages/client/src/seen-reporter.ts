import type { TimerHandle, Timers } from './timers.js';

/**
 * Delivery receipts (docs/protocol.md B, "Delivery receipts"): tells the server the last seq handed to
 * the application, in a `seen` frame, at most once per `intervalMs`. The first event after a quiet spell
 * is reported at once; events within the interval are coalesced into one report at its end.
 *
 * `idle → reported (cooling down) → idle`; a seq handed while cooling down is sent when the cooldown ends.
 */
export class SeenReporter {
  readonly #timers: Timers;
  readonly #intervalMs: number;
  /** Sends `{"type":"seen","seq":N}`; false when there is no open connection to send it on. */
  readonly #send: (seq: number) => boolean;
  #handed = 0;
  #reported = 0;
  #cooldown: TimerHandle | undefined;

  constructor(timers: Timers, intervalMs: number, send: (seq: number) => boolean) {
    this.#timers = timers;
    this.#intervalMs = intervalMs;
    this.#send = send;
  }

  /** The application got the event `seq`. */
  handed(seq: number): void {
    this.#handed = seq;
    if (this.#cooldown === undefined) this.#report();
  }

  /**
   * A new connection is open: it knows nothing seen yet, so the last seq handed (`lastSeq`, 0 for none or
   * after a reset) is reported on it at once.
   */
  connected(lastSeq: number): void {
    this.stop();
    this.#reported = 0;
    this.#handed = lastSeq;
    if (lastSeq > 0) this.#report();
  }

  /** Cancels a pending report (the connection is gone). */
  stop(): void {
    if (this.#cooldown !== undefined) this.#timers.clearTimeout(this.#cooldown);
    this.#cooldown = undefined;
  }

  #report(): void {
    if (this.#handed === this.#reported || !this.#send(this.#handed)) return;
    this.#reported = this.#handed;
    this.#cooldown = this.#timers.setTimeout(() => {
      this.#cooldown = undefined;
      this.#report();
    }, this.#intervalMs);
  }
}
