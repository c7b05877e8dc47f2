/**
 * Makes a handler type bivariant in its parameter (as method parameters are), so both the DOM `WebSocket`
 * (whose handlers take `Event` subclasses) and `ws` (whose handlers take its own event classes) fit.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/**
 * The part of the WebSocket API the client uses: the browser's `WebSocket` and the `ws` package both
 * provide it. Text frames arrive as strings in both (`ws` converts them for `onmessage`).
 */
export interface WebSocketLike {
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `import WebSocket from 'ws'` in Node. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;
