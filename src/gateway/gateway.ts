import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { AgentRuntime } from '../agents/agent-runtime.js';
import type { AgentDefinition } from '../agents/define-agent.js';
import { createDemoAgent } from '../agents/demo-agent.js';
import { createWebhookAgent } from '../agents/webhook-agent.js';
import { generateDevSecret } from '../auth/dev-token.js';
import { tokenFromUpgrade } from '../auth/token-source.js';
import { readTokenKeySource, TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/config.js';
import type { Engine } from '../engine/engine.js';
import { MemoryEngine } from '../engine/memory-engine.js';
import { RedisEngine } from '../engine/redis-engine.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { NewEvent, StoredEvent } from '../protocol/events.js';
import { parseNewEvent } from '../protocol/events.js';
import { Connection } from './connection.js';
import type { ConnectionContext } from './connection-context.js';
import { createDemoRoutes } from './demo-routes.js';
import { handleHttp, type Readiness, serveMetrics } from './http-api.js';
import { OriginGuard } from './origin-guard.js';
import { checkCapacity, checkRequest, offeredSubprotocols, resumeFromQuery } from './upgrade-checks.js';
import { rejectUpgrade, type UpgradeRejection } from './upgrade-rejection.js';
import { UserHub } from './user-hub.js';

/** Things a gateway uses that the caller may supply (tests, embedding). Nothing here is global. */
export interface GatewayDeps {
  /** Defaults to a MemoryEngine (or a RedisEngine when `config.redis` is set). Closed with the gateway only if the gateway created it. */
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

/**
 * One agentcast node: HTTP API, WebSocket upgrade checks, connections, the user hub, agent runs and
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
  readonly #hub: UserHub<Connection>;
  readonly #connections = new Set<Connection>();
  readonly #server: Server;
  readonly #metricsServer: Server | undefined;
  readonly #wss: WebSocketServer;
  readonly #ctx: ConnectionContext;
  readonly #origins: OriginGuard;
  readonly #now: () => number;
  #state: GatewayState = 'starting';
  #upgrading = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #expirySweep: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Set while closing: called when the last connection has closed. */
  #onIdle: (() => void) | undefined;

  constructor(config: Config, deps: GatewayDeps = {}) {
    this.config = config;
    this.#now = deps.now ?? Date.now;
    this.log = deps.log ?? createLogger({ level: config.logLevel });
    this.metrics = deps.metrics ?? new Metrics();
    this.#ownsEngine = deps.engine === undefined;
    this.#origins = new OriginGuard(config, { log: this.log, metrics: this.metrics, now: this.#now });
    let keySource = readTokenKeySource(config);
    if (keySource === undefined) {
      if (config.env !== 'development' && config.env !== 'test') {
        throw new AgentcastError(
          AgentcastErrorCode.ConfigInvalid,
          `invalid configuration:\n  - ${config.env} needs --jwt-secret, --jwt-public-key or --jwks`,
        );
      }
      this.devSecret = generateDevSecret();
      keySource = { kind: 'secret', secret: this.devSecret };
    }
    this.#ownsEngine = deps.engine === undefined;
    this.engine = deps.engine ?? createEngine(config, this.log);
    const verifier = new TokenVerifier({
      key: keySource,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    });
    this.#hub = new UserHub({ engine: this.engine, log: this.log, metrics: this.metrics, now: this.#now });
    this.runtime = new AgentRuntime({
      engine: this.engine,
      agents: [...builtInAgents(config), ...(deps.agents ?? [])],
      defaultAgent: config.defaultAgent,
      runTimeoutMs: config.runTimeoutMs,
      maxRunsPerUser: config.maxRunsPerUser,
      log: this.log,
      metrics: this.metrics,
    });
    this.#ctx = {
      config,
      verifier,
      engine: this.engine,
      hub: this.#hub,
      runs: this.runtime,
      log: this.log,
      metrics: this.metrics,
      now: this.#now,
      onClosed: (conn) => {
        this.#connections.delete(conn);
        this.metrics.connections.set(this.#connections.size);
        if (this.#connections.size === 0) this.#onIdle?.();
      },
    };
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.maxPayload,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has('agentcast.v1') ? 'agentcast.v1' : false),
    });
    const demo = config.demo ? createDemoRoutes({ secret: this.devSecret ?? config.jwtSecret }) : undefined;
    this.#server = createServer((req, res) => {
      void handleHttp(req, res, {
        demo,
        config,
        engine: this.engine,
        metrics: this.metrics,
        log: this.log,
        readiness: () => this.readiness(),
        cors: (request, path) => this.#origins.cors(request, path),
        stats: () => this.stats(),
      });
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket as Socket, head),
    );
    this.#metricsServer =
      config.metricsPort === undefined
        ? undefined
        : createServer((req, res) => void serveMetrics(req, res, this.metrics));
    this.engine.onHealthChange((health) => this.metrics.engineUp.set(health.ok ? 1 : 0));
    this.metrics.engineUp.set(this.engine.health().ok ? 1 : 0);
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
    const metricsPort =
      this.#metricsServer === undefined
        ? undefined
        : await listenOn(this.#metricsServer, this.config.metricsPort ?? 0, this.config.host);
    this.#state = 'running';
    this.#heartbeat = setInterval(() => this.#sweepHeartbeat(), this.config.heartbeatMs);
    this.#expirySweep = setInterval(() => this.#sweepExpiry(), Math.min(1000, this.config.heartbeatMs));
    this.#heartbeat.unref();
    this.#expirySweep.unref();
    const address = this.#server.address() as AddressInfo;
    this.log.info(
      {
        host: address.address,
        port: address.port,
        env: this.config.env,
        engine: this.engine.kind,
        server_id: this.config.serverId,
      },
      'gateway listening',
    );
    return metricsPort === undefined
      ? { host: address.address, port: address.port }
      : { host: address.address, port: address.port, metricsPort };
  }

  /** Publishes an event for a user from code (the TypeScript API). Validated like an HTTP publish. */
  async publish(userId: string, event: NewEvent): Promise<StoredEvent> {
    const parsed = parseNewEvent(event);
    if (!parsed.ok)
      throw new AgentcastError(AgentcastErrorCode.EventInvalid, parsed.message, { httpStatus: 400 });
    const stored = await this.engine.append(userId, parsed.value);
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
    reason = 'disconnected by the server',
  ): number {
    const members = this.#hub.membersOf(userId);
    for (const conn of members) conn.close(code, reason);
    return members.length;
  }

  /** `/readyz`: ready while running with a healthy engine (PROTOCOL.md §8). */
  readiness(): Readiness {
    if (this.#state !== 'running') return { ready: false, reason: this.#state };
    const health = this.engine.health();
    return health.ok ? { ready: true } : { ready: false, reason: `engine: ${health.reason}` };
  }

  /** `/v1/stats`. */
  stats(): Record<string, unknown> {
    return {
      server_id: this.config.serverId,
      state: this.#state,
      engine: this.engine.kind,
      connections: this.#connections.size,
      authenticated_connections: this.#hub.memberCount,
      users: this.#hub.userCount,
      runs_active: this.runtime.activeRuns(),
      uptime_s: Math.round(process.uptime()),
    };
  }

  /**
   * Graceful drain (PROTOCOL.md §9): stop accepting, /readyz 503, let runs finish within
   * drain_timeout_ms (then end them cancelled/SHUTDOWN), close every connection with 1012, close.
   */
  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'draining';
    this.log.info({ connections: this.#connections.size, runs: this.runtime.activeRuns() }, 'draining');
    await this.runtime.drain(this.config.drainTimeoutMs);
    await this.close();
  }

  /** Stops everything at once (no waiting for runs). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    clearInterval(this.#heartbeat);
    clearInterval(this.#expirySweep);
    await this.runtime.close();
    await this.#closeConnections(CLOSE_GRACE_MS);
    this.#wss.close();
    await Promise.all([
      closeServer(this.#server),
      this.#metricsServer === undefined ? undefined : closeServer(this.#metricsServer),
    ]);
    if (this.#ownsEngine) await this.engine.close();
    this.log.info('gateway closed');
  }

  /** Closes every connection with 1012; peers that do not finish the closing handshake in time are dropped. */
  async #closeConnections(graceMs: number): Promise<void> {
    if (this.#connections.size > 0) {
      const idle = new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
      for (const conn of this.#connections)
        conn.close(CloseCode.ServiceRestart, 'server draining; reconnect and resume');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const conn of this.#connections) conn.terminate();
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') {
      this.#reject(socket, { status: 400, reason: 'bad_path', message: 'the WebSocket endpoint is /ws' });
      return;
    }
    const ip = this.#origins.clientIp(req);
    // §1: the checks answer in this order: 429, 503, 403, 400.
    const rejection =
      this.#origins.checkBlocked(ip) ??
      checkCapacity({
        draining: this.#state !== 'running',
        connections: this.#connections.size + this.#upgrading,
        maxConnections: this.config.maxConnections,
      }) ??
      this.#origins.checkOrigin(req, ip) ??
      checkRequest(req, url);
    if (rejection !== null) {
      this.#reject(socket, rejection);
      return;
    }
    const token = tokenFromUpgrade({
      authorization: req.headers.authorization,
      subprotocols: offeredSubprotocols(req),
      queryToken: url.searchParams.get('token'),
      allowQueryToken: this.config.allowQueryToken,
    });
    const resume = resumeFromQuery(url);
    // handleUpgrade answers a bad handshake (400) itself and never calls back: count the upgrade as
    // settled on either path so max_connections stays honest.
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.#upgrading--;
    };
    this.#upgrading++;
    socket.once('close', settle);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      settle();
      socket.off('close', settle);
      const conn = new Connection(ws, socket, this.#ctx, {
        id: `c_${randomBytes(9).toString('base64url')}`,
        ip,
        token: token?.token,
        resume,
      });
      this.#connections.add(conn);
      this.metrics.connectionsOpened.inc();
      this.metrics.connections.set(this.#connections.size);
    });
  }

  #reject(socket: Socket, rejection: UpgradeRejection): void {
    this.metrics.upgradeRejections.inc({ reason: rejection.reason });
    rejectUpgrade(socket, rejection);
  }

  /** One interval for every connection (no timer per connection): ping, and drop peers silent for two pings (§6). */
  #sweepHeartbeat(): void {
    for (const conn of this.#connections) {
      if (conn.pingsUnanswered >= 2) {
        conn.log.info('no pong to the last two pings; dropping');
        conn.terminate();
      } else if (conn.state === 'open') {
        conn.ping();
      }
    }
  }

  /** §2: a connection whose token expired, without a fresh one sent in time, is closed with 4002. */
  #sweepExpiry(): void {
    const now = this.#now();
    for (const conn of this.#connections) {
      if (conn.state === 'open' && conn.expiresAtMs <= now)
        conn.close(CloseCode.TokenExpired, 'token expired');
    }
  }
}

