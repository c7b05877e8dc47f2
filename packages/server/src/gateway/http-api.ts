import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentRuntime, CancelResult } from '../agents/agent-runtime.js';
import { bearerCredential } from '../auth/token-source.js';
import { apiKeyList } from '../config/api-keys.js';
import type { Config } from '../config/config.js';
import { envName, flagName, OPTION_SPECS, type OptionSpec } from '../config/options.js';
import type { Engine, PresenceEntry } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { packageVersion } from '../observability/package-version.js';
import type { Tracing } from '../observability/tracing.js';
import { isEngineUnavailable, isEventInvalid } from '../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../protocol/error-codes.js';
import { ID_MAX_LENGTH, idSchema } from '../protocol/events.js';
import {
  approvalBodySchema,
  approvalsQuerySchema,
  cancelBodySchema,
  historyQuerySchema,
  idempotencyKeySchema,
  parseBody,
  parseDisconnectBody,
  parseQuery,
  queryObject,
  runsQuerySchema,
} from '../protocol/http-bodies.js';
import { buildOpenApiDocument } from '../protocol/openapi.js';
import { parsePublishBody } from '../protocol/publish.js';
import { parseTraceparent } from '../protocol/trace-context.js';
import { type CorsDecision, isSnapshotOrApprovalRoute } from '../security/cors-policy.js';
import {
  type AuthContext,
  authenticateRequest,
  type RevocationContext,
  refusalWord,
} from './authenticate-session.js';
import { decodedSegment, sendError, sendJson, sendJsonText } from './http-reply.js';
import { requestPath, requestUrl } from './http-route.js';
import { keyScope, unstoredMessage } from './publish-answers.js';
import { isNdjsonRequest, publishStream } from './publish-stream.js';
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
  /**
   * The agent runtime's run control: its cancel (POST /v1/runs/:run_id/cancel) and its approvals
   * (POST /v1/approvals/:approval_id, GET /v1/approvals).
   */
  readonly runs: Pick<AgentRuntime, 'cancel' | 'answerApproval' | 'pendingApprovals'>;
  readonly metrics: Metrics;
  /** With --otel-endpoint: the publish span (docs/deploy.md, "Tracing"). */
  readonly tracing?: Tracing | undefined;
  readonly log: Logger;
  readonly readiness: () => Readiness;
  readonly stats: () => Record<string, unknown>;
  /** The CORS answer for a request (security/cors-policy.ts through the gateway's OriginGuard). */
  readonly cors: (req: IncomingMessage, path: string) => CorsDecision;
  /** How a user's JWT is checked on the user's own routes (docs/protocol.md F, G): as a session's is. */
  readonly userAuth: AuthContext & RevocationContext;
  /** `GET /v1/events`, the Server-Sent Events stream (docs/protocol.md H); it runs its own origin checks. */
  readonly events?: ((req: IncomingMessage, res: ServerResponse, url: URL) => void) | undefined;
  /**
   * The routes a user calls with their JWT (docs/protocol.md H): POST /v1/tickets, POST /v1/messages and
   * POST /v1/runs/:run_id/cancel without the API key. True when it answered.
   */
  readonly userApi?:
    | ((req: IncomingMessage, res: ServerResponse, url: URL, operator: boolean) => Promise<boolean>)
    | undefined;
  /**
   * The AI SDK's chat routes (docs/protocol.md J, edges/ai-sdk/): the `/v1/ai-sdk/chat` routes, with the user's JWT.
   * True when it answered.
   */
  readonly aiSdk?:
    | ((req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>)
    | undefined;
  /** Routes served only with the demo on: `/`, `/demo/token`, static assets. */
  readonly demo?: ((req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>) | undefined;
}

export { sendError, sendJson } from './http-reply.js';
export { keyScope, unstoredMessage } from './publish-answers.js';

/**
 * The HTTP routes of docs/protocol.md §8. Every failure is a JSON error with a documented code; nothing
 * throws out of here.
 */
export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  path: string = requestPath(req.url),
): Promise<void> {
  try {
    // F: the stream runs the upgrade's origin checks (a refused origin is a violation), not the CORS refusal.
    if (path === '/v1/events' && req.method !== 'OPTIONS' && ctx.events !== undefined)
      return ctx.events(req, res, requestUrl(req.url));
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
    for (const name in cors.headers) res.setHeader(name, cors.headers[name] as string);
    if (path === '/healthz') return only(req, res, 'GET', () => sendJson(res, 200, { status: 'ok' }));
    if (path === '/readyz')
      return only(req, res, 'GET', () =>
        sendReadiness(res, ctx.readiness(), apiKeyMatches(req.headers.authorization, ctx.config.apiKey)),
      );
    if (path === '/metrics' && ctx.config.metricsPort === undefined)
      return await serveMetrics(req, res, ctx.metrics);
    if (path === '/v1/openapi.json') return only(req, res, 'GET', () => sendOpenApi(res));
    // The publish route first: no other route of handleApi answers its path, and it needs no URL object.
    if (path === '/v1/publish') return await publishRoute(req, res, ctx);
    if (path.startsWith('/v1/')) return await handleApi(req, res, ctx, requestUrl(req.url));
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

/** The OpenAPI document, built once (docs/protocol.md D, "OpenAPI"); the same bytes as docs/openapi.json. */
let openApiText: string | undefined;

/** The OpenAPI document's text, as served and as the build writes it to docs/openapi.json. */
export function openApiJson(): string {
  openApiText ??= `${JSON.stringify(
    { ...buildOpenApiDocument(packageVersion()), 'x-agentcast-flags': flagList() },
    null,
    2,
  )}\n`;
  return openApiText;
}

/**
 * Every flag of `agentcast serve` with its environment variable, default, bounds and help, from the one
 * options table (src/config/options.ts), as the vendor extension `x-agentcast-flags`: the limits the routes
 * answer by (413, 429, …) are these flags, so the document names them beside the routes.
 */
function flagList(): Record<string, unknown>[] {
  return OPTION_SPECS.map((spec: OptionSpec) => ({
    flag: flagName(spec.key),
    env: spec.env ?? envName(spec.key),
    kind: spec.kind,
    ...(spec.default === undefined
      ? spec.defaultText === undefined
        ? {}
        : { default: spec.defaultText }
      : { default: spec.secret === true ? '(secret)' : spec.default }),
    ...(spec.min === undefined ? {} : { minimum: spec.min }),
    ...(spec.max === undefined ? {} : { maximum: spec.max }),
    ...(spec.values === undefined ? {} : { enum: spec.values }),
    description: spec.help,
  }));
}

/** `GET /v1/openapi.json`: no credential; it says nothing a reader of the docs does not know. */
function sendOpenApi(res: ServerResponse): void {
  const text = openApiJson();
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache',
  });
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
  const path = url.pathname;
  if (ctx.aiSdk !== undefined && (await ctx.aiSdk(req, res, path))) return;
  const operator = apiKeyMatches(req.headers.authorization, ctx.config.apiKey);
  // H: the API key is compared first, so a backend's cancel never reaches the user routes; any other
  // bearer on a user route must be a user's JWT (tickets and messages take only a JWT).
  if (ctx.userApi !== undefined && (await ctx.userApi(req, res, url, operator))) return;
  // A user's own routes: the user's JWT, or the API key for a backend that names the user.
  if (isSnapshotOrApprovalRoute(path)) {
    const approvalPath = path.startsWith('/v1/approvals/');
    const method = approvalPath ? 'POST' : 'GET';
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      return methodNotAllowed(res, method);
    }
    const caller = await userCaller(req, res, ctx, url.searchParams);
    if (caller === undefined) return;
    if (path === '/v1/approvals') return listApprovals(res, ctx, caller, url.searchParams);
    if (approvalPath) {
      const approvalId = decodedSegment(path.slice('/v1/approvals/'.length));
      if (approvalId === undefined || approvalId.length > ID_MAX_LENGTH) {
        return sendError(
          res,
          400,
          ErrorCode.InvalidMessage,
          `approval_id: must be 1..${ID_MAX_LENGTH} characters of valid percent-encoded UTF-8`,
        );
      }
      return answerApproval(req, res, ctx, caller, approvalId);
    }
    if (path === '/v1/runs') return listRunSnapshots(res, ctx, caller, url.searchParams);
    const runId = decodedSegment(path.slice('/v1/runs/'.length));
    if (runId === undefined || runId.length > ID_MAX_LENGTH) {
      return sendError(
        res,
        400,
        ErrorCode.InvalidMessage,
        `run_id: must be 1..${ID_MAX_LENGTH} characters of valid percent-encoded UTF-8`,
      );
    }
    return runSnapshot(res, ctx, caller, runId);
  }
  if (!operator) return unauthorized(res);
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

