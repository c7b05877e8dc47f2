/** The codes of `error` frames, shared with the client (docs/protocol.md §6). */
export { ErrorCode } from '@agentcast/client';

/** HTTP-only error codes (docs/protocol.md §8 and D). */
export const HttpErrorCode = {
  /** The API key is missing or wrong. */
  Unauthorized: 'UNAUTHORIZED',
  /** The body exceeds the publish size limit. */
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** No such route. */
  NotFound: 'NOT_FOUND',
  /** The route exists, the method does not. */
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  /** The origin of a browser request is not allowed for this route. */
  Forbidden: 'FORBIDDEN',
  /** A publish's `Idempotency-Key` was already used with another body (docs/protocol.md D). */
  IdempotencyKeyReused: 'IDEMPOTENCY_KEY_REUSED',
} as const;

export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];
