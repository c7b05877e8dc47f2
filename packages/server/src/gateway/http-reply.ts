import type { ServerResponse } from 'node:http';
import { ErrorCode } from '../protocol/error-codes.js';
import { ID_MAX_LENGTH, idSchema } from '../protocol/events.js';
import type { ErrorDetails } from '../protocol/frames.js';

/** Writes a JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Writes a JSON answer already serialised (`text` must be JSON). */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers?: Record<string, string>,
): void {
  const head = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  };
  res.writeHead(status, headers === undefined ? head : { ...head, ...headers });
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

/** A percent-decoded path segment, or undefined when its encoding is malformed (`%E0%A4%A`, `%zz`). */
export function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The run id of a route's path segment (`/v1/runs/:run_id/cancel`, `/v1/ag-ui/runs/:run_id`), or undefined
 * once it answered `400 INVALID_MESSAGE` for a malformed encoding or an id outside 1..ID_MAX_LENGTH.
 */
export function runIdSegment(res: ServerResponse, segment: string): string | undefined {
  const runId = decodedSegment(segment);
  if (runId === undefined) {
    sendError(res, 400, ErrorCode.InvalidMessage, 'run_id: not valid percent-encoded UTF-8');
  } else if (!idSchema.safeParse(runId).success) {
    sendError(res, 400, ErrorCode.InvalidMessage, `run_id: must be 1..${ID_MAX_LENGTH} characters`);
  } else {
    return runId;
  }
  return undefined;
}
