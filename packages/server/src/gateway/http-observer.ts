import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { httpMethodLabel, httpRoute, requestPath } from './http-route.js';

/** What {@link observeHttp} needs from the gateway. */
export interface HttpObserverContext {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** `--access-log`: one info line per request. */
  readonly accessLog: boolean;
  /** The client's address (behind trusted proxies, the forwarded one: security/client-ip.ts). */
  readonly clientIp: (req: IncomingMessage) => string;
}

/**
 * Counts one HTTP request once its answer is written or its socket goes away
 * (`agentcast_http_requests_total`, `agentcast_http_request_duration_seconds`), and writes the access log
 * line when asked. Labels and the log carry the route template (http-route.ts), never the path's ids, the
 * query (which may hold a token) or any header.
 */
export function observeHttp(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpObserverContext,
  path: string = requestPath(req.url),
): void {
  const started = performance.now();
  // `on`, not `once`: a response closes once, and once's wrapper is an allocation per request.
  res.on('close', () => {
    const seconds = (performance.now() - started) / 1000;
    const route = httpRoute(path);
    const method = httpMethodLabel(req.method);
    // A socket that went away before an answer was written has no status of its own.
    const status = res.headersSent ? String(res.statusCode) : 'aborted';
    ctx.metrics.countHttpRequest(route, method, status, seconds);
    if (ctx.accessLog) {
      ctx.log.info(
        { method, route, status, duration_ms: Math.round(seconds * 1000), ip: ctx.clientIp(req) },
        'http request',
      );
    }
  });
}