/** `POST /v1/publish`: the API key, then the method, then {@link publish}. */
function publishRoute(req: IncomingMessage, res: ServerResponse, ctx: HttpApiContext): Promise<void> | void {
  if (!apiKeyMatches(req.headers.authorization, ctx.config.apiKey)) return unauthorized(res);
  if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
  return publish(req, res, ctx);
}

function unauthorized(res: ServerResponse): void {
  sendError(
    res,
    401,
    HttpErrorCode.Unauthorized,
    'missing or wrong API key; send Authorization: Bearer <api key>',
    {
      'WWW-Authenticate': 'Bearer',
    },
  );
}

/**
 * Whether the bearer credential is one of the configured API keys (`--api-key` lists them, comma
 * separated, for rotation). Compared in constant time: the work depends on the credential's length only,
 * never on a key's length or content, and every key is compared, so which one matched (or how many there
 * are) does not show either.
 *
 * It runs on every API request, so it is on the publish path. Each key is held once per `apiKey` value as
 * its UTF-16 code units in an Int32Array padded to a power of two with -1 (which no code unit equals);
 * code unit i of the credential is compared with slot `i & mask`: no branch, no bounds test, no division
 * depends on a key. Measured: 3.3-4.0 µs a call hashing both sides with SHA-256 (crypto.hash), 0.3-0.4 µs
 * this way (the bearer regex included).
 */
