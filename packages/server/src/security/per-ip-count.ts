/**
 * How many of something each client IP holds now: handshakes not yet past auth, plain HTTP sockets.
 * An address that holds none is forgotten, so the map only ever holds live entries. Pure bookkeeping.
 */
export class PerIpCount {
  readonly #byIp = new Map<string, number>();

  /** What `ip` holds now. */
  heldBy(ip: string): number {
    return this.#byIp.get(ip) ?? 0;
  }

  /** Addresses holding at least one. */
  get addresses(): number {
    return this.#byIp.size;
  }

  add(ip: string): void {
    this.#byIp.set(ip, this.heldBy(ip) + 1);
  }

  /** Gives one back; an address it does not hold is ignored. */
  remove(ip: string): void {
    const held = this.#byIp.get(ip);
    if (held === undefined) return;
    if (held <= 1) this.#byIp.delete(ip);
    else this.#byIp.set(ip, held - 1);
  }
}
