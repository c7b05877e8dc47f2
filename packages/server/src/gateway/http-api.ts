import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CancelResult } from '../agents/agent-runtime.js';
import { bearerCredential } from '../auth/token-source.js';
import { apiKeyList } from '../config/api-keys.js';
import type { Config } from '../config/config.js';
import type { Engine, PresenceEntry } from '../engine/engine.js';
import { provesNothingApplied } from '../engine/engine-unavailable.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { isEngineUnavailable } from '../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../protocol/error-codes.js';
import { ID_MAX_LENGTH, idSchema, isWellFormed } from '../protocol/events.js';
import { parsePublishBody } from '../protocol/publish.js';
import { parseTraceparent } from '../protocol/trace-context.js';
import type { CorsDecision } from '../security/cors-policy.js';
import { readBody } from './read-body.js';

/**
 * Why a gateway is not ready: a stable word, safe to show anyone (docs/protocol.md D). The engine's own
 * reason (a Redis error, an address) is the `detail`, shown only to a caller with the API key.
 */
export type NotReadyReason = 'starting' | 'draining' | 'closed' | 'engine_unavailable' | 'keys_unavailable';

/** Readiness as /readyz reports it (docs/protocol.md §8). */
export type Readiness =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: NotReadyReason; readonly detail?: string };

/** What the HTTP API needs from the gateway. */
export interface HttpApiContext {
  readonly config: Config;
  readonly engine: Engine;
  /** The agent runtime's cancel (AgentRuntime.cancel): POST /v1/runs/:run_id/cancel. */
  readonly runs: { cancel(userId: string, runId: string): Promise<CancelResult> };
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly readiness: () => Readiness;
  readonly stats: () => Record<string, unknown>;
  /** The CORS answer for a request (security/cors-policy.ts through the gateway's OriginGuard). */
  readonly cors: (req: IncomingMessage, path: string) => CorsDecision;
  /** Routes served only with the demo on: `/`, `/demo/token`, static assets. */
  readonly demo?: ((req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>) | undefined;
}

/** Writes a JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Writes the error body of docs/protocol.md §8: `{"error":{"code","message"}}`, with `Connection: close`
 * (docs/protocol.md D). A refused request's body may still be arriving, a byte at a time: Node would
 * read and discard it on a kept-alive socket for as long as the peer likes, so the socket is closed
 * once the answer is written (Node ends and destroys it after `Connection: close`) and the rest of
 * the body is never read.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: { code, message } }, { ...headers, Connection: 'close' });
}

/**
 * The HTTP routes of docs/protocol.md §8. Every failure is a JSON error with a documented code; nothing
 * throws out of here.
 */
export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  try {
    const cors = ctx.cors(req, path);
    if (cors.action === 'preflight') {
      res.writeHead(cors.status, cors.headers);
      res.end();
      return;
    }
    if (cors.action === 'refuse') {
      return sendError(
        res,
        cors.status,
        HttpErrorCode.Forbidden,
        `cross-origin request refused (${cors.reason})`,
        cors.headers,
      );
    }
    for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);
    if (path === '/healthz') return only(req, res, 'GET', () => sendJson(res, 200, { status: 'ok' }));
    if (path === '/readyz')
      return only(req, res, 'GET', () =>
        sendReadiness(res, ctx.readiness(), apiKeyMatches(req.headers.authorization, ctx.config.apiKey)),
      );
    if (path === '/metrics' && ctx.config.metricsPort === undefined)
      return await serveMetrics(req, res, ctx.metrics);
    if (path.startsWith('/v1/')) return await handleApi(req, res, ctx, url);
    if (ctx.demo !== undefined && (await ctx.demo(req, res, path))) return;
    sendError(res, 404, HttpErrorCode.NotFound, `no route ${req.method} ${path}`);
  } catch (err) {
    ctx.log.error({ err, path }, 'http handler failed');
    if (!res.headersSent) sendError(res, 500, ErrorCode.Internal, 'internal error');
    else res.destroy();
  }
}

/**
 * The metrics port (`--metrics-port`): /metrics, and a generic 500 when collecting fails (a collector
 * that throws must neither crash the process nor show its error text).
 */
