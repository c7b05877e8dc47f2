/** Which transport carries the connection (docs/client.md): `auto` tries WebSocket first. */
export type Transport = 'auto' | 'websocket' | 'sse';

/**
 * Picks the transport of each attempt. Pure. `auto` uses WebSocket, and switches to Server-Sent Events
 * after two WebSocket attempts in a row that could not open or were cut before their welcome (1006:
 * a proxy that refuses upgrades or drops them); after `retryMs` on SSE it tries WebSocket again.
 */
export class TransportChoice {
  readonly #mode: Transport;
  readonly #retryMs: number;
  #sse: boolean;
  #failures = 0;
  #since = 0;

  constructor(mode: Transport, retryMs: number) {
    this.#mode = mode;
    this.#retryMs = retryMs;
    this.#sse = mode === 'sse';
  }

  /** True when the next attempt goes over SSE. */
  sse(nowMs: number): boolean {
    if (this.#mode === 'auto' && this.#sse && nowMs - this.#since >= this.#retryMs) this.#sse = false;
    return this.#sse;
  }

  /** Ms until `auto` should leave a working SSE stream to try WebSocket again; undefined otherwise. */
  retryIn(nowMs: number): number | undefined {
    return this.#mode === 'auto' && this.#sse ? this.#retryMs - (nowMs - this.#since) : undefined;
  }

  /** An attempt ended: `welcomed` when its welcome had arrived, `code` its close code. */
  closed(welcomed: boolean, code: number, nowMs: number): void {
    if (this.#mode !== 'auto' || this.#sse) return;
    this.#failures = welcomed || code !== 1006 ? 0 : this.#failures + 1;
    if (this.#failures < 2) return;
    this.#failures = 0;
    this.#sse = true;
    this.#since = nowMs;
  }
}
