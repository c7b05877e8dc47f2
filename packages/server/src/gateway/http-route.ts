/** Routes whose path is their own template. */
const FIXED_ROUTES = new Set([
  '/',
  '/healthz',
  '/readyz',
  '/metrics',
  '/demo/token',
  '/v1/publish',
  '/v1/stats',
  '/v1/events',
  '/v1/ai-sdk/chat',
  '/v1/ai-sdk/ws',
]);

/** `/v1/users/<id>/<what>` and `/v1/runs/<id>/<what>`: the id is replaced, the action kept. */
const USER_ROUTE = /^\/v1\/users\/[^/]+\/(history|runs|presence|disconnect)$/;
const RUN_ROUTE = /^\/v1\/runs\/[^/]+\/(cancel)$/;
const CHAT_ROUTE = /^\/v1\/ai-sdk\/chat\/[^/]+\/(stream|cancel)$/;

/** Methods kept as a label; anything else is `other`, so a client cannot grow the label set. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The route template of a request path, for metric labels and the access log: `/v1/users/:user_id/history`,
 * never a user id, and `other` for every path the gateway has no route for (scanners, demo assets), so
 * the number of label values stays bounded whatever clients send.
 */
export function httpRoute(path: string): string {
  if (FIXED_ROUTES.has(path)) return path;
  const user = USER_ROUTE.exec(path);
  if (user !== null) return `/v1/users/:user_id/${user[1]}`;
  const run = RUN_ROUTE.exec(path);
  if (run !== null) return `/v1/runs/:run_id/${run[1]}`;
  const chat = CHAT_ROUTE.exec(path);
  if (chat !== null) return `/v1/ai-sdk/chat/:chat_id/${chat[1]}`;
  return 'other';
}

/** The request method as a bounded label value. */
export function httpMethodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'other';
}
