import type { StreamPosition } from './seq-tracker.js';
import type { SseVia } from './sse-socket.js';
import { systemTimers, type Timers } from './timers.js';
import type { Transport } from './transport-choice.js';
import type { WebSocketConstructor } from './web-socket-like.js';

/** How the token reaches the server (docs/protocol.md §2). */
export type TokenTransport =
  /** Offer `bearer.<jwt>` as a second subprotocol; resume via `?since=&epoch=`. Keeps tokens out of URLs. */
  | 'subprotocol'
  /** Send `{"type":"auth","token",since?,epoch?}` as the first frame: for proxies that strip subprotocols. */
  | 'frame';

/**
 * What a connection asks for when it cannot resume (docs/protocol.md F): `'snapshot'`, one `run_snapshot`
 * per active run (and per run changed since the resume point), kept in `client.runs`; `'none'`, only the
 * live stream (and a `reset` when events were lost).
 */
export type CatchUp = 'snapshot' | 'none';

/** Options of `connect()`. Only `url` and `getToken` are required. */
export interface ConnectOptions {
  /** The gateway's WebSocket endpoint, e.g. `wss://example.com/ws`. */
  readonly url: string | URL;
  /** Returns a current JWT; called before the first connection, after auth refusals and before expiry. */
  readonly getToken: () => string | Promise<string>;
  /** The WebSocket constructor; defaults to `globalThis.WebSocket`. In Node 20 pass `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Default `'subprotocol'`. */
  readonly tokenTransport?: TokenTransport;
  /**
   * `'auto'` (default): WebSocket, falling back to Server-Sent Events when WebSockets cannot open or are
   * cut before their welcome twice in a row, and trying WebSocket again `websocketRetryMs` later.
   * `'websocket'` or `'sse'`: only that one.
   */
  readonly transport?: Transport;
  /** How SSE is read: `'fetch'` (default where streaming fetch exists: the JWT goes in a header) or `'eventsource'` (a ticket in the URL). */
  readonly sseVia?: SseVia;
  /** With `transport: 'auto'`, how long to stay on SSE before trying WebSocket again. Default 60 000. */
  readonly websocketRetryMs?: number;
  /** Reconnect delays: full jitter over `min(maxMs, initialMs * 2^attempt)`; see docs/client.md. */
  readonly backoff?: {
    /** Default 500. */
    readonly initialMs?: number;
    /** Default 30 000. */
    readonly maxMs?: number;
    /** A connection must stay open this long before the delays start again from `initialMs`. Default 5 000. */
    readonly resetAfterMs?: number;
  };
  /** After 1012 (server restart), reconnect within `random() * restartJitterMs`. Default 1 000. */
  readonly restartJitterMs?: number;
  /** Reject `sendMessage`/`cancel` when no ack arrived within this. Default 30 000. */
  readonly ackTimeoutMs?: number;
  /** Fetch and send a fresh token this long before the current one expires. Default 30 000. */
  readonly refreshBeforeExpiryMs?: number;
  /** Stop after this many auth refusals in a row (4001, 4002, 4003, 4009). Default 3. */
  readonly maxAuthFailures?: number;
  /** Client pings for liveness; `false` turns them off. Default `{ intervalMs: 25_000, timeoutMs: 10_000 }`. */
  readonly heartbeat?: false | { readonly intervalMs?: number; readonly timeoutMs?: number };
  /** Give up on a connection that has not sent its welcome within this. Default 15 000. */
  readonly connectTimeoutMs?: number;
  /**
   * Delivery receipts: report the last seq handed to handlers in a `seen` frame at most this often
   * (docs/protocol.md B); `false` sends none. Default 1 000.
   */
  readonly seenIntervalMs?: number | false;
  /** Refuse to send frames larger than this; the server closes with 1009 above 64 KiB (§5). Default 65 536. */
  readonly maxFrameBytes?: number;
  /** Default `'snapshot'`: a new tab gets every active run so far in `client.runs`. */
  readonly catchUp?: CatchUp;
  /** Resume from a position saved earlier (e.g. in sessionStorage) instead of starting at the live edge. */
  readonly resumeFrom?: StreamPosition;
  /** Source of randomness for jitter, in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Milliseconds since the epoch, for token expiry. Default `Date.now`. */
  readonly now?: () => number;
  /** Timer functions. Default: the platform's, looked up at call time. */
  readonly timers?: Timers;
  /** Idempotency ids for messages and cancels. Default `crypto.randomUUID()`. */
  readonly generateId?: () => string;
  /** Receives errors thrown by app handlers. Default: rethrown in a microtask, like `EventTarget`. */
  readonly onListenerError?: (error: unknown) => void;
}

