import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer, Server as WsServer } from 'ws';
import { tokenFromUpgrade } from '../auth/token-source.js';
import type { Config } from '../config/config.js';
import type { Metrics } from '../observability/metrics.js';
import { Connection, type ConnectionSocket } from './connection.js';
import type { ConnectionContext } from './connection-context.js';
import type { ConnectionRegistry, RegisteredSession } from './connection-registry.js';
import { requestPath, requestUrl } from './http-route.js';
import type { OriginGuard } from './origin-guard.js';
import { checkAdmission } from './session-admission.js';
import { checkRequest, offeredSubprotocols, resumeFromQuery } from './upgrade-checks.js';
import { rejectUpgrade, type UpgradeRejection } from './upgrade-rejection.js';

/** What the upgrade path needs from its gateway. */
export interface UpgradeHandlerDeps {
  readonly config: Config;
  readonly wss: WsServer<typeof ConnectionSocket>;
  readonly origins: OriginGuard;
  readonly registry: ConnectionRegistry;
  readonly ctx: ConnectionContext<Connection>;
  readonly metrics: Metrics;
  /** False once the gateway drains or closes: new upgrades get 503. */
  readonly accepting: () => boolean;
  /**
   * `GET /v1/ai-sdk/ws` (docs/protocol.md J): the same checks, then its own server (its frame limit is
   * `--ai-sdk-max-body-bytes`) and session.
   */
  readonly aiSdk?:
    | {
        readonly path: string;
        readonly wss: WebSocketServer;
        open(
          ws: WebSocket,
          socket: Socket,
          info: { id: string; ip: string; token: string | undefined },
        ): RegisteredSession;
      }
    | undefined;
}

/**
 * The WebSocket upgrade path (docs/protocol.md §1): runs the checks in the order of the table (429 blocked,
 * 429 too many handshakes, 503, 403, 400), answers a refusal over plain HTTP, and turns an accepted socket into a Connection.
 */
export class UpgradeHandler {
  readonly #deps: UpgradeHandlerDeps;
  /** Upgrades accepted by the checks whose handshake has not finished; they count against max_connections. */
  #pending = 0;

  constructor(deps: UpgradeHandlerDeps) {
    this.#deps = deps;
  }

  handle(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { config, origins, registry, ctx, aiSdk } = this.#deps;
    // requestPath does not throw on a target the URL parser refuses (`//`): a bad path, not a crash.
    const path = requestPath(req.url);
    const isAiSdk = aiSdk !== undefined && path === aiSdk.path;
    if (path !== '/ws' && !isAiSdk) {
      this.#reject(socket, { status: 400, reason: 'bad_path', message: 'the WebSocket endpoint is /ws' });
      return;
    }
    const url = requestUrl(req.url);
    const ip = origins.clientIp(req);
    const rejection =
      checkAdmission(
        { config, origins, handshakes: ctx.handshakes, accepting: this.#deps.accepting },
        req,
        ip,
        registry.size + this.#pending,
      ) ?? checkRequest(req, url);
    if (rejection !== null) {
      this.#reject(socket, rejection);
      return;
    }
    const token = tokenFromUpgrade({
      authorization: req.headers.authorization,
      subprotocols: offeredSubprotocols(req),
      queryToken: url.searchParams.get('token'),
      allowQueryToken: config.allowQueryToken,
    });
    const resume = resumeFromQuery(url);
    // handleUpgrade answers a bad handshake (400) itself and never calls back: the upgrade is settled
    // on either path, so max_connections stays honest.
    // The handshake taken here is released by the Connection (welcome or close), or here when the
    // WebSocket handshake itself fails.
    ctx.handshakes.tryAcquire(ip);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.#pending--;
    };
    const failed = (): void => {
      if (settled) return;
      settle();
      ctx.handshakes.release(ip);
    };
    this.#pending++;
    socket.once('close', failed);
    const upgraded = (): string => {
      settle();
      socket.off('close', failed);
      return `c_${randomBytes(9).toString('base64url')}`;
    };
    if (isAiSdk) {
      aiSdk.wss.handleUpgrade(req, socket, head, (ws) => {
        registry.add(aiSdk.open(ws, socket, { id: upgraded(), ip, token: token?.token }));
      });
    } else {
      this.#deps.wss.handleUpgrade(req, socket, head, (ws) => {
        const id = upgraded();
        registry.add(new Connection(ws, socket, ctx, { id, ip, token: token?.token, resume }));
      });
    }
  }

  #reject(socket: Socket, rejection: UpgradeRejection): void {
    this.#deps.metrics.upgradeRejections.inc({ reason: rejection.reason });
    rejectUpgrade(socket, rejection);
  }
}