export function apiKeyMatches(authorization: string | undefined, apiKey: string | undefined): boolean {
  const keys = heldKeys(apiKey);
  if (keys.length === 0) return false;
  const given = bearerCredential(authorization);
  if (given === undefined) return false;
  let matched = false;
  for (const key of keys) {
    if (sameCodeUnits(given, key)) matched = true;
  }
  return matched;
}

/** One API key as {@link apiKeyMatches} compares it. */
interface HeldKey {
  readonly length: number;
  /** The key's code units, then -1 up to a power-of-two length. */
  readonly units: Int32Array;
  /** `units.length - 1`. */
  readonly mask: number;
}

function holdKey(key: string): HeldKey {
  let size = 1;
  while (size < key.length) size *= 2;
  const units = new Int32Array(size).fill(-1);
  for (let i = 0; i < key.length; i++) units[i] = key.charCodeAt(i);
  return { length: key.length, units, mask: size - 1 };
}

/** Whether `given` is exactly the key, in a time that depends on `given.length` only. */
function sameCodeUnits(given: string, key: HeldKey): boolean {
  let diff = given.length ^ key.length;
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ (key.units[i & key.mask] as number);
  return diff === 0;
}

/** The keys of the last `--api-key` value seen (one gateway has one; tests make many, so one is kept). */
let keysOf: { readonly apiKey: string | undefined; readonly keys: readonly HeldKey[] } = {
  apiKey: undefined,
  keys: [],
};

function heldKeys(apiKey: string | undefined): readonly HeldKey[] {
  if (keysOf.apiKey !== apiKey) keysOf = { apiKey, keys: apiKeyList(apiKey).map(holdKey) };
  return keysOf.keys;
}

/** What {@link readJsonBody} returns once it has answered (413, 400) or the client went away. */
export const NO_BODY: unique symbol = Symbol('no body');

/**
 * Reads a JSON body of at most `maxBytes`: the parsed value, or NO_BODY after answering 413 (the limit
 * named, with `limitName` after it) or 400 INVALID_JSON, or when the client went away mid-body.
 */
export async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  limitName: string,
): Promise<{ readonly value: unknown; readonly text: string } | typeof NO_BODY> {
  const body = await readBody(req, maxBytes);
  if (!body.ok) {
    if (body.reason === 'too_large')
      sendError(res, 413, HttpErrorCode.PayloadTooLarge, `body exceeds ${maxBytes} bytes${limitName}`);
    return NO_BODY; // too large (answered), or the client went away mid-body: no one to answer
  }
  try {
    return { value: JSON.parse(body.text), text: body.text };
  } catch {
    sendError(res, 400, ErrorCode.InvalidJson, 'body is not valid JSON');
    return NO_BODY;
  }
}

/**
 * POST /v1/publish: validate everything first, store all or nothing, 202 only for what was stored. With an
 * `Idempotency-Key`, at most once per key and API key (docs/protocol.md D).
 */
