import type { ServerResponse } from 'node:http';
import type { ErrorDetails } from '../protocol/frames.js';

/** Writes a JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Writes the error body of docs/protocol.md §8: `{"error":{"code","message"}}`, with `Connection: close`
 * (docs/protocol.md D). A refused request's body may still be arriving, a byte at a time: Node would
 * read and discard it on a kept-alive socket for as long as the peer likes, so the socket is closed
 * once the answer is written (Node ends and destroys it after `Connection: close`) and the rest of
 * the body is never read.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
  details?: ErrorDetails,
): void {
  sendJson(res, status, { error: { code, message, ...details } }, { ...headers, Connection: 'close' });
}
