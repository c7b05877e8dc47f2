import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CancelResult } from '../agents/agent-runtime.js';
import { bearerCredential } from '../auth/token-source.js';
import type { Config } from '../config/config.js';
import { isEngineUnavailable } from '../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../protocol/error-codes.js';
import { parseMessageBody } from '../protocol/frames.js';
import {
  type AuthContext,
  type Authentication,
  authenticateRequest,
  type RevocationContext,
  refusalWord,
} from './authenticate-session.js';
import type { RunController, RunRefusal } from './connection-context.js';
import { answerCancel, NO_BODY, readJsonBody, sendError, sendJson } from './http-api.js';
import { runIdSegment } from './http-reply.js';
import type { StreamTickets } from './stream-tickets.js';

/** What the user routes need from their gateway. */
export interface UserApiContext extends AuthContext, RevocationContext {
  readonly config: Pick<Config, 'maxPayload'>;
  readonly tickets: Pick<StreamTickets, 'issue' | 'redeem'>;
  /** The same run control the WebSocket's frame router calls (AgentRuntime.start, AgentRuntime.cancel). */
  readonly runs: {
    start: RunController['start'];
    cancel(userId: string, runId: string): Promise<CancelResult>;
  };
}

const CANCEL_PATH = /^\/v1\/runs\/([^/]+)\/cancel$/;

/**
 * The routes a user calls with their own JWT (docs/protocol.md H), for clients without a WebSocket:
 * POST /v1/tickets, POST /v1/messages, and POST /v1/runs/:run_id/cancel unless the bearer is the API key
 * (`operator`: the backend's cancel, D). Returns false for any other request (the API-key routes answer it).
 */
export async function handleUserApi(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: UserApiContext,
  url: URL,
  operator: boolean,
): Promise<boolean> {
  const path = url.pathname;
  const cancel = operator ? null : CANCEL_PATH.exec(path);
  if (path !== '/v1/tickets' && path !== '/v1/messages' && cancel === null) return false;
  if (req.method !== 'POST') {
    sendError(res, 405, HttpErrorCode.MethodNotAllowed, 'use POST', { Allow: 'POST' });
    return true;
  }
  const auth = await requireUser(req, res, ctx);
  if (auth === undefined) return true;
  try {
    if (path === '/v1/tickets') {
      const { ticket, expiresInS } = await ctx.tickets.issue(auth, ctx.now());
      sendJson(res, 200, { ticket, expires_in: expiresInS });
    } else if (cancel !== null) {
      await cancelOwnRun(res, ctx, auth.userId, cancel[1] as string);
    } else {
      await postMessage(req, res, ctx, auth.userId);
    }
  } catch (err) {
    if (!isEngineUnavailable(err)) throw err;
    sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
      'Retry-After': '1',
    });
  }
  return true;
}

/**
 * The user of a request to a user's route (docs/protocol.md H, I, J): the user's JWT as `Authorization:
 * Bearer`, checked by the session core (signature, expiry, revocation). Undefined once it answered `401`
 * (with `WWW-Authenticate: Bearer` and the reason's word) for a missing or refused token.
 */
export async function requireUser(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AuthContext & RevocationContext,
): Promise<Extract<Authentication, { ok: true }> | undefined> {
  const token = bearerCredential(req.headers.authorization);
  const auth = token === undefined ? undefined : await authenticateRequest(ctx, token);
  if (auth?.ok) return auth;
  const why = auth === undefined ? 'missing' : refusalWord(auth.refusal);
  sendError(res, 401, HttpErrorCode.Unauthorized, `${why} token; send Authorization: Bearer <jwt>`, {
    'WWW-Authenticate': 'Bearer',
  });
  return undefined;
}

/** The status of each refusal of a start, the same codes a `user_message` gets as an error frame (§6, E). */
const START_REFUSAL_STATUS: Readonly<Record<string, number>> = {
  [ErrorCode.InvalidMessage]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Busy]: 409,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Unavailable]: 503,
};

/** POST /v1/messages: a `user_message` over HTTP, with the same idempotency by `id` (§6, H). */
async function postMessage(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: UserApiContext,
  userId: string,
): Promise<void> {
  const json = await readJsonBody(req, res, ctx.config.maxPayload, ' (max_payload)');
  if (json === NO_BODY) return;
  const body = parseMessageBody(json.value);
  if (!body.ok) return sendError(res, 400, ErrorCode.InvalidMessage, body.message);
  const { id, text, thread_id: threadId, agent, on_busy: onBusy } = body.value;
  const outcome = await ctx.runs.start(userId, { messageId: id, text, threadId, agent, onBusy });
  if (outcome.ok) {
    sendJson(res, 202, { run_id: outcome.runId, duplicate: outcome.duplicate });
    return;
  }
  sendStartRefusal(res, outcome);
}

/**
 * Answers a start the run control refused, on every route that starts runs (POST /v1/messages, AG-UI, the
 * AI SDK's chat): the status of its code, `Retry-After` with a 503, and BUSY's `run_id` (docs/protocol.md E).
 */
export function sendStartRefusal(res: ServerResponse, refusal: RunRefusal): void {
  const status = START_REFUSAL_STATUS[refusal.code] ?? 500;
  const details = refusal.runId === undefined ? undefined : { run_id: refusal.runId };
  sendError(
    res,
    status,
    refusal.code,
    refusal.message,
    status === 503 ? { 'Retry-After': '1' } : {},
    details,
  );
}

/** POST /v1/runs/:run_id/cancel with the user's JWT: only the user's own run (404 for another's). */
async function cancelOwnRun(
  res: ServerResponse,
  ctx: UserApiContext,
  userId: string,
  segment: string,
): Promise<void> {
  const runId = runIdSegment(res, segment);
  if (runId === undefined) return;
  answerCancel(res, runId, await ctx.runs.cancel(userId, runId));
}