async function publish(req: IncomingMessage, res: ServerResponse, ctx: HttpApiContext): Promise<void> {
  const header = req.headers['idempotency-key'];
  // Node joins repeated headers with ", ": a space, so several keys are refused as one malformed key.
  const key = Array.isArray(header) ? header.join(', ') : header;
  if (key !== undefined && !idempotencyKeySchema.safeParse(key).success) {
    publishRejected(ctx, ErrorCode.InvalidMessage);
    return sendError(
      res,
      400,
      ErrorCode.InvalidMessage,
      'Idempotency-Key: must be 1..128 visible ASCII characters (no spaces)',
    );
  }
  // D, "Streamed publish": one event per line, each stored as it arrives.
  if (isNdjsonRequest(req.headers['content-type'])) return publishStream(req, res, ctx, key);
  const body = await readJsonBody(req, res, ctx.config.maxPublishBytes, ' (max_publish_bytes)');
  if (body === NO_BODY) {
    // Answered 413 or 400 by readJsonBody, or the client went away mid-body (nothing to count).
    if (res.headersSent)
      publishRejected(ctx, res.statusCode === 413 ? HttpErrorCode.PayloadTooLarge : ErrorCode.InvalidJson);
    return;
  }
  const parsed = parsePublishBody(body.value);
  if (!parsed.ok) {
    publishRejected(ctx, ErrorCode.InvalidMessage);
    return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  }
  // D, "Trace context": the request's traceparent travels with each of its events to the screen; with
  // tracing on, the publish span continues it and the events carry that span on (docs/deploy.md).
  const received = parseTraceparent(req.headers.traceparent);
  const span = ctx.tracing?.start('agentcast.publish', received, 'server', {
    'agentcast.events': parsed.value.length,
  });
  const traceparent = span === undefined ? received : span.traceparent;
  const items =
    traceparent === undefined
      ? parsed.value
      : parsed.value.map(({ userId, event }) => ({ userId, event: { ...event, meta: { traceparent } } }));
  try {
    if (key === undefined) {
      const stored = await ctx.engine.appendBatch(items);
      ctx.metrics.countHttpPublished(stored.length);
      sendJsonText(res, 202, publishResults(stored));
    } else {
      await publishOnce(res, ctx, items, key, body.text);
    }
    span?.end();
  } catch (err) {
    span?.end(err);
    if (isEngineUnavailable(err)) {
      publishRejected(ctx, ErrorCode.Unavailable);
      const message = unstoredMessage(err, parsed.value.length, { keyed: key !== undefined });
      return sendError(res, 503, ErrorCode.Unavailable, message, { 'Retry-After': '1' });
    }
    // A keyed batch the engine cannot store atomically (users of several Redis Cluster slots).
    if (isEventInvalid(err)) return sendError(res, 400, ErrorCode.InvalidMessage, err.message);
    throw err;
  }
}

/**
 * A keyed publish (docs/protocol.md D): stored and answered 202 the first time; a repeat of the same body
 * answered the first 202 byte for byte, storing nothing; another body 409 IDEMPOTENCY_KEY_REUSED.
 */
async function publishOnce(
  res: ServerResponse,
  ctx: HttpApiContext,
  items: Parameters<Engine['appendBatchOnce']>[0],
  key: string,
  body: string,
): Promise<void> {
  const answer = await ctx.engine.appendBatchOnce(items, {
    key: `${keyScope(ctx.config.apiKey)}:${key}`,
    fingerprint: createHash('sha256').update(body).digest('hex'),
    ttlMs: ctx.config.publishIdempotencyTtlS * 1000,
  });
  if (answer.outcome === 'conflict') {
    return sendError(
      res,
      409,
      HttpErrorCode.IdempotencyKeyReused,
      'Idempotency-Key: already used with a different body; nothing was stored. Use a new key for a new publish',
    );
  }
  if (answer.outcome === 'repeat') {
    // The same bytes as the first answer: built from the same seqs and epochs by the same code.
    const results = answer.results.map(({ seq, epoch }) => ({ seq, epoch }));
    return sendJson(res, 202, { results }, { 'Idempotent-Replayed': 'true' });
  }
  ctx.metrics.countHttpPublished(answer.events.length);
  sendJsonText(res, 202, publishResults(answer.events));
}

