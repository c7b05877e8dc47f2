import type { ErrorCode } from './protocol/error-codes.js';
import type { ApprovalDecision } from './protocol/wire.js';

/** Stable codes of the errors the client reports; never renumbered or reused. */
export const ClientErrorCode = {
  /** No ack arrived within `ackTimeoutMs`. Retry with the same `id`: the server starts no second run. */
  AckTimeout: 'AC_CLIENT_ACK_TIMEOUT',
  /** The client was closed (or stopped) before the request was acked. */
  Closed: 'AC_CLIENT_CLOSED',
  /** `maxAuthFailures` connections in a row were refused for auth (4001, 4002, 4003, 4009); the client stopped. */
  AuthFailed: 'AC_CLIENT_AUTH_FAILED',
  /** The server closed with 4008 or 1009: a client bug that reconnecting would repeat; the client stopped. */
  Rejected: 'AC_CLIENT_REJECTED',
  /** `getToken()` threw or returned no token; the client retries with backoff. */
  TokenUnavailable: 'AC_CLIENT_TOKEN_UNAVAILABLE',
  /** The server answered with an `error` frame (`serverCode` says which, docs/protocol.md §6). */
  Server: 'AC_CLIENT_SERVER_ERROR',
  /** A frame the server sent could not be read; it was skipped. */
  BadFrame: 'AC_CLIENT_BAD_FRAME',
  /** The message is larger than `maxFrameBytes`; the server would close with 1009 (docs/protocol.md §5). */
  TooLarge: 'AC_CLIENT_TOO_LARGE',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Details attached to a {@link ClientError}. */
export interface ClientErrorOptions {
  /** The WebSocket close code that caused it, if any. */
  readonly closeCode?: number;
  /** The server's error code, for {@link ClientErrorCode.Server}. */
  readonly serverCode?: ErrorCode | string;
  /** With `serverCode` CONFLICT: the decision that resolved the approval first (docs/protocol.md G). */
  readonly decision?: ApprovalDecision | undefined;
  readonly cause?: unknown;
}

/** Every error the client rejects a promise with or emits as `error`. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly closeCode: number | undefined;
  readonly serverCode: string | undefined;
  /** With `serverCode` CONFLICT (`answerApproval`): the decision that won. */
  readonly decision: ApprovalDecision | undefined;

  constructor(code: ClientErrorCode, message: string, options: ClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.closeCode = options.closeCode;
    this.serverCode = options.serverCode;
    this.decision = options.decision;
  }
}
