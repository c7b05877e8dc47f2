import { createServer, type IncomingMessage, type Server, type ServerOptions } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { AgentRuntime } from '../agents/agent-runtime.js';
import { builtInAgents } from '../agents/built-in-agents.js';
import type { AgentDefinition } from '../agents/define-agent.js';
import { generateDevSecret } from '../auth/dev-token.js';
import { readTokenKeySource, TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/config.js';
import { createEngine } from '../engine/create-engine.js';
import type { Engine } from '../engine/engine.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import type { NewEvent, StoredEvent } from '../protocol/events.js';
import { SUBPROTOCOL } from '../protocol/frames.js';
import { parsePublishItem } from '../protocol/publish.js';
import { HandshakeLimiter } from '../security/handshake-limiter.js';
import { TrustedProxies } from '../security/trusted-proxies.js';
import { ConnectionRegistry } from './connection-registry.js';
import { createDemoRoutes } from './demo-routes.js';
import { handleHttp, handleMetricsPort, type Readiness } from './http-api.js';
import { HttpSocketLimit } from './http-socket-limit.js';
import { OriginGuard } from './origin-guard.js';
import type { Session } from './session.js';
import { UpgradeHandler } from './upgrade-handler.js';
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
  readonly #registry: ConnectionRegistry;
  readonly #server: Server;
  readonly #metricsServer: Server | undefined;
  readonly #wss: WebSocketServer;
  readonly #origins: OriginGuard;
  readonly #verifier: TokenVerifier;
  #pruneTimer: NodeJS.Timeout | undefined;
  /** Stops listening to user disconnects (set once the engine confirmed the listener). */
  #stopDisconnects: (() => Promise<void>) | undefined;
  #state: GatewayState = 'starting';
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

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
    if (key.kind === 'remoteJwks') key = { ...key, ...this.#jwksReporting(key.url) };
    this.#verifier = new TokenVerifier({ key, issuer: config.jwtIssuer, audience: config.jwtAudience });
    this.#ownsEngine = deps.engine === undefined;
    this.engine = deps.engine ?? createEngine(config, this.log);
    this.#hub = new UserHub({ engine: this.engine, log: this.log, metrics: this.metrics, now });
    this.#registry = new ConnectionRegistry({
      heartbeatMs: config.heartbeatMs,
      now,
      metrics: this.metrics,
      serverId: config.serverId,
      writePresence: (entries) => this.engine.putPresence(entries),
    });
    this.runtime = new AgentRuntime({
      engine: this.engine,
      agents: [...builtInAgents(config), ...(deps.agents ?? [])],
      defaultAgent: config.defaultAgent,
      runTimeoutMs: config.runTimeoutMs,
      maxRunsPerUser: config.maxRunsPerUser,
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
      // §1: select agentcast.v1; never echo bearer.<jwt>, which would send the token back.
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const upgrades = new UpgradeHandler({
      config,
      wss: this.#wss,
      origins,
      registry: this.#registry,
      metrics: this.metrics,
      accepting: () => this.#state === 'running',
      ctx: {
        config,
        verifier: this.#verifier,
        engine: this.engine,
        hub: this.#hub,
        runs: this.runtime,
        log: this.log,
        metrics: this.metrics,
        now,
        handshakes: new HandshakeLimiter(config.maxHandshakesPerIp),
        onClosed: (conn) => this.#registry.delete(conn),
      },
    });
    const demo = config.demo ? createDemoRoutes({ secret: this.devSecret ?? config.jwtSecret }) : undefined;
    const httpContext = {
      config,
      demo,
      engine: this.engine,
      runs: this.runtime,
      metrics: this.metrics,
      log: this.log,
      readiness: () => this.readiness(),
      stats: () => this.stats(),
      cors: (req: IncomingMessage, path: string) => origins.cors(req, path),
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
    this.#server = createServer(
      httpServerOptions(config),
      (req, res) => void handleHttp(req, res, httpContext),
    );
    this.#server.on('connection', (socket: Socket) => sockets.admit(socket));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // From here the socket is a WebSocket candidate, bounded by --max-connections, not an HTTP socket.
      sockets.release(socket as Socket);
      upgrades.handle(req, socket as Socket, head);
    });
    this.#metricsServer =
      config.metricsPort === undefined
        ? undefined
        : createServer(httpServerOptions(config), (req, res) => void handleMetricsPort(req, res, this));
    this.#metricsServer?.on('connection', (socket: Socket) => sockets.admit(socket));
    this.engine.onHealthChange((health) => this.metrics.engineUp.set(health.ok ? 1 : 0));
    this.metrics.engineUp.set(this.engine.health().ok ? 1 : 0);
    this.metrics.historyBytesSource = () => this.engine.historyBytes ?? 0;
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
    await listenOn(this.#server, this.config.port, this.config.host);
    if (this.#metricsServer !== undefined) {
      await listenOn(this.#metricsServer, this.config.metricsPort ?? 0, this.config.host);
    }
    this.#state = 'running';
    this.#registry.start();
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
   * Graceful drain (docs/protocol.md §9): stop accepting, /readyz 503, let runs finish within
   * drain_timeout_ms (then end them cancelled/SHUTDOWN), close every connection with 1012, close.
   */
  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    if (this.#state === 'closed') return;
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
    this.#registry.stop();
    this.#verifier.keySet?.close();
    await this.#stopDisconnects?.();
    clearInterval(this.#pruneTimer);
    await this.runtime.close();
    await this.#registry.closeAll(CloseCode.ServiceRestart, CloseReason.Draining, CLOSE_GRACE_MS);
    this.#wss.close();
    await Promise.all([closeServer(this.#server), this.#metricsServer && closeServer(this.#metricsServer)]);
    if (this.#ownsEngine) await this.engine.close();
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
      `invalid configuration:\n  - ${config.env} needs --jwt-secret, --jwt-public-key or --jwks`,
    );
  }
  return generateDevSecret();
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

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
