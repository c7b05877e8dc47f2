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
  /**
   * The message's thread already has a run and its busy policy is `reject` (docs/protocol.md E); the
   * message names the thread's run. Nothing started.
   */
  Busy: 'BUSY',
  /** A dependency (the engine, Redis) is unavailable; retry later. */
  Unavailable: 'UNAVAILABLE',
  /** A bug in the gateway. Nothing accepted before it was lost. */
  Internal: 'INTERNAL',
  /**
   * The last frame of a Server-Sent Events stream the gateway ends (docs/protocol.md H): `data.close_code`
   * is the WebSocket close code that would have ended a socket, and means the same to the client.
   */
  StreamClosed: 'STREAM_CLOSED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
