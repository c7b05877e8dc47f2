/**
 * Error codes carried by `error` frames and HTTP error bodies (docs/protocol.md §6, §8).
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
  /** The thing was settled otherwise first (an approval another answer resolved, docs/protocol.md G). */
  Conflict: 'CONFLICT',
  /** A dependency (the engine, Redis) is unavailable; retry later. */
  Unavailable: 'UNAVAILABLE',
  /** A bug in the gateway. Nothing accepted before it was lost. */
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
