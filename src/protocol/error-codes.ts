/**
 * Error codes carried by `error` frames and HTTP error bodies (PROTOCOL.md §6, §8).
 * Errors never close a connection by themselves. Retired codes must not be reused.
 */
export const ErrorCode = {
  /** The frame is not valid JSON text. */
  InvalidJson: 'INVALID_JSON',
  /** Valid JSON, but not a valid frame or body (wrong field, wrong type, binary frame). */
  InvalidMessage: 'INVALID_MESSAGE',
  /** A frame `type` the gateway does not know. */
  UnknownType: 'UNKNOWN_TYPE',
  /** Too many frames or runs; slow down. */
  RateLimited: 'RATE_LIMITED',
  /** The thing named (e.g. a run) does not exist for this user. */
  NotFound: 'NOT_FOUND',
  /** A dependency (the engine, Redis) is unavailable; retry later. */
  Unavailable: 'UNAVAILABLE',
  /** A bug in the gateway. Nothing accepted before it was lost. */
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP-only error codes (PROTOCOL.md §8). */
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
} as const;

export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];
