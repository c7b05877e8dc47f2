import type { TimerHandle, Timers } from './timers.js';

/** Heartbeat timing. */
export interface HeartbeatOptions {
  /** Send a `ping` frame after this long without a ping (docs/protocol.md §6). */
  readonly intervalMs: number;
  /** Declare the connection dead when nothing at all arrives this long after a ping. */
  readonly timeoutMs: number;
}

/**
 * Application-level liveness for clients that cannot see protocol pings (browsers, docs/protocol.md §6).
 * Every `intervalMs` it sends a ping; if no frame of any kind arrives within `timeoutMs` after it, the
 * connection is dead (a laptop woke up, a NAT dropped the mapping) and `onDead` runs. Any inbound frame
 * counts as a sign of life, so a pong stuck behind a burst of events does not kill a busy connection.
 *
 * `idle → waiting-for-interval → waiting-for-life → (life: waiting-for-interval | timeout: dead)`
 */
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #timers: Timers;
  readonly #sendPing: () => void;
  readonly #onDead: () => void;
  #interval: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;

  constructor(
    options: HeartbeatOptions,
    timers: Timers,
    hooks: { sendPing: () => void; onDead: () => void },
  ) {
    this.#options = options;
    this.#timers = timers;
    this.#sendPing = hooks.sendPing;
    this.#onDead = hooks.onDead;
  }

  /** Starts the cycle (after welcome: before auth, any frame but `auth` would close with 4001). */
  start(): void {
    this.stop();
    this.#schedulePing();
  }

  /** A frame arrived: the connection is alive. */
  alive(): void {
    if (this.#deadline === undefined) return;
    this.#timers.clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** Stops all timers; idempotent. */
  stop(): void {
    if (this.#interval !== undefined) this.#timers.clearTimeout(this.#interval);
    if (this.#deadline !== undefined) this.#timers.clearTimeout(this.#deadline);
    this.#interval = undefined;
    this.#deadline = undefined;
  }

  #schedulePing(): void {
    this.#interval = this.#timers.setTimeout(() => {
      this.#schedulePing();
      if (this.#deadline !== undefined) return; // still waiting for the previous ping's answer
      this.#deadline = this.#timers.setTimeout(() => {
        this.stop();
        this.#onDead();
      }, this.#options.timeoutMs);
      this.#sendPing();
    }, this.#options.intervalMs);
  }
}
