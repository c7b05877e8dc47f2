import { PerIpCount } from './per-ip-count.js';

/**
 * Counts the connections of each client IP that have not yet got past authentication (docs/protocol.md
 * C): from the accepted upgrade until the welcome, or until the connection closes before it. A peer that
 * opens sockets and never authenticates holds each for up to auth_timeout_ms; without a cap per address
 * one host could fill max_connections with them and lock every other user out.
 *
 * Pure bookkeeping, no I/O: the upgrade path asks `tryAcquire` and the connection calls `release` once.
 */
export class HandshakeLimiter {
  readonly #limit: number;
  readonly #held = new PerIpCount();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Takes one handshake for `ip`, or returns false when it already holds `limit`. */
  tryAcquire(ip: string): boolean {
    if (this.#held.heldBy(ip) >= this.#limit) return false;
    this.#held.add(ip);
    return true;
  }

  /** Gives one back; an address with none left is forgotten, so the map holds only live handshakes. */
  release(ip: string): void {
    this.#held.remove(ip);
  }

  /** Handshakes `ip` holds now. */
  heldBy(ip: string): number {
    return this.#held.heldBy(ip);
  }

  /** Addresses holding at least one handshake. */
  get addresses(): number {
    return this.#held.addresses;
  }
}
