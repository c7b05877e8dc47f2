import type { OriginPolicy, OriginRejectionReason } from './origin-policy.js';

/** Input of {@link corsDecision}: one HTTP request (not the WebSocket upgrade, which has no CORS). */
export interface CorsRequest {
  readonly policy: OriginPolicy;
  readonly method: string;
  /** The request path; a query string is ignored. */
  readonly path: string;
  /** The Origin header as Node delivers it (`req.headersDistinct.origin` or `req.headers.origin`). */
  readonly origin: string | readonly string[] | undefined;
  /** `Access-Control-Request-Method`; with OPTIONS it makes the request a preflight. */
  readonly accessControlRequestMethod?: string | undefined;
  /** `--expose-api-to-browsers`: give /v1/* routes CORS headers too. Default off. */
  readonly exposeApiToBrowsers: boolean;
}

/** Response headers to set, by canonical name. */
export type CorsHeaders = Readonly<Record<string, string>>;

/**
 * Why a browser request was refused with 403: the origin policy's reason, or
 * - `api_not_exposed`: a preflight for a route browsers may not call (/v1/* unless exposed, unknown paths);
 * - `method_not_allowed`: a preflight asking for a method the route does not serve cross-origin.
 */
export type CorsRefusalReason = OriginRejectionReason | 'api_not_exposed' | 'method_not_allowed';

/**
 * What to do with a request:
 * - `continue`: route it as usual and add `headers`;
 * - `preflight`: answer 204 with `headers` and no body;
 * - `refuse`: answer 403 (`FORBIDDEN`) with `headers`, without running the route.
 */
export type CorsDecision =
  | { readonly action: 'continue'; readonly headers: CorsHeaders }
  | { readonly action: 'preflight'; readonly status: 204; readonly headers: CorsHeaders }
  | {
      readonly action: 'refuse';
      readonly status: 403;
      readonly reason: CorsRefusalReason;
      readonly headers: CorsHeaders;
    };

/** The GET routes browsers may read from allowed origins (docs/protocol.md §8; docs/security.md, CORS). */
export const PUBLIC_CORS_PATHS: readonly string[] = [
  '/',
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/openapi.json',
];
/** Headers a cross-origin request may send: the API key or token, a JSON body, a publish's idempotency key, an SSE resume point. */
export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID';
/** How long a browser may cache a preflight answer, in seconds (browsers cap it at 2 h or less). */
export const CORS_MAX_AGE_S = 600;

/**
 * The routes a browser calls with the user's JWT (docs/protocol.md H, I): the SSE stream, tickets, messages,
 * a user's cancel and the AG-UI routes. Allowed origins may call them without `--expose-api-to-browsers`: they are the
 * browser's own API, like the WebSocket.
 */
export function isUserRoute(path: string): boolean {
  return (
    path === '/v1/events' ||
    path === '/v1/tickets' ||
    path === '/v1/messages' ||
    /^\/v1\/runs\/[^/]+\/cancel$/.test(path) ||
    AI_SDK_ROUTE.test(path) ||
    path === '/v1/ag-ui' ||
    /^\/v1\/ag-ui\/runs\/[^/]+$/.test(path) ||
    isSnapshotOrApprovalRoute(path)
  );
}

/** The AI SDK's chat routes (docs/protocol.md J): `useChat` calls them from the page, with the user's JWT. */
const AI_SDK_ROUTE = /^\/v1\/ai-sdk\/chat(\/[^/]+\/(stream|cancel))?$/;

/** `/v1/runs`, `/v1/runs/:run_id` (docs/protocol.md F), `/v1/approvals`, `/v1/approvals/:approval_id` (G). */
export function isSnapshotOrApprovalRoute(path: string): boolean {
  return SNAPSHOT_OR_APPROVAL_ROUTE.test(path);
}

const SNAPSHOT_OR_APPROVAL_ROUTE = /^\/v1\/(runs|approvals)(\/[^/]+)?$/;

const PUBLIC_METHODS = ['GET', 'HEAD'];
const API_METHODS = ['GET', 'POST'];
const VARY: CorsHeaders = Object.freeze({ Vary: 'Origin' });
const NO_HEADERS: CorsHeaders = Object.freeze({});
/** The two answers of every request without an Origin (backends, curl, Prometheus): built once, not per request. */
const CONTINUE: CorsDecision = Object.freeze({ action: 'continue', headers: NO_HEADERS });
const CONTINUE_VARY: CorsDecision = Object.freeze({ action: 'continue', headers: VARY });

/**
 * Decides CORS for one HTTP request. Rules:
 * - a request without Origin (curl, Prometheus, backends, same-origin GET) gets no CORS headers, even
 *   with requireOrigin (which applies to WebSocket upgrades);
 * - an Origin refused by the policy (also an empty one) gets 403 on every route, preflight or not;
 * - the public GET routes get `Access-Control-Allow-Origin: <the origin>` and `Vary: Origin`;
 * - the user routes (isUserRoute) are treated like the public routes, with GET and POST;
 * - the rest of /v1/* (and every other path) gets no CORS headers and a refused preflight, unless
 *   `exposeApiToBrowsers`; then it is treated like the public routes, with GET and POST;
 * - the allowed origin is echoed, never `*`, and `Access-Control-Allow-Credentials` is never sent:
 *   credentials travel in the Authorization header, not in cookies.
 */
export function corsDecision(request: CorsRequest): CorsDecision {
  const queryAt = request.path.indexOf('?');
  const path = queryAt === -1 ? request.path : request.path.slice(0, queryAt);
  const isPublic = PUBLIC_CORS_PATHS.includes(path);
  const exposed = isPublic || request.exposeApiToBrowsers || isUserRoute(path);
  // Vary on every response a CORS header could appear on, so a cache never serves one origin's answer to another.
  const vary = exposed ? VARY : NO_HEADERS;
  // No Origin: continue, whatever the policy (requireOrigin guards upgrades only: HTTP clients without
  // Origin, as curl, Prometheus and backends, are fine). The publish path takes this branch on every request.
  if (request.origin === undefined) return exposed ? CONTINUE_VARY : CONTINUE;
  const checked = request.policy.check(request.origin);
  if (!checked.ok) {
    return checked.reason === 'missing_origin'
      ? { action: 'continue', headers: vary }
      : { action: 'refuse', status: 403, reason: checked.reason, headers: vary };
  }
  if (checked.origin === undefined) return { action: 'continue', headers: vary };
  // A preflight is OPTIONS with Access-Control-Request-Method; any other OPTIONS goes to the router.
  const requested = request.method === 'OPTIONS' ? request.accessControlRequestMethod : undefined;
  if (!exposed) {
    return requested === undefined
      ? CONTINUE
      : { action: 'refuse', status: 403, reason: 'api_not_exposed', headers: NO_HEADERS };
  }
  const allowOrigin = { 'Access-Control-Allow-Origin': checked.origin, ...VARY };
  if (requested === undefined) return { action: 'continue', headers: allowOrigin };
  const methods = isPublic ? PUBLIC_METHODS : API_METHODS;
  if (!methods.includes(requested)) {
    return { action: 'refuse', status: 403, reason: 'method_not_allowed', headers: vary };
  }
  return {
    action: 'preflight',
    status: 204,
    headers: {
      ...allowOrigin,
      'Access-Control-Allow-Methods': methods.join(', '),
      'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
      'Access-Control-Max-Age': String(CORS_MAX_AGE_S),
    },
  };
}
