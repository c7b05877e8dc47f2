import { authFailureClass } from '../auth/auth-failure-class.js';
import { isRevoked } from '../auth/revocation.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import type { StreamTickets } from './stream-tickets.js';

/**
 * How a session proves who it is: a JWT (every transport, docs/protocol.md §2), or a single-use stream
 * ticket (Server-Sent Events only, docs/protocol.md H).
 */
export type SessionCredential =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'ticket'; readonly ticket: string };

/**
 * Why a session may not open: `token_expired` is 4002 on a WebSocket, `keys_unavailable` (the JWKS URL has
 * not loaded yet) 1011, everything else 4001 (§2, A; `token_revoked`: D, "Disconnecting a user").
 */
export type AuthRefusal = 'invalid_token' | 'token_expired' | 'keys_unavailable' | 'token_revoked';

/** The outcome of {@link authenticateSession}. */
export type Authentication =
  | {
      readonly ok: true;
      readonly userId: string;
      readonly expiresAtMs: number;
      /** The token's `iat` (unix seconds), which a revocation is compared with (docs/protocol.md D). */
      readonly issuedAtS?: number | undefined;
    }
  | { readonly ok: false; readonly refusal: AuthRefusal };

/** What authentication uses of the context every session shares. */
export interface AuthContext {
  readonly verifier: Pick<TokenVerifier, 'verify'>;
  readonly metrics: Pick<Metrics, 'authFailures'>;
  readonly now: () => number;
  /** Absent where tickets are not accepted (the WebSocket). */
  readonly tickets?: Pick<StreamTickets, 'redeem'> | undefined;
}

/** Where a refused credential is logged: the session's logger and address, never the token. */
export interface FailureLog {
  readonly log: Pick<Logger, 'info'>;
  readonly ip: string;
}

function logFailure(session: FailureLog | undefined, reason: string): void {
  // The class and the address, never the token (docs/architecture.md, "Style").
  session?.log.info({ reason, ip: session.ip }, 'authentication failed');
}

/**
 * Verifies a session's credential, the same for every transport (docs/protocol.md §2, H): a token must
 * verify and not be expired; a ticket must be known, unused, and its token not expired since.
 */
export async function authenticateSession(
  ctx: AuthContext,
  credential: SessionCredential,
  session?: FailureLog,
): Promise<Authentication> {
  if (credential.kind === 'ticket') {
    const holder = ctx.tickets === undefined ? null : await ctx.tickets.redeem(credential.ticket);
    if (holder === null) {
      ctx.metrics.authFailures.inc({ reason: 'invalid_ticket' });
      return { ok: false, refusal: 'invalid_token' };
    }
    return unexpired(ctx, holder.userId, holder.expiresAtMs);
  }
  const verified = await ctx.verifier.verify(credential.token);
  if (!verified.ok) {
    ctx.metrics.authFailures.inc({ reason: verified.reason });
    logFailure(session, authFailureClass(verified));
    return { ok: false, refusal: refusalOf(verified.reason) };
  }
  return unexpired(ctx, verified.token.userId, verified.token.expiresAtMs, verified.token.issuedAtS);
}

function refusalOf(reason: string): AuthRefusal {
  if (reason === 'expired') return 'token_expired';
  return reason === 'keys_unavailable' ? 'keys_unavailable' : 'invalid_token';
}

function unexpired(
  ctx: AuthContext,
  userId: string,
  expiresAtMs: number,
  issuedAtS?: number,
): Authentication {
  if (expiresAtMs <= ctx.now()) return { ok: false, refusal: 'token_expired' };
  return { ok: true, userId, expiresAtMs, issuedAtS };
}

/** What the revocation check reads and counts. */
export interface RevocationContext {
  readonly engine: Pick<Engine, 'tokensRevokedBefore'>;
  readonly metrics: Pick<Metrics, 'authFailures'>;
}

/**
 * Whether the user's tokens issued before a stored revocation include this one (docs/protocol.md D,
 * "Disconnecting a user"), the same for every transport and the user's HTTP routes. A session calls it once
 * its user id is set, so a disconnect stored after this read finds the session in the registry instead.
 */