export async function handleMetricsPort(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: Pick<HttpApiContext, 'metrics' | 'log'>,
): Promise<void> {
  try {
    await serveMetrics(req, res, ctx.metrics);
  } catch (err) {
    ctx.log.error({ err, path: req.url }, 'http handler failed');
    if (!res.headersSent) sendError(res, 500, ErrorCode.Internal, 'internal error');
    else res.destroy();
  }
}

/** Serves /metrics in Prometheus text format. */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  metrics: Metrics,
): Promise<void> {
  if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
  const text = await metrics.registry.metrics();
  res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
  res.end(text);
}

/**
 * `/readyz`: 200 `{"status":"ready"}`, or 503 `{"status":"unavailable","reason":<word>}`. The detail
 * (the engine's error, which may name Redis addresses) is added only for a caller with the API key.
 */
function sendReadiness(res: ServerResponse, readiness: Readiness, operator: boolean): void {
  if (readiness.ready) {
    sendJson(res, 200, { status: 'ready' });
    return;
  }
  const body = { status: 'unavailable', reason: readiness.reason };
  sendJson(
    res,
    503,
    operator && readiness.detail !== undefined ? { ...body, detail: readiness.detail } : body,
  );
}

function only(req: IncomingMessage, res: ServerResponse, method: string, handler: () => void): void {
  if (req.method === method || (method === 'GET' && req.method === 'HEAD')) handler();
  else methodNotAllowed(res, method);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendError(res, 405, HttpErrorCode.MethodNotAllowed, `use ${allow}`, { Allow: allow });
}

async function handleApi(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  url: URL,
): Promise<void> {
  if (!apiKeyMatches(req.headers.authorization, ctx.config.apiKey)) {
    return sendError(
      res,
      401,
      HttpErrorCode.Unauthorized,
      'missing or wrong API key; send Authorization: Bearer <api key>',
      {
        'WWW-Authenticate': 'Bearer',
      },
    );
  }
  const path = url.pathname;
  if (path === '/v1/publish') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return publish(req, res, ctx);
  }
  if (path === '/v1/stats') return only(req, res, 'GET', () => sendJson(res, 200, ctx.stats()));
  const history = /^\/v1\/users\/([^/]+)\/history$/.exec(path);
  if (history !== null) {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const userId = decodedSegment(history[1] as string);
    if (userId === undefined) {
      return sendError(res, 400, ErrorCode.InvalidMessage, 'user_id: not valid percent-encoded UTF-8');
    }
    return userHistory(res, ctx, userId, url.searchParams);
  }
  const runs = /^\/v1\/users\/([^/]+)\/runs$/.exec(path);
  if (runs !== null) {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const userId = decodedSegment(runs[1] as string);
    if (userId === undefined) {
      return sendError(res, 400, ErrorCode.InvalidMessage, 'user_id: not valid percent-encoded UTF-8');
    }
    return userRuns(res, ctx, userId);
  }
  const presence = /^\/v1\/users\/([^/]+)\/presence$/.exec(path);
  if (presence !== null) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET');
    const userId = decodedSegment(presence[1] as string);
    if (userId === undefined || !idSchema.safeParse(userId).success) {
      return sendError(res, 400, ErrorCode.InvalidMessage, `user_id: must be 1..${ID_MAX_LENGTH} characters`);
    }
    return userPresence(res, ctx, userId);
  }
  const disconnect = /^\/v1\/users\/([^/]+)\/disconnect$/.exec(path);
  if (disconnect !== null) {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    const userId = decodedSegment(disconnect[1] as string);
    if (userId === undefined || !idSchema.safeParse(userId).success) {
      return sendError(res, 400, ErrorCode.InvalidMessage, `user_id: must be 1..${ID_MAX_LENGTH} characters`);
    }
    return disconnectUser(req, res, ctx, userId);
  }
  const cancel = /^\/v1\/runs\/([^/]+)\/cancel$/.exec(path);
  if (cancel !== null) {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    const runId = decodedSegment(cancel[1] as string);
    if (runId === undefined) {
      return sendError(res, 400, ErrorCode.InvalidMessage, 'run_id: not valid percent-encoded UTF-8');
    }
    return cancelRun(req, res, ctx, runId);
  }
  sendError(res, 404, HttpErrorCode.NotFound, `no route ${req.method} ${path}`);
}

