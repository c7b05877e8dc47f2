import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';

/**
 * What the registry needs of a session of any transport (a WebSocket Connection, an SSE stream):
 * `authenticating → joining → open → closed`, its token's expiry, and how to ping, close and drop it.
 */
export interface RegisteredSession {
  readonly state: 'authenticating' | 'joining' | 'open' | 'closed';
  /** When the session's token expires (ms since the epoch); the expiry sweep closes it with 4002 after. */
  readonly expiresAtMs: number;
  /** Unanswered protocol pings; 2 drop the session. Transports without pongs keep it at 0. */
  readonly pingsUnanswered: number;
  readonly log: Logger;
  ping(): void;
  close(code: CloseCode, reason: string): void;
  terminate(): void;
}

/** Options of {@link ConnectionRegistry}. */
export interface ConnectionRegistryOptions {
  readonly heartbeatMs: number;
  readonly now: () => number;
  readonly metrics: Metrics;
}

/** How often token expiry is checked; JWT `exp` has one-second resolution anyway. */
const EXPIRY_SWEEP_MS = 1000;

/**
 * Every session of one gateway, of every transport, authenticated or not (so max_connections counts
 * them all), and the two sweeps that serve them all: one
 * interval for the heartbeat and one for token expiry, never a timer per connection (docs/architecture.md,
 * "Hot path").
 */
export class ConnectionRegistry {
  readonly #connections = new Set<RegisteredSession>();
  readonly #heartbeatMs: number;
  readonly #now: () => number;
  readonly #metrics: Metrics;
  #heartbeat: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  /** Set while closing everything: called when the last connection has gone. */
  #onEmpty: (() => void) | undefined;

  constructor(options: ConnectionRegistryOptions) {
    this.#heartbeatMs = options.heartbeatMs;
    this.#now = options.now;
    this.#metrics = options.metrics;
  }

  get size(): number {
    return this.#connections.size;
  }

  add(conn: RegisteredSession): void {
    this.#connections.add(conn);
    this.#metrics.connectionsOpened.inc();
    this.#metrics.connections.set(this.#connections.size);
  }

  delete(conn: RegisteredSession): void {
    if (!this.#connections.delete(conn)) return;
    this.#metrics.connections.set(this.#connections.size);
    if (this.#connections.size === 0) this.#onEmpty?.();
  }

  /** Starts the sweeps. Their timers do not keep the process alive. */
  start(): void {
    this.#heartbeat ??= setInterval(() => this.sweepHeartbeat(), this.#heartbeatMs).unref();
    this.#expiry ??= setInterval(
      () => this.sweepExpiry(),
      Math.min(EXPIRY_SWEEP_MS, this.#heartbeatMs),
    ).unref();
  }

  /** Stops the sweeps. Idempotent. */
  stop(): void {
    clearInterval(this.#heartbeat);
    clearInterval(this.#expiry);
  }

  /** §6: ping every open connection; drop one that answered none of the last two pings. */
  sweepHeartbeat(): void {
    for (const conn of this.#connections) {
      if (conn.pingsUnanswered >= 2) {
        conn.log.info('no pong to the last two pings; dropping');
        conn.terminate();
      } else if (conn.state === 'open') {
        conn.ping();
      }
    }
  }

  /** §2: a connection whose token expired, without a fresh one sent in time, is closed with 4002. */
  sweepExpiry(): void {
    const now = this.#now();
    for (const conn of this.#connections) {
      if (conn.state === 'open' && conn.expiresAtMs <= now)
        conn.close(CloseCode.TokenExpired, CloseReason.TokenExpired);
    }
  }

  /** Closes every connection with `code`; peers that do not finish the closing handshake in `graceMs` are dropped. */
  async closeAll(code: CloseCode, reason: string, graceMs: number): Promise<void> {
    if (this.#connections.size > 0) {
      const empty = new Promise<void>((resolve) => {
        this.#onEmpty = resolve;
      });
      for (const conn of this.#connections) conn.close(code, reason);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([empty, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const conn of this.#connections) conn.terminate();
  }
}