export async function tokenRevoked(
  ctx: RevocationContext,
  userId: string,
  issuedAtS: number | undefined,
): Promise<boolean> {
  if (!isRevoked(issuedAtS, await ctx.engine.tokensRevokedBefore(userId))) return false;
  ctx.metrics.authFailures.inc({ reason: 'revoked' });
  return true;
}

/**
 * Closes `session` with 4001 `token revoked` when its token is revoked ({@link tokenRevoked}). True when the
 * session cannot go on (revoked, or closed meanwhile).
 */
export async function closeIfRevoked(
  ctx: RevocationContext,
  session: {
    readonly userId: string;
    isClosed(): boolean;
    close(code: CloseCode, reason: string): void;
  },
  issuedAtS: number | undefined,
): Promise<boolean> {
  const revoked = await tokenRevoked(ctx, session.userId, issuedAtS);
  if (session.isClosed()) return true;
  if (revoked) session.close(CloseCode.Unauthorized, CloseReason.TokenRevoked);
  return revoked;
}

/** A user's HTTP request (docs/protocol.md F, G, H): its bearer JWT, checked as a session's is, revocation included. */
export async function authenticateRequest(
  ctx: AuthContext & RevocationContext,
  token: string,
): Promise<Authentication> {
  const auth = await authenticateSession(ctx, { kind: 'token', token });
  if (auth.ok && (await tokenRevoked(ctx, auth.userId, auth.issuedAtS))) {
    return { ok: false, refusal: 'token_revoked' };
  }
  return auth;
}

/** A refusal in the word an HTTP 401 answer uses (`expired token`, `revoked token`, `invalid token`). */
export function refusalWord(refusal: AuthRefusal): 'expired' | 'revoked' | 'invalid' {
  if (refusal === 'token_expired') return 'expired';
  return refusal === 'token_revoked' ? 'revoked' : 'invalid';
}

/** The WebSocket close code and reason of a refusal (§2, §7); SSE sends them in its error frame. */
export function refusalClose(refusal: AuthRefusal): { code: CloseCode; reason: string } {
  if (refusal === 'token_expired') return { code: CloseCode.TokenExpired, reason: CloseReason.TokenExpired };
  if (refusal === 'keys_unavailable') {
    return { code: CloseCode.InternalError, reason: CloseReason.KeysUnavailable };
  }
  if (refusal === 'token_revoked') return { code: CloseCode.Unauthorized, reason: CloseReason.TokenRevoked };
  return { code: CloseCode.Unauthorized, reason: CloseReason.InvalidToken };
}

/** §5: a user holds at most max_connections_per_user sessions, of every transport, across nodes. */
export function acquireSessionSlot(
  ctx: {
    readonly engine: Pick<Engine, 'acquireConnectionSlot'>;
    readonly config: Pick<Config, 'maxConnectionsPerUser'>;
  },
  userId: string,
  sessionId: string,
): Promise<boolean> {
  return ctx.engine.acquireConnectionSlot(userId, sessionId, ctx.config.maxConnectionsPerUser);
}

/** The outcome of {@link checkRefresh}. */
export type RefreshCheck =
  | { readonly ok: true; readonly expiresAtMs: number; readonly issuedAtS?: number | undefined }
  | { readonly ok: false; readonly code: CloseCode; readonly reason: string };

/** §2: a refreshed token must verify and name the same user; otherwise the session ends. */
export async function checkRefresh(
  ctx: AuthContext,
  userId: string,
  token: string,
  session?: FailureLog,
): Promise<RefreshCheck> {
  const verified = await ctx.verifier.verify(token);
  if (!verified.ok) {
    ctx.metrics.authFailures.inc({ reason: verified.reason });
    logFailure(session, authFailureClass(verified));
    if (verified.reason === 'keys_unavailable') {
      return { ok: false, code: CloseCode.InternalError, reason: CloseReason.KeysUnavailable };
    }
    const code = verified.reason === 'expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized;
    return { ok: false, code, reason: CloseReason.RefreshRefused };
  }
  if (verified.token.userId !== userId) {
    ctx.metrics.authFailures.inc({ reason: 'sub_mismatch' });
    logFailure(session, 'sub_mismatch');
    return { ok: false, code: CloseCode.Unauthorized, reason: CloseReason.RefreshOtherUser };
  }
  return { ok: true, expiresAtMs: verified.token.expiresAtMs, issuedAtS: verified.token.issuedAtS };
}