/** The engine the config asks for: Redis when `--redis` is set, else in-memory. */
function createEngine(config: Config, log: Logger): Engine {
  const history = { historySize: config.historySize, historyTtlMs: config.historyTtlS * 1000 };
  if (config.redis === undefined) return new MemoryEngine({ ...history, logger: log });
  return new RedisEngine({
    ...history,
    url: config.redis,
    keyPrefix: config.redisKeyPrefix,
    name: config.serverId,
    logger: log,
  });
}

/** The demo agent always; the webhook agent when `--agent-url` is set. */
function builtInAgents(config: Config): AgentDefinition[] {
  const agents = [createDemoAgent({ delayMs: config.demoDelayMs })];
  if (config.agentUrl !== undefined && config.agentSecret !== undefined) {
    agents.push(
      createWebhookAgent({
        url: config.agentUrl,
        secret: config.agentSecret,
        timeoutMs: config.runTimeoutMs,
        stallTimeoutMs: config.agentStallTimeoutMs,
      }),
    );
  }
  return agents;
}

/** How long closing connections get to finish the closing handshake before they are dropped. */
const CLOSE_GRACE_MS = 2000;

/** Builds a gateway from a validated config. */
export function createGateway(config: Config, deps: GatewayDeps = {}): Gateway {
  return new Gateway(config, deps);
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