/** Counts a refused publish (`agentcast_publish_rejections_total{code}`). */
function publishRejected(ctx: HttpApiContext, code: string): void {
  ctx.metrics.publishRejections.inc({ code });
}

/**
 * The 202 body of a publish, `{"results":[{"seq":…,"epoch":…},…]}`, written directly: the same text as
 * `JSON.stringify({ results })` of those pairs (a test compares them), without an object per event.
 */
export function publishResults(stored: readonly { readonly seq: number; readonly epoch: string }[]): string {
  let text = '{"results":[';
  for (let i = 0; i < stored.length; i += 1) {
    const { seq, epoch } = stored[i] as { readonly seq: number; readonly epoch: string };
    text += `${i === 0 ? '' : ','}{"seq":${seq},"epoch":${JSON.stringify(epoch)}}`;
  }
  return `${text}]}`;
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
  const parsed = parseQuery(historyQuerySchema, queryObject(query));
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  const { since = 0, limit = ctx.config.historySize } = parsed.value;
  if (limit > ctx.config.historySize) {
    return sendError(res, 400, ErrorCode.InvalidMessage, `limit: must be at most ${ctx.config.historySize}`);
  }
  try {
    // Without an epoch, `since` is read in the user's current epoch: an operator's query, not a resume.
    const epoch = parsed.value.epoch ?? (await ctx.engine.head(userId)).epoch;
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
        ...(run.threadId === undefined ? {} : { thread_id: run.threadId }),
        ...(run.queued === undefined ? {} : { queued: true }),
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
  const body = await readJsonBody(req, res, CANCEL_BODY_MAX_BYTES, '');
  if (body === NO_BODY) return;
  const parsedUser = cancelBodySchema.safeParse(body.value);
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
  answerCancel(res, runId, await ctx.runs.cancel(parsedUser.data.user_id, runId));
}

/**
 * The answer to a cancel request, whoever asked (the backend with the API key, or the user with their
 * JWT, docs/protocol.md D and F): 202 cancelling, 200 ended, 404, or 503.
 */
export function answerCancel(res: ServerResponse, runId: string, outcome: CancelResult): void {
  if (outcome.ok) {
    const ended = outcome.ended === true;
    sendJson(res, ended ? 200 : 202, { run_id: runId, status: ended ? 'ended' : 'cancelling' });
  } else if (outcome.code === ErrorCode.Unavailable) {
    sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
      'Retry-After': '1',
    });
  } else {
    sendError(res, 404, outcome.code, outcome.message);
  }
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
  const { reason, revoke_before: revokeBefore } = parsed.value;
  const request = { userId, reason, revokeBefore };
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
  ctx.log.info({ user_id: userId, revoke_before: revokeBefore, reason }, 'user disconnected by the API');
  sendJson(res, 202, {
    user_id: userId,
    status: 'disconnecting',
    ...(revokeBefore === undefined ? {} : { revoke_before: revokeBefore }),
  });
}

/**
 * Whose runs a user route reads (docs/protocol.md F): the API key with `?user_id=` (a backend), or the
 * user of a valid JWT. Answers 401 (or 400 for a backend without a user) and returns undefined otherwise.
 */
async function userCaller(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  query: URLSearchParams,
): Promise<string | undefined> {
  const unauthorized = (message: string) =>
    sendError(res, 401, HttpErrorCode.Unauthorized, message, { 'WWW-Authenticate': 'Bearer' });
  if (apiKeyMatches(req.headers.authorization, ctx.config.apiKey)) {
    const userId = param(query, 'user_id');
    const checked = idSchema.safeParse(userId);
    if (!checked.success) {
      sendError(
        res,
        400,
        ErrorCode.InvalidMessage,
        `user_id: required with the API key, 1..${ID_MAX_LENGTH} characters`,
      );
      return undefined;
    }
    return checked.data;
  }
  const token = bearerCredential(req.headers.authorization);
  if (token === undefined) {
    unauthorized("send Authorization: Bearer <the user's JWT> (or the API key with ?user_id=)");
    return undefined;
  }
  const auth = await authenticateRequest(ctx.userAuth, token);
  if (!auth.ok) {
    const why = refusalWord(auth.refusal);
    unauthorized(why === 'invalid' ? 'invalid token' : `token ${why}`);
    return undefined;
  }
  return auth.userId;
}

