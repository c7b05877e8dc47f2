import type { Environment, ProxyHeader } from './options.js';

/**
 * The validated, frozen configuration of one gateway. Built by `loadConfig` (from flags, env and a
 * JSON file) or by `defineConfig` (from code and tests). Field names follow options.ts.
 */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly env: Environment;
  readonly serverId: string;
  readonly demo: boolean;
  readonly drainTimeoutMs: number;
  readonly jwtSecret: string | undefined;
  readonly jwtPublicKey: string | undefined;
  readonly jwks: string | undefined;
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  readonly apiKey: string | undefined;
  readonly authTimeoutMs: number;
  readonly allowQueryToken: boolean;
  readonly origins: readonly string[] | undefined;
  readonly requireOrigin: boolean;
  readonly allowInsecureOrigins: boolean;
  readonly trustProxy: readonly string[];
  /** Which forwarding header `trustProxy` proxies write; the other is ignored. */
  readonly proxyHeader: ProxyHeader;
  readonly violationLimit: number;
  readonly violationWindowS: number;
  readonly blockS: number;
  readonly exposeApiToBrowsers: boolean;
  readonly maxPayload: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  /** Connections from one client IP still authenticating or joining (docs/protocol.md C). */
  readonly maxHandshakesPerIp: number;
  readonly rateLimit: number;
  readonly rateBurst: number;
  readonly rateLimitStrikes: number;
  readonly maxBadFrames: number;
  readonly badFrameWindowS: number;
  /** Frames held between `auth` and the welcome, answered after it (docs/protocol.md A). */
  readonly maxEarlyFrames: number;
  readonly maxBufferedBytes: number;
  readonly maxPublishBytes: number;
  /** Node's `headersTimeout` of the HTTP server: also bounds WebSocket upgrade requests. */
  readonly httpHeadersTimeoutMs: number;
  /** Node's `requestTimeout`: the whole request, body included; never below `httpHeadersTimeoutMs`. */
  readonly httpRequestTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  /** Sockets not (yet) upgraded to WebSocket, on the main and the metrics port together. */
  readonly maxHttpSockets: number;
  /** The same per socket address; peers in `trustProxy` are exempt. */
  readonly maxHttpSocketsPerIp: number;
  readonly heartbeatMs: number;
  readonly historySize: number;
  readonly historyTtlS: number;
  /** Bytes of wire frames kept per user (both engines); the oldest go first, never the newest. */
  readonly historyMaxBytes: number;
  /** Bytes of wire frames kept for all users of this process (memory engine only). */
  readonly historyMemoryBytes: number;
  readonly runTimeoutMs: number;
  readonly maxRunsPerUser: number;
  readonly defaultAgent: string;
  readonly demoDelayMs: number;
  readonly agentUrl: string | undefined;
  readonly agentSecret: string | undefined;
  readonly agentStallTimeoutMs: number;
  /** Longest webhook response line, in characters. */
  readonly agentMaxLineLength: number;
  /** Characters of one AG-UI tool call's name and arguments from the webhook. */
  readonly agentMaxToolCallLength: number;
  /** AG-UI tool calls a webhook run may have open at once. */
  readonly agentMaxOpenToolCalls: number;
  readonly redis: string | undefined;
  readonly redisCluster: boolean;
  readonly redisKeyPrefix: string;
  /** Lease of a Redis connection slot, renewed every third of it while the connection lives. */
  readonly redisSlotLeaseS: number;
  readonly metricsPort: number | undefined;
  readonly logLevel: string;
}
