import type { PresenceEntry } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import type { PresenceState } from './presence-state.js';

/**
 * What the registry needs of a session of any transport (a WebSocket Connection, an SSE stream):
 * `authenticating → joining → open → closed`, its token's expiry, and how to ping, close and drop it.
 */
export interface RegisteredSession {
  readonly id: string;
  /** The user, once its token verified ('' before). */
  readonly userId: string;
  readonly state: 'authenticating' | 'joining' | 'open' | 'closed';
  /** When the session's token expires (ms since the epoch); the expiry sweep closes it with 4002 after. */
  readonly expiresAtMs: number;
  /** Unanswered protocol pings; 2 drop the session. Transports without pongs keep it at 0. */
  readonly pingsUnanswered: number;
  /** What it reports to presence (docs/protocol.md D), for transports that report it. */
  readonly presence?: PresenceState | undefined;
  readonly log: Logger;
  isClosed(): boolean;
  ping(): void;
  close(code: CloseCode, reason: string): void;
  terminate(): void;
}

/** Options of {@link ConnectionRegistry}. */
export interface ConnectionRegistryOptions {
  readonly heartbeatMs: number;
  readonly now: () => number;
  readonly metrics: Metrics;
  /** This node's `--server-id`, in presence records. */
  readonly serverId?: string;
  /** Writes a batch of presence records (Engine.putPresence); without it presence is not reported. */
  readonly writePresence?: (entries: readonly { userId: string; entry: PresenceEntry }[]) => Promise<void>;
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
  readonly #serverId: string;
  readonly #writePresence: ConnectionRegistryOptions['writePresence'];
  #heartbeat: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;
  /** Set while closing everything: called when the last connection has gone. */
  #onEmpty: (() => void) | undefined;

  constructor(options: ConnectionRegistryOptions) {
    this.#heartbeatMs = options.heartbeatMs;
    this.#now = options.now;
    this.#metrics = options.metrics;
    this.#serverId = options.serverId ?? '';
    this.#writePresence = options.writePresence;
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
      () => {
        this.sweepExpiry();
        this.sweepPresence();
      },
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

  /**
   * Presence (docs/protocol.md D): writes, in one batch, the records of the open connections whose
   * delivered or seen seq moved since their last report; so a record is at most about a second behind.
   * A failed write marks them due again.
   */
  sweepPresence(): void {
    const write = this.#writePresence;
    if (write === undefined) return;
    const due: { conn: RegisteredSession; presence: PresenceState }[] = [];
    for (const conn of this.#connections) {
      const presence = conn.presence;
      if (conn.state === 'open' && presence?.dirty === true) due.push({ conn, presence });
    }
    if (due.length === 0) return;
    const entries = due.map(({ conn, presence }) => ({
      userId: conn.userId,
      entry: presence.report(conn.id, this.#serverId),
    }));
    write(entries).catch(() => {
      // The engine is down (it logs that once): report these again at the next sweep.
      for (const { presence } of due) presence.dirty = true;
    });
  }

  /**
   * Closes every connection of `userId` on this node with `code`, open or still joining (its user is
   * known once its token verified): the one place a user's connections are ended from outside
   * (docs/protocol.md D, "Disconnecting a user"). Returns how many it closed.
   */
  closeUser(userId: string, code: CloseCode, reason: string): number {
    let closed = 0;
    for (const conn of this.#connections) {
      if (conn.userId !== userId || conn.isClosed()) continue;
      conn.close(code, reason);
      closed++;
    }
    return closed;
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
