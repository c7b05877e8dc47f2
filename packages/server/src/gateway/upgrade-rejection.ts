import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** A refused upgrade: a plain HTTP answer, never a WebSocket (docs/protocol.md §1). */
export interface UpgradeRejection {
  readonly status: 400 | 403 | 429 | 503;
  /** Short machine-readable reason, used as the metrics label and the body's error code. */
  readonly reason: string;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The body's error code for each refusal status (documented in docs/protocol.md). */
export const UPGRADE_ERROR_CODES = {
  400: 'BAD_REQUEST',
  403: 'FORBIDDEN',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
} as const;

/**
 * Writes the rejection as a complete HTTP/1.1 response and destroys the socket, so a refused client
 * holds no file descriptor (an attacker's retries must cost us nothing).
 */
export function rejectUpgrade(socket: Duplex, rejection: UpgradeRejection): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({
    error: { code: UPGRADE_ERROR_CODES[rejection.status], message: rejection.message },
  });
  const headers: Record<string, string | number> = {
    Connection: 'close',
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...rejection.headers,
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  socket.end(`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status]}\r\n${head}\r\n\r\n${body}`);
  // end() flushes the answer; destroy shortly after in case the peer never reads or closes.
  socket.once('finish', () => socket.destroy());
}