/**
 * Whether the bearer credential is one of the configured API keys (`--api-key` lists them, comma
 * separated, for rotation). Compared in constant time: both sides are hashed first so neither the length
 * nor the content of a key leaks through timing, and every key is compared, so which one matched (or
 * how many there are) does not show either.
 */
export function apiKeyMatches(authorization: string | undefined, apiKey: string | undefined): boolean {
  const keys = apiKeyList(apiKey);
  if (keys.length === 0) return false;
  const given = bearerCredential(authorization);
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  let matched = false;
  for (const key of keys) {
    if (timingSafeEqual(a, createHash('sha256').update(key).digest())) matched = true;
  }
  return matched;
}

/** What {@link readJsonBody} returns once it has answered (413, 400) or the client went away. */
const NO_BODY: unique symbol = Symbol('no body');

/**
 * Reads a JSON body of at most `maxBytes`: the parsed value, or NO_BODY after answering 413 (the limit
 * named, with `limitName` after it) or 400 INVALID_JSON, or when the client went away mid-body.
 */
async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  limitName: string,
): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  if (!body.ok) {
    if (body.reason === 'too_large')
      sendError(res, 413, HttpErrorCode.PayloadTooLarge, `body exceeds ${maxBytes} bytes${limitName}`);
    return NO_BODY; // too large (answered), or the client went away mid-body: no one to answer
  }
  try {
    return JSON.parse(body.text);
  } catch {
    sendError(res, 400, ErrorCode.InvalidJson, 'body is not valid JSON');
    return NO_BODY;
  }
}

/** POST /v1/publish: validate everything first, store all or nothing, 202 only for what was stored. */
async function publish(req: IncomingMessage, res: ServerResponse, ctx: HttpApiContext): Promise<void> {
  const json = await readJsonBody(req, res, ctx.config.maxPublishBytes, ' (max_publish_bytes)');
  if (json === NO_BODY) return;
  const parsed = parsePublishBody(json);
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  // D, "Trace context": the request's traceparent travels with each of its events to the screen.
  const traceparent = parseTraceparent(req.headers.traceparent);
  const items =
    traceparent === undefined
      ? parsed.value
      : parsed.value.map(({ userId, event }) => ({ userId, event: { ...event, meta: { traceparent } } }));
  try {
    const stored = await ctx.engine.appendBatch(items);
    ctx.metrics.eventsPublished.inc({ source: 'http' }, stored.length);
    sendJson(res, 202, { results: stored.map((e) => ({ seq: e.seq, epoch: e.epoch })) });
  } catch (err) {
    if (isEngineUnavailable(err)) {
      return sendError(res, 503, ErrorCode.Unavailable, unstoredMessage(err, parsed.value.length), {
        'Retry-After': '1',
      });
    }
    throw err;
  }
}

/**
 * The 503 message of a publish the engine failed (docs/protocol.md D), true to what is known: "nothing
 * was stored" only when the engine refused before sending anything; otherwise the write may have run
 * in Redis after its timeout, and a blind retry could store the event twice.
 */
export function unstoredMessage(error: unknown, events: number): string {
  if (provesNothingApplied(error)) return 'the engine is unavailable; nothing was stored, retry later';
  const what =
    events === 1
      ? 'the event may or may not have been stored, and a retry may store it twice'
      : 'none, some or all of the events may have been stored, and a retry may store them twice';
  return `the engine did not confirm the write: ${what} (POST /v1/publish has no idempotency key yet; GET /v1/users/:user_id/history shows what was stored)`;
}

async function userHistory(
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
  query: URLSearchParams,
): Promise<void> {
  // Never empty: the route's `([^/]+)` takes at least one character, and decoding keeps at least one.
  if (userId.length > ID_MAX_LENGTH) {
    return sendError(res, 400, ErrorCode.InvalidMessage, `user_id: must be 1..${ID_MAX_LENGTH} characters`);
  }
  const since = intParam(query, 'since', 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query, 'limit', ctx.config.historySize, ctx.config.historySize);
  if (typeof since === 'string') return sendError(res, 400, ErrorCode.InvalidMessage, since);
  if (typeof limit === 'string') return sendError(res, 400, ErrorCode.InvalidMessage, limit);
  try {
    // Without an epoch, `since` is read in the user's current epoch: an operator's query, not a resume.
    const epoch = param(query, 'epoch') ?? (await ctx.engine.head(userId)).epoch;
    const result = await ctx.engine.history(userId, { since, limit, epoch });
    if (result.kind === 'ok') {
      return sendJson(res, 200, {
        epoch: result.head.epoch,
        seq: result.head.seq,
        complete: result.complete,
        events: result.events,
      });
    }
    sendJson(res, 200, {
      epoch: result.head.epoch,
      seq: result.head.seq,
      complete: false,
      reset: result.reason,
      events: [],
    });
  } catch (err) {
    if (isEngineUnavailable(err)) {
      return sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
        'Retry-After': '1',
      });
    }
    throw err;
  }
}

