import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type Server as WsServer } from 'ws';
import { AgentRuntime } from '../agents/agent-runtime.js';
import { builtInAgents } from '../agents/built-in-agents.js';
import type { AgentDefinition } from '../agents/define-agent.js';
import { generateDevSecret } from '../auth/dev-token.js';
import { readTokenKeySource, TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/config.js';
import { handleAgUi } from '../edges/ag-ui/ag-ui-endpoint.js';
import { handleAiSdkHttp } from '../edges/ai-sdk/ai-sdk-http.js';
import { AiSdkSocket } from '../edges/ai-sdk/ai-sdk-socket.js';
import { SseEndpoint } from '../edges/sse/sse-endpoint.js';
import { createEngine } from '../engine/create-engine.js';
import type { Engine } from '../engine/engine.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { traceAppends } from '../observability/traced-engine.js';
import { createTracing, type Tracing } from '../observability/tracing.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import type { NewEvent, StoredEvent } from '../protocol/events.js';
import { SUBPROTOCOL } from '../protocol/frames.js';
import { parsePublishItem } from '../protocol/publish.js';
import { HandshakeLimiter } from '../security/handshake-limiter.js';
import { TrustedProxies } from '../security/trusted-proxies.js';
import { ConnectionSocket } from './connection.js';
import { ConnectionRegistry } from './connection-registry.js';
import { createDemoRoutes } from './demo-routes.js';
import { handleHttp, handleMetricsPort, type Readiness } from './http-api.js';
import { observeHttp } from './http-observer.js';
import { requestPath } from './http-route.js';
import { HttpSocketLimit } from './http-socket-limit.js';
import { OriginGuard } from './origin-guard.js';
import { RunStreams } from './run-stream.js';
import type { Session } from './session.js';
import { StreamHeartbeat } from './stream-heartbeat.js';
import { StreamTickets } from './stream-tickets.js';
import { UpgradeHandler } from './upgrade-handler.js';
import { handleUserApi } from './user-api.js';
import { UserHub } from './user-hub.js';

/** Things a gateway uses that the caller may supply (tests, embedding). Nothing here is global. */
export interface GatewayDeps {
  /**
   * Defaults to the engine the config names (memory, or Redis with `redis`). The gateway closes only
   * an engine it created.
   */
  readonly engine?: Engine;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
  /** Agents besides the built-in ones. */
  readonly agents?: readonly AgentDefinition[];
}

/** Where a gateway listens. */
export interface GatewayAddresses {
  readonly host: string;
  readonly port: number;
  /** Set when /metrics is served on its own port. */
  readonly metricsPort?: number;
}

/** `starting → running → draining → closed`. */
export type GatewayState = 'starting' | 'running' | 'draining' | 'closed';

/** How long closing connections get to finish the closing handshake before they are dropped. */
const CLOSE_GRACE_MS = 2000;
/** How often expired origin violations and IP blocks are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;
/** Bounds of how often Node looks for HTTP requests past their headers or request timeout. */
const MIN_CONNECTIONS_CHECK_MS = 25;
const MAX_CONNECTIONS_CHECK_MS = 1000;

/**
 * One agentcast node: HTTP API, WebSocket upgrades, connections, the user hub, agent runs and
 * graceful drain. The instance owns all of its state, so several gateways can run in one process.
 */
export class Gateway {
  readonly config: Config;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly runtime: AgentRuntime;
  /** The HS256 secret generated for development when none was configured; undefined otherwise. */
  readonly devSecret: string | undefined;
  readonly #ownsEngine: boolean;
  readonly #hub: UserHub<Session>;
  /** Followers of single runs, for the edges that stream one run (AG-UI, AI SDK; docs/architecture.md). */
  readonly #runStreams: RunStreams;
  readonly #registry: ConnectionRegistry;
  readonly #server: Server;
  readonly #metricsServer: Server | undefined;
  readonly #wss: WsServer<typeof ConnectionSocket>;
  /** `GET /v1/ai-sdk/ws` (docs/protocol.md J): its frames are chat requests, bounded by --ai-sdk-max-body-bytes. */
  readonly #aiSdkWss: WebSocketServer;
  /** `GET /v1/events`: Server-Sent Events streams (docs/protocol.md H). */
  readonly #sse: SseEndpoint;
  readonly #origins: OriginGuard;
  readonly #verifier: TokenVerifier;
  /** Spans exported over OTLP (docs/deploy.md, "Tracing"); undefined without --otel-endpoint. */
  readonly #tracing: Tracing | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  /** Stops listening to user disconnects (set once the engine confirmed the listener). */
  #stopDisconnects: (() => Promise<void>) | undefined;
  #state: GatewayState = 'starting';
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Set during the drain delay: /readyz answers 503 while everything else keeps working. */
  #deregistering = false;
  /** Ends the drain delay early (close() during the delay). */
  #endDelay: (() => void) | undefined;

  constructor(config: Config, deps: GatewayDeps = {}) {
    this.config = config;
    const now = deps.now ?? Date.now;
    this.log = deps.log ?? createLogger({ level: config.logLevel });
    this.metrics = deps.metrics ?? new Metrics();
    // Everything that can refuse the config runs before anything that holds a resource.
    const origins = new OriginGuard(config, { log: this.log, metrics: this.metrics, now });
    this.#origins = origins;
    let key = readTokenKeySource(config);
    if (key === undefined) {
      this.devSecret = developmentSecret(config);
      key = { kind: 'secret', secret: this.devSecret };
    } else {
      this.devSecret = undefined;
    }
    const tracing =
      config.otelEndpoint === undefined
        ? undefined
        : createTracing({
            endpoint: config.otelEndpoint,
            serviceName: config.otelServiceName,
            serverId: config.serverId,
            log: this.log,
          });
    this.#tracing = tracing;
    const agents = [...builtInAgents(config, tracing), ...(deps.agents ?? [])];
    checkDefaultAgent(config.defaultAgent, agents);
    if (key.kind === 'remoteJwks') key = { ...key, ...this.#jwksReporting(key.url) };
    this.#verifier = new TokenVerifier({ key, issuer: config.jwtIssuer, audience: config.jwtAudience });
    this.#ownsEngine = deps.engine === undefined;
    const engine = deps.engine ?? createEngine(config, this.log, this.metrics);
    this.engine = tracing === undefined ? engine : traceAppends(engine, tracing);
    this.#hub = new UserHub({ engine: this.engine, log: this.log, metrics: this.metrics, now, tracing });
    this.#runStreams = new RunStreams({ engine: this.engine, historySize: config.historySize });
    this.#registry = new ConnectionRegistry({
      heartbeatMs: config.heartbeatMs,
      now,
      metrics: this.metrics,
      serverId: config.serverId,
      writePresence: (entries) => this.engine.putPresence(entries),
    });
    this.runtime = new AgentRuntime({
      engine: this.engine,
      agents,
      defaultAgent: config.defaultAgent,
      runTimeoutMs: config.runTimeoutMs,
      approvalTimeoutMs: config.approvalTimeoutMs,
      maxRunsPerUser: config.maxRunsPerUser,
      busyPolicy: config.busyPolicy,
      maxQueuedRunsPerThread: config.maxQueuedRunsPerThread,
      node: config.serverId,
      runLeaseMs: config.runLeaseS * 1000,
      log: this.log,
      metrics: this.metrics,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      // Hands socket events to their Connection without a listener per event (connection.ts).
      WebSocket: ConnectionSocket,
      // §1: select agentcast.v1; never echo bearer.<jwt>, which would send the token back.
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#aiSdkWss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.aiSdkMaxBodyBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const verifier = this.#verifier;
    const handshakes = new HandshakeLimiter(config.maxHandshakesPerIp);
    const accepting = (): boolean => this.#state === 'running';
    // One session context for every transport: the rules (auth, slots, resume, runs) are the same calls.
    const sessions = {
      config,
      verifier,
      engine: this.engine,
      hub: this.#hub,
      runs: this.runtime,
      runStreams: this.#runStreams,
      log: this.log,
      metrics: this.metrics,
      now,
      handshakes,
    };
    const upgrades = new UpgradeHandler({
      config,
      wss: this.#wss,
      origins,
      registry: this.#registry,
      metrics: this.metrics,
      accepting,
      ctx: { ...sessions, onClosed: (conn) => this.#registry.delete(conn) },
      aiSdk: {
        path: '/v1/ai-sdk/ws',
        wss: this.#aiSdkWss,
        open: (ws, socket, info) =>
          new AiSdkSocket(ws, socket, { ...sessions, onClosed: (s) => this.#registry.delete(s) }, info),
      },
    });
    const tickets = new StreamTickets(this.engine);
    this.#sse = new SseEndpoint({
      config,
      origins,
      registry: this.#registry,
      metrics: this.metrics,
      accepting,
      ctx: { ...sessions, tickets },
      releaseSocket: (req) => sockets.release(req.socket),
    });
    const sse = this.#sse;
    const userApi = { ...sessions, tickets };
    // One heartbeat for the edges' streams of one run (AG-UI, the AI SDK's chat streams): one timer for all.
    const heartbeat = new StreamHeartbeat(config.sseHeartbeatMs);
    const agUi = { ...userApi, heartbeat };
    // A demo token is a token for any user, to anyone who asks: only the throw-away dev secret signs
    // them, unless --demo-tokens says the configured secret may.
    const demoSecret = this.devSecret ?? (config.demoTokens ? config.jwtSecret : undefined);
    const demo = config.demo
      ? createDemoRoutes({ secret: demoSecret, defaultAgent: config.defaultAgent })
      : undefined;
    const aiSdk = { ...sessions, heartbeat };
    const httpContext = {
      config,
      demo,
      engine: this.engine,
      runs: this.runtime,
      metrics: this.metrics,
      tracing,
      log: this.log,
      readiness: () => this.readiness(),
      stats: () => this.stats(),
      cors: (req: IncomingMessage, path: string) => origins.cors(req, path),
      userAuth: sessions,
      events: (req: IncomingMessage, res: ServerResponse, url: URL) => sse.handle(req, res, url),
      // docs/protocol.md I: the AG-UI routes are user routes too, on the same session core and run control.
      userApi: async (req: IncomingMessage, res: ServerResponse, url: URL, operator: boolean) =>
        (await handleAgUi(req, res, agUi, url)) || handleUserApi(req, res, userApi, url, operator),
      aiSdk: (req: IncomingMessage, res: ServerResponse, path: string) =>
        handleAiSdkHttp(req, res, aiSdk, path),
    };
    // One budget of plain HTTP sockets for both ports: file descriptors are the process's.
    const trusted = new TrustedProxies(config.trustProxy);
    const sockets = new HttpSocketLimit({
      maxSockets: config.maxHttpSockets,
      maxPerIp: config.maxHttpSocketsPerIp,
      exempt: (address) => trusted.has(address),
      log: this.log,
      now,
    });
    const observer = {
      metrics: this.metrics,
      log: this.log,
      accessLog: config.accessLog,
      clientIp: (req: IncomingMessage) => origins.clientIp(req),
    };
    this.#server = createServer(httpServerOptions(config), (req, res) => {
      // One parse of the target for the routes and the metrics' route label.
      const path = requestPath(req.url);
      observeHttp(req, res, observer, path);
      void handleHttp(req, res, httpContext, path);
    });
    this.#server.on('connection', (socket: Socket) => sockets.admit(socket));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // From here the socket is a WebSocket candidate, bounded by --max-connections, not an HTTP socket.
      sockets.release(socket as Socket);
      upgrades.handle(req, socket as Socket, head);
    });
    this.#metricsServer =
      config.metricsPort === undefined
        ? undefined
        : createServer(httpServerOptions(config), (req, res) => {
            observeHttp(req, res, observer);
            void handleMetricsPort(req, res, this);
          });
    this.#metricsServer?.on('connection', (socket: Socket) => sockets.admit(socket));
    this.engine.onHealthChange((health) => this.metrics.engineUp.set(health.ok ? 1 : 0));
    this.metrics.engineUp.set(this.engine.health().ok ? 1 : 0);
    this.metrics.historyBytesSource = () => this.engine.historyBytes ?? 0;
    this.metrics.redisSubscriptionsSource = () => this.engine.subscribedUserCount ?? 0;
    this.metrics.readySource = () => this.readiness().ready;
  }

  get state(): GatewayState {
    return this.#state;
  }

  /** Where the gateway listens, once listen() resolved. */
  addresses(): GatewayAddresses {
    const main = this.#server.address() as AddressInfo | null;
    const metrics = this.#metricsServer?.address() as AddressInfo | null | undefined;
    return {
      host: main?.address ?? '',
      port: main?.port ?? 0,
      ...(metrics ? { metricsPort: metrics.port } : {}),
    };
  }

  /** Starts listening; resolves with the bound addresses (port 0 picks a free port). */
  async listen(): Promise<GatewayAddresses> {
    await this.#tracing?.ready;
    await listenOn(this.#server, { port: this.config.port, host: this.config.host, flag: '--port' });
    if (this.#metricsServer !== undefined) {
      const port = this.config.metricsPort ?? 0;
      await listenOn(this.#metricsServer, { port, host: this.config.host, flag: '--metrics-port' });
    }
    this.#state = 'running';
    this.#registry.start();
    this.#sse.start();
    this.#verifier.keySet?.start();
    this.#listenToDisconnects();
    this.#pruneTimer = setInterval(() => this.#origins.prune(), PRUNE_INTERVAL_MS).unref();
    const addresses = this.addresses();
    this.log.info(
      { ...addresses, env: this.config.env, engine: this.engine.kind, server_id: this.config.serverId },
      'gateway listening',
    );
    return addresses;
  }

  /** Publishes an event for a user from code (the TypeScript API), validated like an HTTP publish. */
  async publish(userId: string, event: NewEvent): Promise<StoredEvent> {
    const parsed = parsePublishItem(userId, event);
    if (!parsed.ok)
      throw new AgentcastError(AgentcastErrorCode.EventInvalid, parsed.message, { httpStatus: 400 });
    const stored = await this.engine.append(parsed.value.userId, parsed.value.event);
    this.metrics.eventsPublished.inc({ source: 'api' });
    return stored;
  }

  /**
   * Closes every connection of a user on this node (e.g. after revoking their access, or to test
   * resume). With the default 1012 their clients reconnect and resume; returns how many were closed.
   */
  disconnectUser(
    userId: string,
    code: CloseCode = CloseCode.ServiceRestart,
    reason: string = CloseReason.Disconnected,
  ): number {
    const members = this.#hub.membersOf(userId);
    for (const conn of members) conn.close(code, reason);
    return members.length;
  }

  /**
   * `/readyz`: ready while running with a healthy engine (docs/protocol.md §8). The reason is a stable word;
   * the engine's own reason, which may name internal addresses, is only the detail (docs/protocol.md D).
   */
  readiness(): Readiness {
    if (this.#state !== 'running') return { ready: false, reason: this.#state };
    if (this.#deregistering) return { ready: false, reason: 'draining' };
    const health = this.engine.health();
    if (!health.ok) return { ready: false, reason: 'engine_unavailable', detail: health.reason };
    const keys = this.#verifier.keySet;
    if (keys !== undefined && !keys.loaded) {
      return { ready: false, reason: 'keys_unavailable', detail: keys.lastError ?? 'not fetched yet' };
    }
    return { ready: true };
  }

  /**
   * How the `--jwks-url` key set reports: a failed fetch is a degraded dependency (warn, with the URL's
   * origin and path only, the error class and message); the first success is logged once.
   */
  #jwksReporting(url: string): { onFetchFailed: (error: unknown) => void; onLoaded: () => void } {
    const parsed = new URL(url);
    const jwks_url = `${parsed.origin}${parsed.pathname}`;
    return {
      onFetchFailed: (error) =>
        this.log.warn(
          { jwks_url, err: error instanceof Error ? error.message : String(error) },
          'could not fetch the JSON Web Key Set',
        ),
      onLoaded: () => this.log.info({ jwks_url }, 'JSON Web Key Set loaded'),
    };
  }

  /**
   * docs/protocol.md D, "Disconnecting a user": every node closes the user's connections with 4010 when any
   * node is asked (POST /v1/users/:user_id/disconnect); the connection registry is the one place that
   * ends them. Not awaited: on Redis the listener is subscribed once Redis is reachable.
   */
  #listenToDisconnects(): void {
    this.engine
      .onUserDisconnect((request) => {
        const closed = this.#registry.closeUser(
          request.userId,
          CloseCode.DisconnectedByServer,
          request.reason ?? CloseReason.Disconnected,
        );
        this.log.debug({ user_id: request.userId, connections: closed }, 'user disconnected');
      })
      .then(
        (stop) => {
          if (this.#state === 'closed') void stop();
          else this.#stopDisconnects = stop;
        },
        (err: unknown) => this.log.error({ err }, 'could not listen to user disconnects'),
      );
  }

  /** `/v1/stats`: this node's figures. */
  stats(): Record<string, unknown> {
    return {
      server_id: this.config.serverId,
      state: this.#state,
      engine: this.engine.kind,
      connections: this.#registry.size,
      authenticated_connections: this.#hub.memberCount,
      users: this.#hub.userCount,
      runs_active: this.runtime.activeRuns(),
      uptime_s: Math.round(process.uptime()),
    };
  }

  /**
   * Graceful drain (docs/protocol.md §9): /readyz 503 at once while everything keeps working for
   * drain_delay_ms (balancers take the node out of rotation before it refuses anything), then stop
   * accepting, let runs finish within drain_timeout_ms (then end them cancelled/SHUTDOWN), close every
   * connection with 1012, close.
   */
  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    if (this.#state === 'closed') return;
    const delayMs = this.config.drainDelayMs;
    if (this.#state === 'running' && delayMs > 0) {
      this.#deregistering = true;
      this.log.info({ delay_ms: delayMs }, 'readiness off; serving until the drain delay ends');
      // Not unref()'d: the delay is the point, the process must stay up for it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#endDelay = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#endDelay = undefined;
      if (this.#state !== 'running') return this.close();
    }
    this.#state = 'draining';
    this.log.info({ connections: this.#registry.size, runs: this.runtime.activeRuns() }, 'draining');
    await this.runtime.drain(this.config.drainTimeoutMs);
    await this.close();
  }

  /** Stops everything at once (runs end cancelled/SHUTDOWN without waiting). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#endDelay?.();
    this.#registry.stop();
    this.#sse.stop();
    this.#runStreams.closeAll();
    this.#verifier.keySet?.close();
    await this.#stopDisconnects?.();
    clearInterval(this.#pruneTimer);
    await this.runtime.close();
    await this.#registry.closeAll(CloseCode.ServiceRestart, CloseReason.Draining, CLOSE_GRACE_MS);
    this.#wss.close();
    this.#aiSdkWss.close();
    await Promise.all([closeServer(this.#server), this.#metricsServer && closeServer(this.#metricsServer)]);
    if (this.#ownsEngine) await this.engine.close();
    await this.#tracing?.shutdown();
    this.log.info('gateway closed');
  }
}

/**
 * The HS256 secret a gateway without a configured key generates: development and test only (tokens for
 * it come from the demo page or `agentcast token`). Any other environment must be given a key.
 */
function developmentSecret(config: Config): string {
  if (config.env !== 'development' && config.env !== 'test') {
    throw new AgentcastError(
      AgentcastErrorCode.ConfigInvalid,
      `invalid configuration:\n  - --env "${config.env}": needs client token verification; set --jwt-secret, --jwt-public-key or --jwks`,
    );
  }
  return generateDevSecret();
}

/** `--default-agent` must name an agent this gateway has, or every message naming none would fail. */
function checkDefaultAgent(name: string, agents: readonly AgentDefinition[]): void {
  if (agents.some((agent) => agent.name === name)) return;
  throw new AgentcastError(
    AgentcastErrorCode.ConfigInvalid,
    `invalid configuration:\n  - --default-agent "${name}": not one of the agents (${agents.map((a) => a.name).join(', ')}); pass one of them`,
  );
}

/** Builds a gateway from a validated config. */
export function createGateway(config: Config, deps: GatewayDeps = {}): Gateway {
  return new Gateway(config, deps);
}

/**
 * The slow-peer bounds of an HTTP server (issue 13): a request must send its headers within
 * `httpHeadersTimeoutMs` and arrive whole within `httpRequestTimeoutMs` (else Node answers 408 and
 * closes), and an idle keep-alive socket is closed after `httpKeepAliveTimeoutMs`. Node checks the first
 * two on a timer, every 30 s by default, so a limit of 10 s could take 40 s; checking every quarter of
 * the headers timeout (at most once a second) cuts a peer within 1.25 × the timeout, at most 1 s late.
 * Sockets upgraded to WebSocket leave Node's HTTP bookkeeping, so these never touch them.
 */
export function httpServerOptions(config: Config): ServerOptions {
  return {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(
      MIN_CONNECTIONS_CHECK_MS,
      Math.min(MAX_CONNECTIONS_CHECK_MS, Math.floor(config.httpHeadersTimeoutMs / 4)),
    ),
  };
}

/** Where a server listens, and the flag that chose its port (named when the port cannot be had). */
interface ListenTarget {
  readonly port: number;
  readonly host: string;
  readonly flag: '--port' | '--metrics-port';
}

/**
 * Listens, turning the mistakes an operator can fix (a port in use or reserved, a host not on this
 * machine) into AC_ERR_CONFIG_INVALID naming the flag: the CLI exits 2 with it, without a stack trace.
 */
function listenOn(server: Server, target: ListenTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const problem = listenProblem(err, target);
      reject(
        problem === undefined
          ? err
          : new AgentcastError(AgentcastErrorCode.ConfigInvalid, `invalid configuration:\n  - ${problem}`, {
              cause: err,
            }),
      );
    };
    server.once('error', onError);
    server.listen(target.port, target.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenProblem(err: NodeJS.ErrnoException, { port, host, flag }: ListenTarget): string | undefined {
  switch (err.code) {
    case 'EADDRINUSE':
      return `${flag} "${port}": port ${port} is in use on ${host}; pass ${flag} with another port (0 picks a free one)`;
    case 'EACCES':
      return `${flag} "${port}": not allowed to listen on port ${port}; pass ${flag} 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `--host "${host}": not an address of this machine; pass --host 127.0.0.1 or 0.0.0.0`;
    default:
      return undefined;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
