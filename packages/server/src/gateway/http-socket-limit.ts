import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { parseIp } from '../security/ip-address.js';
import { LogThrottle } from '../security/log-throttle.js';
import { PerIpCount } from '../security/per-ip-count.js';
import { rejectUpgrade } from './upgrade-rejection.js';

/** The part of a socket the limit uses (a net.Socket in the gateway, a fake in unit tests). */
export type LimitedSocket = Pick<Socket, 'remoteAddress' | 'once' | 'off' | 'end' | 'destroy' | 'destroyed'>;

/** Options of {@link HttpSocketLimit}. */
export interface HttpSocketLimitOptions {
  /** Plain HTTP sockets open at once, all addresses together (`--max-http-sockets`). */
  readonly maxSockets: number;
  /** Plain HTTP sockets one address may hold (`--max-http-sockets-per-ip`). */
  readonly maxPerIp: number;
  /** Addresses the per-address cap does not apply to (trusted proxies carry many clients). */
  readonly exempt: (address: string) => boolean;
  readonly log: Logger;
  readonly now: () => number;
}

/** Why a socket was refused. */
export type HttpSocketRefusal = 'per_ip' | 'total';

/**
 * Caps the sockets that are HTTP, not WebSocket (issue 13): every accepted TCP socket counts from
 * `admit` until it closes or is handed to the WebSocket server (`release` on upgrade), so a peer that
 * drips bytes, or holds idle keep-alive sockets, can take at most its share, and an address that is not
 * attacking (a health probe) is still served. Node's `server.maxConnections` cannot do this: it also
 * counts upgraded WebSockets, which `--max-connections` bounds on its own.
 *
 * A refused socket gets `503 UNAVAILABLE` with `Retry-After: 1` and `Connection: close`, before its
 * request is read, and is destroyed once that is written: nothing of it was processed, so a retry is safe.
 */
export class HttpSocketLimit {
  readonly #options: HttpSocketLimitOptions;
  readonly #perIp = new PerIpCount();
  /** Sockets counted now, with the address they count against. */
  readonly #held = new Map<LimitedSocket, string>();
  readonly #refusalLog = new LogThrottle({ perSec: 1, burst: 10 });
  /**
   * One `close` listener shared by every socket (`this` is the socket), removed again by `release`: a
   * WebSocket would otherwise carry a dead closure (and a grown listener array) for its whole life.
   */
  readonly #onClose: (this: LimitedSocket) => void;

  constructor(options: HttpSocketLimitOptions) {
    this.#options = options;
    const release = (socket: LimitedSocket): void => this.release(socket);
    this.#onClose = function onClose(this: LimitedSocket) {
      release(this);
    };
  }

  /** Plain HTTP sockets counted now. */
  get size(): number {
    return this.#held.size;
  }

  /** Sockets counted now against `address`. */
  heldBy(address: string): number {
    return this.#perIp.heldBy(addressKey(address));
  }

  /**
   * A socket was accepted: count it (until it closes or is released), or refuse it with a 503 and close
   * it. Returns the refusal, or undefined when admitted.
   */
  admit(socket: LimitedSocket): HttpSocketRefusal | undefined {
    const raw = socket.remoteAddress ?? '';
    const key = addressKey(raw);
    const exempt = raw !== '' && this.#options.exempt(raw);
    const mine = this.#perIp.heldBy(key);
    const refusal: HttpSocketRefusal | undefined =
      this.#held.size >= this.#options.maxSockets
        ? 'total'
        : !exempt && mine >= this.#options.maxPerIp
          ? 'per_ip'
          : undefined;
    if (refusal !== undefined) {
      this.#refuse(socket, key, refusal);
      return refusal;
    }
    this.#held.set(socket, key);
    this.#perIp.add(key);
    socket.once('close', this.#onClose);
    return undefined;
  }

  /** Stops counting a socket: it closed, or it became a WebSocket. Idempotent. */
  release(socket: LimitedSocket): void {
    const key = this.#held.get(socket);
    if (key === undefined) return;
    this.#held.delete(socket);
    this.#perIp.remove(key);
    socket.off('close', this.#onClose);
  }

  #refuse(socket: LimitedSocket, key: string, refusal: HttpSocketRefusal): void {
    const message =
      refusal === 'total'
        ? 'this node has too many open HTTP connections; retry later'
        : 'too many open HTTP connections from this address; retry later';
    rejectUpgrade(socket as Socket, {
      status: 503,
      reason: `http_sockets_${refusal}`,
      message,
      headers: { 'Retry-After': '1' },
    });
    const decision = this.#refusalLog.take(this.#options.now());
    if (decision.log) {
      this.#options.log.warn(
        { ip: key, reason: refusal, held: this.#held.size, suppressed: decision.suppressed },
        'http socket refused',
      );
    }
  }
}

/** One key per address, whatever its spelling (IPv4-mapped IPv6 is the IPv4 address). */
function addressKey(address: string): string {
  return parseIp(address)?.address ?? (address === '' ? 'unknown' : address);
}
