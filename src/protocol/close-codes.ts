/**
 * WebSocket close codes used by agentcast (PROTOCOL.md §7). One table, never renumbered or reused.
 * The comment on each entry states what the client is expected to do.
 */
export const CloseCode = {
  /** 1000: normal closure. The client does not reconnect unless it wants to. */
  Normal: 1000,
  /** 1001: the peer is going away. Reconnect with backoff. */
  GoingAway: 1001,
  /** 1009: a frame exceeded max_payload (§5). Fix the client; reconnecting resends the same frame. */
  FrameTooLarge: 1009,
  /** 1011: internal server error. Reconnect with backoff and resume. */
  InternalError: 1011,
  /** 1012: server restart or drain (§9). Reconnect at once (with jitter), elsewhere, and resume. */
  ServiceRestart: 1012,
  /** 4001: token invalid or missing, or a frame before auth (§2). Get a fresh token before reconnecting. */
  Unauthorized: 4001,
  /** 4002: the token expired and no fresh one arrived in time (§2). Get a fresh token, then resume. */
  TokenExpired: 4002,
  /** 4003: no auth frame within auth_timeout_ms (§2). Reconnect and authenticate at once. */
  AuthTimeout: 4003,
  /** 4008: too many malformed frames (§5). A client bug: reconnecting will not help until it is fixed. */
  TooManyBadFrames: 4008,
  /** 4009: the user already holds max_connections_per_user connections (§5). Close another tab first. */
  TooManyConnections: 4009,
  /** 4013: the connection's unsent buffer exceeded its limit (§5). Reconnect and resume: nothing is lost. */
  SlowConsumer: 4013,
  /** 4029: inbound frames exceeded the rate limit repeatedly (§5). Reconnect with backoff, send less. */
  RateLimited: 4029,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