/**
 * GET /v1/users/:user_id/runs: the user's active runs on every node sharing the engine (its run registry),
 * oldest first (docs/protocol.md D).
 */
async function userRuns(res: ServerResponse, ctx: HttpApiContext, userId: string): Promise<void> {
  if (userId.length > ID_MAX_LENGTH) {
    return sendError(res, 400, ErrorCode.InvalidMessage, `user_id: must be 1..${ID_MAX_LENGTH} characters`);
  }
  try {
    const runs = await ctx.engine.activeRuns(userId);
    sendJson(res, 200, {
      runs: runs.map((run) => ({
        run_id: run.runId,
        agent: run.agent,
        started_at: new Date(run.startedAt).toISOString(),
        node: run.node,
      })),
    });
  } catch (err) {
    if (isEngineUnavailable(err)) {
      return sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
        'Retry-After': '1',
      });
    }
    throw err;
  }
}

/** The body of POST /v1/runs/:run_id/cancel is `{"user_id": "…"}`: a few bytes. */
const CANCEL_BODY_MAX_BYTES = 4096;

/**
 * POST /v1/runs/:run_id/cancel with `{"user_id": "…"}` (docs/protocol.md D), answered by any node: the
 * user's run is cancelled wherever it runs, as by a `cancel` frame (AgentRuntime.cancel). 202
 * `cancelling` once the request was accepted for delivery to the run's node (the run ends with its one
 * `agent_completed`); 200 `ended` for a run of the user that has already ended; 404 `NOT_FOUND` for an
 * unknown run or another user's.
 */
async function cancelRun(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  runId: string,
): Promise<void> {
  const json = await readJsonBody(req, res, CANCEL_BODY_MAX_BYTES, '');
  if (json === NO_BODY) return;
  const userId =
    typeof json === 'object' && json !== null ? (json as Record<string, unknown>).user_id : undefined;
  const parsedUser = idSchema.safeParse(userId);
  if (!parsedUser.success) {
    return sendError(
      res,
      400,
      ErrorCode.InvalidMessage,
      `user_id: required, a string of 1..${ID_MAX_LENGTH} characters`,
    );
  }
  if (!idSchema.safeParse(runId).success) {
    return sendError(res, 400, ErrorCode.InvalidMessage, `run_id: must be 1..${ID_MAX_LENGTH} characters`);
  }
  const outcome = await ctx.runs.cancel(parsedUser.data, runId);
  if (outcome.ok) {
    const ended = outcome.ended === true;
    return sendJson(res, ended ? 200 : 202, { run_id: runId, status: ended ? 'ended' : 'cancelling' });
  }
  if (outcome.code === ErrorCode.Unavailable) {
    return sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
      'Retry-After': '1',
    });
  }
  sendError(res, 404, outcome.code, outcome.message);
}

/**
 * GET /v1/users/:user_id/presence (docs/protocol.md D, "Presence"): the user's connections on every node
 * sharing the engine, per node and per device, with how far the stream got on each.
 */
async function userPresence(res: ServerResponse, ctx: HttpApiContext, userId: string): Promise<void> {
  let entries: PresenceEntry[];
  try {
    entries = await ctx.engine.presence(userId);
  } catch (err) {
    if (isEngineUnavailable(err)) {
      return sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
        'Retry-After': '1',
      });
    }
    throw err;
  }
  const perNode = new Map<string, number>();
  for (const entry of entries) perNode.set(entry.serverId, (perNode.get(entry.serverId) ?? 0) + 1);
  sendJson(res, 200, {
    user_id: userId,
    connections: entries.length,
    nodes: [...perNode].map(([server_id, connections]) => ({ server_id, connections })),
    devices: entries.map((entry) => ({
      conn_id: entry.connectionId,
      server_id: entry.serverId,
      transport: entry.transport,
      connected_at: new Date(entry.connectedAt).toISOString(),
      delivered_seq: entry.deliveredSeq,
      seen_seq: entry.seenSeq,
    })),
  });
}

