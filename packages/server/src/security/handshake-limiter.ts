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
  readonly #byIp = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Takes one handshake for `ip`, or returns false when it already holds `limit`. */
  tryAcquire(ip: string): boolean {
    const held = this.#byIp.get(ip) ?? 0;
    if (held >= this.#limit) return false;
    this.#byIp.set(ip, held + 1);
    return true;
  }

  /** Gives one back; an address with none left is forgotten, so the map holds only live handshakes. */
  release(ip: string): void {
    const held = this.#byIp.get(ip);
    if (held === undefined) return;
    if (held <= 1) this.#byIp.delete(ip);
    else this.#byIp.set(ip, held - 1);
  }

  /** Handshakes `ip` holds now. */
  heldBy(ip: string): number {
    return this.#byIp.get(ip) ?? 0;
  }

  /** Addresses holding at least one handshake. */
  get addresses(): number {
    return this.#byIp.size;
  }
}