/** 503 for an unreachable engine; anything else is the caller's to handle. */
function answerEngineFailure(res: ServerResponse, err: unknown): void {
  if (!isEngineUnavailable(err)) throw err;
  sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
    'Retry-After': '1',
  });
}

/** GET /v1/runs/:run_id: the run's snapshot, 404 for an unknown run or another user's (docs/protocol.md F). */
async function runSnapshot(
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
  runId: string,
): Promise<void> {
  try {
    const snapshot = await ctx.engine.runSnapshot(userId, runId);
    if (snapshot === undefined) return sendError(res, 404, HttpErrorCode.NotFound, `no run ${runId}`);
    sendJson(res, 200, snapshot);
  } catch (err) {
    answerEngineFailure(res, err);
  }
}

/** Most bytes of a `POST /v1/approvals/:approval_id` body. */
const APPROVAL_BODY_MAX = 4096;

/**
 * POST /v1/approvals/:approval_id `{"decision":"approve"|"deny","reason"?}` (docs/protocol.md G): `200` for
 * the answer that resolved it or its repeat (same `Idempotency-Key`, `duplicate: true`), `409 CONFLICT`
 * naming the decision that won, `404` for another user's or an unknown approval.
 */
async function answerApproval(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
  approvalId: string,
): Promise<void> {
  const key = req.headers['idempotency-key'];
  if (key !== undefined && (typeof key !== 'string' || !idempotencyKeySchema.safeParse(key).success)) {
    return sendError(
      res,
      400,
      ErrorCode.InvalidMessage,
      'Idempotency-Key: must be 1..128 visible ASCII characters',
    );
  }
  const json = await readJsonBody(req, res, APPROVAL_BODY_MAX, '');
  if (json === NO_BODY) return;
  const body = parseBody(approvalBodySchema, json.value);
  if (!body.ok) return sendError(res, 400, ErrorCode.InvalidMessage, body.message);
  const outcome = await ctx.runs.answerApproval(userId, approvalId, {
    decision: body.value.decision === 'approve' ? 'approved' : 'denied',
    reason: body.value.reason,
    key,
  });
  if (outcome.ok) {
    return sendJson(res, 200, {
      approval_id: approvalId,
      decision: outcome.decision,
      duplicate: outcome.duplicate,
    });
  }
  const status = outcome.code === ErrorCode.NotFound ? 404 : outcome.code === ErrorCode.Conflict ? 409 : 503;
  const details = outcome.decision === undefined ? undefined : { decision: outcome.decision };
  sendError(
    res,
    status,
    outcome.code,
    outcome.message,
    status === 503 ? { 'Retry-After': '1' } : {},
    details,
  );
}

/** GET /v1/approvals?state=pending: the user's approvals waiting for an answer (docs/protocol.md G). */
async function listApprovals(
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
  query: URLSearchParams,
): Promise<void> {
  const parsed = parseQuery(approvalsQuerySchema, queryObject(query));
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  try {
    const pending = await ctx.runs.pendingApprovals(userId);
    sendJson(res, 200, { approvals: pending.map((a) => ({ ...a.request, run_id: a.runId })) });
  } catch (err) {
    answerEngineFailure(res, err);
  }
}

/** The default `limit` of GET /v1/runs (docs/protocol.md F). */
const RUNS_PAGE = 20;

/** GET /v1/runs?state=&thread_id=&limit=: the user's run snapshots, most recently active first. */
async function listRunSnapshots(
  res: ServerResponse,
  ctx: HttpApiContext,
  userId: string,
  query: URLSearchParams,
): Promise<void> {
  const parsed = parseQuery(runsQuerySchema, queryObject(query));
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  const max = ctx.config.runSnapshotsPerUser;
  const { state = 'recent', limit = Math.min(RUNS_PAGE, max), thread_id: threadId } = parsed.value;
  if (limit > max) return sendError(res, 400, ErrorCode.InvalidMessage, `limit: must be at most ${max}`);
  try {
    sendJson(res, 200, { runs: await ctx.engine.runSnapshots(userId, { state, threadId, limit }) });
  } catch (err) {
    answerEngineFailure(res, err);
  }
}

/** A query parameter's value; an empty one (`since=`) counts as absent, like a missing one. */
function param(query: URLSearchParams, name: string): string | undefined {
  const text = query.get(name);
  return text === null || text === '' ? undefined : text;
}