/** The body of POST /v1/users/:user_id/disconnect is `{"reason"?, "revoke_before"?}`: a few bytes. */
const DISCONNECT_BODY_MAX_BYTES = 4096;

/**
 * POST /v1/users/:user_id/disconnect with `{"reason"?: "…", "revoke_before"?: <unix s>}` (docs/protocol.md
 * D, "Disconnecting a user"), answered by any node: the revocation is stored (when asked) and every node
 * closes the user's connections with 4010. An empty body is `{}`. 202 once the engine took the request.
 */
async function disconnectUser(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
): Promise<void> {
  const body = await readBody(req, DISCONNECT_BODY_MAX_BYTES);
  if (!body.ok) {
    if (body.reason === 'too_large')
      sendError(res, 413, HttpErrorCode.PayloadTooLarge, `body exceeds ${DISCONNECT_BODY_MAX_BYTES} bytes`);
    return;
  }
  let json: unknown = {};
  if (body.text.trim() !== '') {
    try {
      json = JSON.parse(body.text);
    } catch {
      return sendError(res, 400, ErrorCode.InvalidJson, 'body is not valid JSON');
    }
  }
  const parsed = parseDisconnectBody(json);
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  const request = { userId, reason: parsed.reason, revokeBefore: parsed.revokeBefore };
  try {
    await ctx.engine.disconnectUser(request, ctx.config.revocationTtlS * 1000);
  } catch (err) {
    if (isEngineUnavailable(err)) {
      return sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
        'Retry-After': '1',
      });
    }
    throw err;
  }
  ctx.log.info(
    { user_id: userId, revoke_before: parsed.revokeBefore, reason: parsed.reason },
    'user disconnected by the API',
  );
  sendJson(res, 202, {
    user_id: userId,
    status: 'disconnecting',
    ...(parsed.revokeBefore === undefined ? {} : { revoke_before: parsed.revokeBefore }),
  });
}

/** A close reason fits a close frame: 123 bytes of UTF-8 (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

/** `{"reason"?: string, "revoke_before"?: unix seconds}`; nothing else. */
export function parseDisconnectBody(
  json: unknown,
):
  | { readonly ok: true; readonly reason?: string | undefined; readonly revokeBefore?: number | undefined }
  | { readonly ok: false; readonly message: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, message: 'body: must be a JSON object {"reason"?, "revoke_before"?}' };
  }
  const { reason, revoke_before: revokeBefore, ...rest } = json as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) return { ok: false, message: `${unknown}: unknown field` };
  if (
    reason !== undefined &&
    (typeof reason !== 'string' ||
      reason.length === 0 ||
      Buffer.byteLength(reason) > MAX_REASON_BYTES ||
      !isWellFormed(reason))
  ) {
    return { ok: false, message: `reason: must be a string of 1..${MAX_REASON_BYTES} bytes of UTF-8` };
  }
  if (revokeBefore !== undefined && (!Number.isSafeInteger(revokeBefore) || (revokeBefore as number) < 0)) {
    return { ok: false, message: 'revoke_before: must be a non-negative integer (unix seconds)' };
  }
  return { ok: true, reason: reason as string | undefined, revokeBefore: revokeBefore as number | undefined };
}

/** A percent-decoded path segment, or undefined when its encoding is malformed (`%E0%A4%A`, `%zz`). */
function decodedSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** A query parameter's value; an empty one (`since=`) counts as absent, like a missing one. */
function param(query: URLSearchParams, name: string): string | undefined {
  const text = query.get(name);
  return text === null || text === '' ? undefined : text;
}

function intParam(query: URLSearchParams, name: string, fallback: number, max: number): number | string {
  const text = param(query, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) return `${name}: must be a non-negative integer`;
  const n = Number(text);
  return n > max ? `${name}: must be at most ${max}` : n;
}
