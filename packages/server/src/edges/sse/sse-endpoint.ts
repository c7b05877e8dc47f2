import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerCredential } from '../../auth/token-source.js';
import type { Config } from '../../config/config.js';
import type { SessionCredential } from '../../gateway/authenticate-session.js';
import type { ConnectionRegistry } from '../../gateway/connection-registry.js';
import { sendError } from '../../gateway/http-api.js';
import type { OriginGuard } from '../../gateway/origin-guard.js';
import { checkAdmission } from '../../gateway/session-admission.js';
import { checkResumeQuery, resumeFromQuery } from '../../gateway/upgrade-checks.js';
import { UPGRADE_ERROR_CODES, type UpgradeRejection } from '../../gateway/upgrade-rejection.js';
import type { Metrics } from '../../observability/metrics.js';
import { HttpErrorCode } from '../../protocol/error-codes.js';
import { resumeFromLastEventId } from './sse-frame.js';
import { type SseContext, SseSession } from './sse-session.js';

/** What the SSE endpoint needs from its gateway. */
export interface SseEndpointDeps {
  readonly config: Config;
  readonly origins: OriginGuard;
  readonly registry: ConnectionRegistry;
  /** The shared session context; `onOpened` and `onClosed` are the endpoint's own. */
  readonly ctx: Omit<SseContext, 'onOpened' | 'onClosed'>;
  readonly metrics: Metrics;
  /** False once the gateway drains or closes: new streams get 503. */
  readonly accepting: () => boolean;
  /**
   * Hands the stream's socket from the plain-HTTP socket cap to max_connections, as an upgrade does:
   * a stream is a session, not a request.
   */
  readonly releaseSocket: (req: IncomingMessage) => void;
}

/**
 * `GET /v1/events` (docs/protocol.md H): the same checks as a WebSocket upgrade in the same order (§1:
 * 429 blocked, 429 handshakes, 503, 403; then 400 for a malformed resume), a credential (401 without
 * one), then an SseSession. Owns the one heartbeat interval of every open stream.
 */
export class SseEndpoint {
  readonly #deps: SseEndpointDeps;
  readonly #ctx: SseContext;
  /** Open streams, for the heartbeat. */
  readonly #open = new Set<SseSession>();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(deps: SseEndpointDeps) {
    this.#deps = deps;
    this.#ctx = {
      ...deps.ctx,
      onOpened: (session) => this.#open.add(session),
      onClosed: (session) => {
        this.#open.delete(session);
        deps.metrics.sseStreams.dec();
        deps.registry.delete(session);
      },
    };
  }

  /** Starts the heartbeat: one interval writes `: ping` to every open stream. Idempotent. */
  start(): void {
    this.#heartbeat ??= setInterval(() => {
      for (const session of this.#open) session.writePing();
    }, this.#deps.config.sseHeartbeatMs).unref();
  }

  /** Stops the heartbeat. Idempotent. */
  stop(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const { config, origins, registry, ctx } = this.#deps;
    if (req.method !== 'GET') {
      sendError(res, 405, HttpErrorCode.MethodNotAllowed, 'use GET', { Allow: 'GET' });
      return;
    }
    const ip = origins.clientIp(req);
    const rejection =
      checkAdmission(
        { config, origins, handshakes: ctx.handshakes, accepting: this.#deps.accepting },
        req,
        ip,
        registry.size,
      ) ?? checkResumeQuery(url);
    if (rejection !== null) {
      this.#reject(res, rejection);
      return;
    }
    const header = req.headers['last-event-id'];
    const lastEventId = resumeFromLastEventId(Array.isArray(header) ? header.join(',') : header);
    if (lastEventId === null) {
      this.#reject(res, {
        status: 400,
        reason: 'bad_last_event_id',
        message: 'Last-Event-ID: must be <epoch>:<seq>, an id the stream wrote',
      });
      return;
    }
    const credential = credentialOf(req, url, config.allowQueryToken);
    if (credential === undefined) {
      sendError(
        res,
        401,
        HttpErrorCode.Unauthorized,
        'send Authorization: Bearer <jwt>, or ?ticket= from POST /v1/tickets',
        { 'WWW-Authenticate': 'Bearer' },
      );
      return;
    }
    const cors = origins.cors(req, url.pathname);
    // F: Last-Event-ID, which EventSource sends on its own reconnects, wins over the URL's since/epoch,
    // which stay what they were when the stream was first opened; the query's other fields still apply.
    const resume = { ...resumeFromQuery(url), ...lastEventId };
    this.#deps.releaseSocket(req);
    ctx.handshakes.tryAcquire(ip);
    const id = `c_${randomBytes(9).toString('base64url')}`;
    const session = new SseSession(res, this.#ctx, { id, ip, headers: cors.headers });
    registry.add(session);
    this.#deps.metrics.sseStreams.inc();
    session.start(credential, resume);
  }

  #reject(res: ServerResponse, rejection: UpgradeRejection): void {
    this.#deps.metrics.upgradeRejections.inc({ reason: rejection.reason });
    sendError(res, rejection.status, UPGRADE_ERROR_CODES[rejection.status], rejection.message, {
      ...rejection.headers,
    });
  }
}

/**
 * The stream's credential (docs/protocol.md H), in order: `Authorization: Bearer <jwt>`, `?ticket=`,
 * then `?token=` only with --allow-query-token (a URL ends up in logs; a ticket is single-use).
 */
function credentialOf(
  req: IncomingMessage,
  url: URL,
  allowQueryToken: boolean,
): SessionCredential | undefined {
  const header = bearerCredential(req.headers.authorization);
  if (header !== undefined) return { kind: 'token', token: header };
  const ticket = url.searchParams.get('ticket');
  if (ticket !== null && ticket !== '') return { kind: 'ticket', ticket };
  const token = url.searchParams.get('token');
  if (allowQueryToken && token !== null && token !== '') return { kind: 'token', token };
  return undefined;
}
