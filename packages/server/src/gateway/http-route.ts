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

/** A path whose WHATWG parse is itself: a leading `/` (not `//`), then only letters, digits, `_`, `-` and `/`. */
const PLAIN_PATH = /^\/(?!\/)[\w\-/]*$/;

/**
 * The path of a request target, exactly as `new URL(target, 'http://localhost').pathname` gives it, without
 * building a URL when the path part is plain (every route but `/v1/openapi.json`, without dot segments,
 * percent escapes or a scheme): the publish path runs this on every request, twice before (the routes and
 * the metrics' route label each parsed the URL). A target the WHATWG parser refuses (`//`, `//[`: an
 * authority with a bad host) is its own path part, which no route has (404, label `other`): it must not
 * throw, for it runs before any handler could catch it.
 */
export function requestPath(target: string | undefined): string {
  const raw = target ?? '/';
  const queryAt = raw.indexOf('?');
  const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
  if (PLAIN_PATH.test(path)) return path;
  try {
    return new URL(raw, 'http://localhost').pathname;
  } catch {
    return path;
  }
}

/** The request target as a URL, for the routes that read its query; only after {@link requestPath} found a route. */
export function requestUrl(target: string | undefined): URL {
  return new URL(target ?? '/', 'http://localhost');
}