/** Options after defaults, checked. */
export interface ResolvedOptions {
  readonly url: URL;
  readonly getToken: () => string | Promise<string>;
  readonly WebSocket: WebSocketConstructor;
  readonly tokenTransport: TokenTransport;
  readonly transport: Transport;
  readonly sseVia: SseVia;
  readonly websocketRetryMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number; readonly resetAfterMs: number };
  readonly restartJitterMs: number;
  readonly ackTimeoutMs: number;
  readonly refreshBeforeExpiryMs: number;
  readonly maxAuthFailures: number;
  readonly heartbeat: false | { readonly intervalMs: number; readonly timeoutMs: number };
  readonly connectTimeoutMs: number;
  readonly seenIntervalMs: number | false;
  readonly maxFrameBytes: number;
  readonly catchUp: CatchUp;
  readonly resumeFrom: StreamPosition | undefined;
  readonly random: () => number;
  readonly now: () => number;
  readonly timers: Timers;
  readonly generateId: () => string;
  readonly onListenerError: ((error: unknown) => void) | undefined;
}

/** A random id: `crypto.randomUUID()` where it exists (secure contexts), else 128 random bits in hex. */
function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  const n = value ?? fallback;
  if (!Number.isFinite(n) || n < min)
    throw new TypeError(`options.${name} must be a number >= ${min}, got ${n}`);
  return n;
}

/** `value`, `fallback` when undefined; throws when it is neither `fallback` nor `other`. */
function oneOf<A extends string, B extends string>(
  name: string,
  value: A | B | undefined,
  fallback: A,
  other: B,
): A | B {
  const v = value ?? fallback;
  if (v !== fallback && v !== other) {
    throw new TypeError(`options.${name} must be "${fallback}" or "${other}", got "${String(v)}"`);
  }
  return v;
}

function resolveUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new TypeError(`options.url must be an absolute ws:// or wss:// URL, got "${String(url)}"`, {
      cause,
    });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new TypeError(`options.url must use ws: or wss:, got "${parsed.protocol}"`);
  }
  return parsed;
}

/** Applies defaults and checks every option; throws a TypeError naming the first bad one. */
export function resolveOptions(options: ConnectOptions): ResolvedOptions {
  if (typeof options.getToken !== 'function') throw new TypeError('options.getToken must be a function');
  const WebSocket = options.WebSocket ?? globalThis.WebSocket;
  if (typeof WebSocket !== 'function') {
    throw new TypeError(
      'options.WebSocket is required: this runtime has no global WebSocket (in Node, pass `ws`)',
    );
  }
  const transport = oneOf('tokenTransport', options.tokenTransport, 'subprotocol', 'frame');
  const catchUp = oneOf('catchUp', options.catchUp, 'snapshot', 'none');
  const mode = options.transport ?? 'auto';
  if (mode !== 'auto' && mode !== 'websocket' && mode !== 'sse')
    throw new TypeError(`options.transport must be "auto", "websocket" or "sse", got "${String(mode)}"`);
  const b = options.backoff ?? {};
  const initialMs = count('backoff.initialMs', b.initialMs, 500, 1);
  const h = options.heartbeat ?? {};
  return {
    url: resolveUrl(options.url),
    getToken: options.getToken,
    WebSocket,
    tokenTransport: transport,
    transport: mode,
    sseVia:
      options.sseVia ??
      (typeof ReadableStream === 'function' && typeof fetch === 'function' ? 'fetch' : 'eventsource'),
    websocketRetryMs: count('websocketRetryMs', options.websocketRetryMs, 60_000, 0),
    backoff: {
      initialMs,
      maxMs: count('backoff.maxMs', b.maxMs, 30_000, initialMs),
      resetAfterMs: count('backoff.resetAfterMs', b.resetAfterMs, 5_000, 0),
    },
    restartJitterMs: count('restartJitterMs', options.restartJitterMs, 1_000, 0),
    ackTimeoutMs: count('ackTimeoutMs', options.ackTimeoutMs, 30_000, 1),
    refreshBeforeExpiryMs: count('refreshBeforeExpiryMs', options.refreshBeforeExpiryMs, 30_000, 0),
    maxAuthFailures: count('maxAuthFailures', options.maxAuthFailures, 3, 1),
    heartbeat:
      h === false
        ? false
        : {
            intervalMs: count('heartbeat.intervalMs', h.intervalMs, 25_000, 1),
            timeoutMs: count('heartbeat.timeoutMs', h.timeoutMs, 10_000, 1),
          },
    connectTimeoutMs: count('connectTimeoutMs', options.connectTimeoutMs, 15_000, 1),
    // At most once a second: the server takes one frame per second per connection for this.
    seenIntervalMs:
      options.seenIntervalMs === false
        ? false
        : count('seenIntervalMs', options.seenIntervalMs, 1_000, 1_000),
    maxFrameBytes: count('maxFrameBytes', options.maxFrameBytes, 65_536, 1),
    catchUp,
    resumeFrom: options.resumeFrom,
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    timers: options.timers ?? systemTimers,
    generateId: options.generateId ?? randomId,
    onListenerError: options.onListenerError,
  };
}
