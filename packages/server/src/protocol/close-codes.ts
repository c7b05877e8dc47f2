import { CloseCode } from '@agentcast/client';

/** The close-code table and what a client does after each live in the client package (docs/protocol.md §7). */
export { CLOSE_CODE_ACTIONS, CloseCode, closeAction } from '@agentcast/client';

/**
 * The close codes a metrics label may name: the gateway's own, plus 1005 (a close frame without a code)
 * and 1006 (no close frame at all), which the WebSocket library reports for peers.
 */
const LABELLED_CLOSE_CODES: ReadonlySet<number> = new Set<number>([...Object.values(CloseCode), 1005, 1006]);

/**
 * The `code` label of `agentcast_connections_closed_total`. A client may close with any code from
 * 3000–4999; each would otherwise become a series of its own, so codes the gateway does not define are
 * counted as `other` (a label set bounded by this table, whatever clients send).
 */
export function closeCodeLabel(code: number): string {
  return LABELLED_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/**
 * The reason text of every close the gateway initiates, by what happened (docs/protocol.md, "Close
 * reasons"). Reasons are for people reading DevTools and logs; clients act on the code. Each fits the
 * 123 bytes a close frame allows.
 */
export const CloseReason = {
  /** 4003 */
  AuthTimeout: 'no auth frame in time',
  /** 4001: a frame other than `auth` (or a malformed one) before authentication. */
  AuthenticateFirst: 'authenticate first',
  /** 4001 */
  InvalidToken: 'invalid token',
  /** 4002: on connect, or when the expiry sweep finds the token expired. */
  TokenExpired: 'token expired',
  /** 4001: the token was issued before the user's revocation (`revoke_before`, docs/protocol.md D). */
  TokenRevoked: 'token revoked',
  /** 4001 or 4002: a refresh `auth` frame whose token does not verify. */
  RefreshRefused: 'refresh token refused',
  /** 4001 */
  RefreshOtherUser: 'refresh token is for another user',
  /** 4008 */
  TooManyBadFrames: 'too many malformed frames',
  /** 4009 */
  TooManyConnections: 'too many connections for this user',
  /** 4029 */
  RateLimited: 'rate limited',
  /** 4029: more than max_early_frames frames between `auth` and the welcome. */
  TooManyEarlyFrames: 'too many frames before the welcome',
  /** 4013: unsent bytes over max_buffered_bytes. */
  SlowConsumer: 'slow consumer',
  /** 4013: more live events arrived during the replay than the replay may hold. */
  ReplayOverflow: 'too many events during the replay; resume',
  /** 1011: the replay could not be joined to the live stream (a gap, or a new epoch, at its end). */
  ReplayIncomplete: 'replay incomplete; resume',
  /** 1011: a seq is missing from the live stream. */
  LiveGap: 'gap in the live stream; resume',
  /** 1011: the user's history was reset or trimmed while the replay was read. */
  HistoryChanged: 'history changed during replay; resume again',
  /** 1011: the engine (Redis) could not be reached while joining. */
  EngineUnavailable: 'engine unavailable; retry later',
  /** 1011: the `--jwks-url` key set could not be fetched, so the token could not be checked. */
  KeysUnavailable: 'token keys unavailable; retry later',
  /** 1011: an unexpected failure while joining. */
  Internal: 'internal error',
  /** 1012: drain or shutdown (§9). */
  Draining: 'server draining; reconnect and resume',
  /**
   * 4010 for `POST /v1/users/:user_id/disconnect` without a reason of its own; 1012 by default for
   * `gateway.disconnectUser()`, unless the caller gives its own reason.
   */
  Disconnected: 'disconnected by the server',
} as const;

export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];
