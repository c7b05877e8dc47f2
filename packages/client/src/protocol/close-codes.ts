/**
 * WebSocket close codes used by agentcast (docs/protocol.md §7), and what a client does after each. One
 * table, never renumbered or reused. It lives in the client package because both sides need it and the
 * client has no dependencies: the gateway imports it from here, and the SDK's reconnect policy is derived
 * from {@link CLOSE_CODE_ACTIONS} (docs/client.md shows the same table; a test holds them together).
 */
export const CloseCode = {
  /** 1000: normal closure. */
  Normal: 1000,
  /** 1001: the peer is going away. */
  GoingAway: 1001,
  /** 1009: a frame exceeded max_payload (§5). */
  FrameTooLarge: 1009,
  /** 1011: internal server error. */
  InternalError: 1011,
  /** 1012: server restart or drain (§9). */
  ServiceRestart: 1012,
  /** 4001: token invalid or missing, or a frame before auth (§2). */
  Unauthorized: 4001,
  /** 4002: the token expired and no fresh one arrived in time (§2). */
  TokenExpired: 4002,
  /** 4003: no auth frame within auth_timeout_ms (§2). */
  AuthTimeout: 4003,
  /**
   * 4010: disconnected by the server: the backend closed every connection of the user
   * (`POST /v1/users/:user_id/disconnect`, docs/protocol.md D), e.g. after a logout or a permission change.
   */
  DisconnectedByServer: 4010,
  /** 4008: too many malformed frames (§5). */
  TooManyBadFrames: 4008,
  /** 4009: the user already holds max_connections_per_user connections (§5). */
  TooManyConnections: 4009,
  /** 4013: the connection's unsent buffer exceeded its limit (§5). */
  SlowConsumer: 4013,
  /** 4029: inbound frames exceeded the rate limit (§5), or too many frames before the welcome. */
  RateLimited: 4029,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * How a client reconnects after a close:
 * - `never`: the server will refuse what this client sends again (a client bug); stop until fixed;
 * - `backoff`: reconnect after an exponential backoff with full jitter, and resume;
 * - `soon`: the server restarts on purpose and another node is ready; reconnect within a short jitter
 *   without growing the backoff, and resume.
 */
export type Reconnect = 'never' | 'backoff' | 'soon';

/** What a client does after one close code. */
export interface CloseAction {
  readonly reconnect: Reconnect;
  /** Call `getToken()` again instead of reusing the token. */
  readonly freshToken: boolean;
  /**
   * The server refused this user's connection (auth or a per-user limit): such closes in a row stop the
   * client after `maxAuthFailures`, since retrying the same thing forever would only load the server.
   */
  readonly refusal: boolean;
}

/** Reconnect after a backoff with the same token: a lost connection, a server error, a limit hit. */
const BACKOFF: CloseAction = { reconnect: 'backoff', freshToken: false, refusal: false };
/** The client sends what the server refuses: stop until it is fixed. */
const STOP: CloseAction = { reconnect: 'never', freshToken: false, refusal: false };
/** The token was refused or ran out: get a fresh one; refusals in a row stop the client. */
const NEW_TOKEN: CloseAction = { reconnect: 'backoff', freshToken: true, refusal: true };

/** The client action for every close code of the table (docs/protocol.md §7, docs/client.md). */
export const CLOSE_CODE_ACTIONS: Readonly<Record<CloseCode, CloseAction>> = {
  [CloseCode.Normal]: BACKOFF,
  [CloseCode.GoingAway]: BACKOFF,
  [CloseCode.FrameTooLarge]: STOP,
  [CloseCode.InternalError]: BACKOFF,
  // §9: the server drains on purpose and another node is ready.
  [CloseCode.ServiceRestart]: { reconnect: 'soon', freshToken: false, refusal: false },
  [CloseCode.Unauthorized]: NEW_TOKEN,
  [CloseCode.TokenExpired]: NEW_TOKEN,
  // A slow getToken() is the usual cause, so the next attempt asks for a token afresh.
  [CloseCode.AuthTimeout]: NEW_TOKEN,
  // The backend logged the user out or changed what they may see: the old token may be revoked, so the
  // next attempt asks for a fresh one; getToken() refusing to give one is how an app stops.
  [CloseCode.DisconnectedByServer]: { reconnect: 'backoff', freshToken: true, refusal: false },
  [CloseCode.TooManyBadFrames]: STOP,
  // The token is fine; another tab or device of the user has to close first.
  [CloseCode.TooManyConnections]: { reconnect: 'backoff', freshToken: false, refusal: true },
  [CloseCode.SlowConsumer]: BACKOFF,
  [CloseCode.RateLimited]: BACKOFF,
};

/** The action for any close code; codes the table does not name (1005, 1006, …) are a lost connection. */
export function closeAction(code: number): CloseAction {
  return Object.hasOwn(CLOSE_CODE_ACTIONS, code) ? CLOSE_CODE_ACTIONS[code as CloseCode] : BACKOFF;
}
