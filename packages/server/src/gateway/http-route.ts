import { HTTP_ROUTES } from '../protocol/http-routes.js';

/**
 * Each route of the route table (protocol/http-routes.ts) as a matcher and its label: the OpenAPI template
 * `/v1/users/{user_id}/history` is labelled `/v1/users/:user_id/history`. A parameter matches one path
 * segment; fixed paths are looked up first.
 */
const FIXED_ROUTES = new Set<string>();
const TEMPLATED_ROUTES: { readonly pattern: RegExp; readonly label: string }[] = [];
for (const { path } of HTTP_ROUTES) {
  if (!path.includes('{')) {
    FIXED_ROUTES.add(path);
    continue;
  }
  const label = path.replace(/\{(\w+)\}/g, ':$1');
  if (TEMPLATED_ROUTES.some((route) => route.label === label)) continue;
  const source = path
    .split(/\{\w+\}/)
    .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  TEMPLATED_ROUTES.push({ pattern: new RegExp(`^${source}$`), label });
}

/** Methods kept as a label; anything else is `other`, so a client cannot grow the label set. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The route template of a request path, for metric labels and the access log: `/v1/users/:user_id/history`,
 * never a user id, and `other` for every path the gateway has no route for (scanners, demo assets), so
 * the number of label values stays bounded whatever clients send.
 */
export function httpRoute(path: string): string {
  if (FIXED_ROUTES.has(path)) return path;
  for (const route of TEMPLATED_ROUTES) if (route.pattern.test(path)) return route.label;
  return 'other';
}

/** The request method as a bounded label value. */
export function httpMethodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'other';
}
