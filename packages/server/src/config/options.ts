/**
 * The one table of every configuration option: its key, flag, environment variable, type, default
 * and help text. `--help`, the loader and the README configuration table are all derived from it.
 */

import { BUSY_POLICIES } from '../engine/engine.js';
import { ENGINE_DEFAULTS } from '../engine/engine-defaults.js';

/** The deployment environments (docs/protocol.md §5). */
export const ENVIRONMENTS = ['development', 'test', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The forwarding headers a trusted proxy may write; the gateway reads exactly one (docs/security.md). */
export const PROXY_HEADERS = ['x-forwarded-for', 'forwarded'] as const;
export type ProxyHeader = (typeof PROXY_HEADERS)[number];

/** What the webhook agent's backend speaks (`--agent-protocol`, docs/agents.md). */
export const AGENT_PROTOCOLS = ['agentcast', 'ag-ui', 'ai-sdk'] as const;
export type AgentProtocol = (typeof AGENT_PROTOCOLS)[number];

/** The value kinds an option can take. */
export type OptionKind = 'string' | 'int' | 'bool' | 'list' | 'enum';

/** One row of the option table. */
export interface OptionSpec {
  /** Key in the typed Config and in a JSON config file. */
  readonly key: string;
  readonly kind: OptionKind;
  readonly help: string;
  /** Group heading in --help. */
  readonly group:
    | 'server'
    | 'auth'
    | 'origins'
    | 'limits'
    | 'history'
    | 'agents'
    | 'engine'
    | 'observability';
  /**
   * Default value. Without one (and without `derivedDefault`) the option may be unset: its Config field
   * is then `T | undefined`.
   */
  readonly default?: string | number | boolean | readonly string[];
  /**
   * The default depends on other options (the environment) and is filled in by load-config.ts
   * (DERIVED_DEFAULTS), so the Config field is never undefined; `defaultText` says what it is.
   */
  readonly derivedDefault?: true;
  /** Inclusive bounds for ints. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values for enums. */
  readonly values?: readonly string[];
  /** Secrets are never echoed in errors or logs. */
  readonly secret?: boolean;
  /** Text shown for an env-dependent default. */
  readonly defaultText?: string;
  /** The environment variable, when it is not `AGENTCAST_<UPPER_SNAKE_KEY>`. */
  readonly env?: string;
}

/**
 * Every option. Flags are `--<kebab-key>`, env vars `AGENTCAST_<UPPER_SNAKE_KEY>`. The `Config` type is
 * derived from this table (config.ts), so adding an option is adding a row.
 */
export const OPTION_SPECS = [
  {
    key: 'host',
    kind: 'string',
    group: 'server',
    help: 'Address to listen on',
    derivedDefault: true,
    defaultText: '127.0.0.1 in development/test, 0.0.0.0 otherwise',
  },
  {
    key: 'port',
    kind: 'int',
    group: 'server',
    default: 8080,
    min: 0,
    max: 65535,
    help: 'TCP port (0 picks a free one)',
  },
  {
    key: 'env',
    kind: 'enum',
    group: 'server',
    default: 'development',
    values: ENVIRONMENTS,
    help: 'Environment: picks origin defaults and how strict startup checks are',
  },
  {
    key: 'serverId',
    kind: 'string',
    group: 'server',
    help: 'Name of this node in welcome frames and /v1/stats',
    derivedDefault: true,
    defaultText: '<hostname>-<pid>',
  },
  {
    key: 'demo',
    kind: 'bool',
    group: 'server',
    help: 'Serve the demo page at / and a dev token at /demo/token (development only)',
    derivedDefault: true,
    defaultText: 'true in development, else false',
  },
  {
    key: 'demoTokens',
    kind: 'bool',
    group: 'server',
    default: false,
    help: 'Let /demo/token sign with the configured --jwt-secret (development only; without it only the generated dev secret signs demo tokens)',
  },
  {
    key: 'drainTimeoutMs',
    kind: 'int',
    group: 'server',
    default: 10_000,
    min: 0,
    max: 600_000,
    help: 'On SIGTERM, how long running agent runs may take to finish (docs/protocol.md §9)',
  },
  {
    key: 'drainDelayMs',
    kind: 'int',
    group: 'server',
    derivedDefault: true,
    min: 0,
    max: 600_000,
    defaultText: '0 in development, else 5000',
    help: 'On SIGTERM, how long /readyz answers 503 while everything keeps working, so balancers stop routing here before the drain (docs/protocol.md §9)',
  },
  {
    key: 'jwtSecret',
    kind: 'string',
    group: 'auth',
    secret: true,
    help: 'HS256 secret for client JWTs (generated, dev-only, when absent in development)',
  },
  {
    key: 'jwtPublicKey',
    kind: 'string',
    group: 'auth',
    help: 'File with a PEM public key (SPKI) for RS256/ES256 client JWTs',
  },
  {
    key: 'jwks',
    kind: 'string',
    group: 'auth',
    help: 'File with a JSON Web Key Set for RS256/ES256 client JWTs',
  },
  // An identity provider's `jwks_uri` (Auth0, Clerk, Cognito, Keycloak…): keys rotate without a restart.
  {
    key: 'jwksUrl',
    kind: 'string',
    group: 'auth',
    help: 'URL of a JSON Web Key Set for RS256/ES256 client JWTs, refetched for an unknown kid; https:// outside development/test',
  },
  {
    key: 'jwksTimeoutMs',
    kind: 'int',
    group: 'auth',
    default: 5000,
    min: 100,
    max: 60_000,
    help: 'Time a fetch of --jwks-url may take',
  },
  {
    key: 'jwksCooldownMs',
    kind: 'int',
    group: 'auth',
    default: 30_000,
    min: 0,
    max: 3_600_000,
    help: 'Least time between two fetches of --jwks-url caused by tokens with an unknown kid',
  },
  {
    key: 'jwksCacheMaxAgeS',
    kind: 'int',
    group: 'auth',
    default: 600,
    min: 1,
    max: 86_400,
    help: 'Age after which the keys of --jwks-url are fetched again, seconds',
  },
  { key: 'jwtIssuer', kind: 'string', group: 'auth', help: 'Required `iss` claim, when set' },
  { key: 'jwtAudience', kind: 'string', group: 'auth', help: 'Required `aud` claim, when set' },
  {
    key: 'apiKey',
    kind: 'string',
    group: 'auth',
    secret: true,
    help: 'Bearer keys for the HTTP API (/v1/*), comma separated, each accepted (rotate: new,old then new); required outside development',
  },
  // How long POST /v1/users/:user_id/disconnect's revoke_before is kept (docs/protocol.md D).
  {
    key: 'revocationTtlS',
    kind: 'int',
    group: 'auth',
    default: 86_400,
    min: 1,
    max: 31_536_000,
    help: "How long a user's token revocation (revoke_before of POST /v1/users/:user_id/disconnect) is kept, seconds; set it above your tokens' lifetime",
  },
  {
    key: 'authTimeoutMs',
    kind: 'int',
    group: 'auth',
    default: 5000,
    min: 1,
    max: 600_000,
    help: 'Time a connection has to send its auth frame (4003 after it)',
  },
  {
    key: 'allowQueryToken',
    kind: 'bool',
    group: 'auth',
    default: false,
    help: 'Accept ?token=<jwt> in the URL (tokens in URLs end up in access logs)',
  },
  {
    key: 'origins',
    kind: 'list',
    group: 'origins',
    help: 'Allowed browser origins, comma separated (see docs/security.md)',
    defaultText: 'localhost on any port in development/test, none otherwise',
  },
  {
    key: 'requireOrigin',
    kind: 'bool',
    group: 'origins',
    default: false,
    help: 'Refuse upgrades without an Origin header (non-browser clients)',
  },
  {
    key: 'allowInsecureOrigins',
    kind: 'bool',
    group: 'origins',
    default: false,
    help: 'Allow http://, IP-literal and tunnel origins in production',
  },
  {
    key: 'trustProxy',
    kind: 'list',
    group: 'origins',
    default: [],
    help: 'Proxies whose X-Forwarded-For/Forwarded are believed: addresses, CIDRs, loopback, private',
  },
  // Which forwarding header `trustProxy` proxies write; the other is ignored.
  {
    key: 'proxyHeader',
    kind: 'enum',
    group: 'origins',
    default: 'x-forwarded-for',
    values: PROXY_HEADERS,
    help: 'The one forwarding header the trusted proxies write: x-forwarded-for or forwarded (RFC 7239)',
  },
  {
    key: 'violationLimit',
    kind: 'int',
    group: 'origins',
    default: 5,
    min: 1,
    max: 1_000_000,
    help: 'Origin violations from one IP within the window that block it',
  },
  {
    key: 'violationWindowS',
    kind: 'int',
    group: 'origins',
    default: 60,
    min: 1,
    max: 86_400,
    help: 'Window for counting origin violations, seconds',
  },
  {
    key: 'blockS',
    kind: 'int',
    group: 'origins',
    default: 300,
    min: 1,
    max: 86_400,
    help: 'How long a blocked IP gets 429, seconds',
  },
  {
    key: 'exposeApiToBrowsers',
    kind: 'bool',
    group: 'origins',
    default: false,
    help: 'Answer CORS for /v1/* from allowed origins (the API key would then live in a browser)',
  },
  {
    key: 'maxPayload',
    kind: 'int',
    group: 'limits',
    default: 65_536,
    min: 256,
    max: 16_777_216,
    help: 'Largest inbound WebSocket frame in bytes (1009 above it)',
  },
  {
    key: 'maxConnections',
    kind: 'int',
    group: 'limits',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    help: 'Open connections on this node (503 on upgrade above it)',
  },
  {
    key: 'maxConnectionsPerUser',
    kind: 'int',
    group: 'limits',
    default: 10,
    min: 1,
    max: 100_000,
    help: 'Connections one user may hold across all nodes (4009 above it)',
  },
  // Connections from one client IP still authenticating or joining (docs/protocol.md C).
  {
    key: 'maxHandshakesPerIp',
    kind: 'int',
    group: 'limits',
    default: 64,
    min: 1,
    max: 1_000_000,
    help: 'Connections from one client IP not yet past auth (429 on upgrade above it); raise it behind NAT',
  },
  {
    key: 'rateLimit',
    kind: 'int',
    group: 'limits',
    default: 20,
    min: 1,
    max: 1_000_000,
    help: 'Inbound frames per second per connection (token bucket rate)',
  },
  {
    key: 'rateBurst',
    kind: 'int',
    group: 'limits',
    default: 40,
    min: 1,
    max: 1_000_000,
    help: 'Inbound frame burst per connection (token bucket size)',
  },
  {
    key: 'rateLimitStrikes',
    kind: 'int',
    group: 'limits',
    default: 3,
    min: 1,
    max: 1000,
    help: 'Consecutive seconds with rate-limited frames before closing with 4029',
  },
  {
    key: 'maxBadFrames',
    kind: 'int',
    group: 'limits',
    default: 10,
    min: 1,
    max: 100_000,
    help: 'Malformed frames within the window before closing with 4008',
  },
  {
    key: 'badFrameWindowS',
    kind: 'int',
    group: 'limits',
    default: 60,
    min: 1,
    max: 86_400,
    help: 'Window for counting malformed frames, seconds',
  },
  // Frames held between `auth` and the welcome, answered after it (docs/protocol.md A).
  {
    key: 'maxEarlyFrames',
    kind: 'int',
    group: 'limits',
    default: 16,
    min: 0,
    max: 1000,
    help: 'Frames a connection may send between auth and the welcome; answered after it, in order (4029 above it)',
  },
  {
    key: 'maxBufferedBytes',
    kind: 'int',
    group: 'limits',
    default: 1_048_576,
    min: 1024,
    max: 1_073_741_824,
    help: 'Unsent bytes a connection may queue before closing with 4013',
  },
  {
    key: 'maxPublishBytes',
    kind: 'int',
    group: 'limits',
    default: 1_048_576,
    min: 1024,
    max: 67_108_864,
    help: 'Largest HTTP publish body in bytes (413 above it)',
  },
  {
    key: 'publishStreamMaxLines',
    kind: 'int',
    group: 'limits',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    help: 'Most lines (events) of one streamed POST /v1/publish (application/x-ndjson); the line past it is refused 413',
  },
  {
    key: 'publishIdempotencyTtlS',
    kind: 'int',
    group: 'limits',
    default: 86_400,
    min: 1,
    max: 604_800,
    help: 'How long POST /v1/publish remembers an Idempotency-Key: a repeat within it stores nothing and gets the first answer, seconds',
  },
  // Node's `headersTimeout` of the HTTP server: also bounds WebSocket upgrade requests.
  {
    key: 'httpHeadersTimeoutMs',
    kind: 'int',
    group: 'limits',
    default: 10_000,
    min: 100,
    max: 600_000,
    help: 'Time an HTTP request or WebSocket upgrade has to send its headers (408 and close after it)',
  },
  // Node's `requestTimeout`: the whole request, body included; never below `httpHeadersTimeoutMs`.
  {
    key: 'httpRequestTimeoutMs',
    kind: 'int',
    group: 'limits',
    default: 30_000,
    min: 100,
    max: 3_600_000,
    help: 'Time an HTTP request has to arrive whole, body included (408 and close after it)',
  },
  {
    key: 'httpKeepAliveTimeoutMs',
    kind: 'int',
    group: 'limits',
    default: 5000,
    min: 100,
    max: 600_000,
    help: 'How long an idle keep-alive HTTP socket stays open',
  },
  // Sockets not (yet) upgraded to WebSocket, on the main and the metrics port together.
  {
    key: 'maxHttpSockets',
    kind: 'int',
    group: 'limits',
    default: 1024,
    min: 1,
    max: 10_000_000,
    help: 'Plain HTTP sockets open at once on this node; WebSockets are not counted (503 and close above it)',
  },
  // The same per socket address; peers in `trustProxy` are exempt.
  {
    key: 'maxHttpSocketsPerIp',
    kind: 'int',
    group: 'limits',
    default: 128,
    min: 1,
    max: 10_000_000,
    help: 'Plain HTTP sockets one address may hold at once; trusted proxies are exempt (503 and close above it)',
  },
  {
    key: 'heartbeatMs',
    kind: 'int',
    group: 'limits',
    default: 25_000,
    min: 100,
    max: 600_000,
    help: 'Interval of WebSocket pings; two unanswered pings close the connection',
  },
  {
    key: 'sseHeartbeatMs',
    kind: 'int',
    group: 'limits',
    default: 15_000,
    min: 100,
    max: 600_000,
    help: 'Interval of the comment line (: ping) written to every Server-Sent Events stream, so proxies keep it open',
  },
  {
    key: 'sseRetryMs',
    kind: 'int',
    group: 'limits',
    default: 1000,
    min: 0,
    max: 600_000,
    help: 'The retry: hint at the start of every Server-Sent Events stream: how long EventSource waits before reconnecting',
  },
  {
    key: 'agUiMaxBodyBytes',
    kind: 'int',
    group: 'limits',
    default: 1_048_576,
    min: 1024,
    max: 67_108_864,
    help: 'Largest RunAgentInput body of POST /v1/ag-ui in bytes, the AG-UI conversation included (413 above it)',
  },
  {
    key: 'historySize',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.historySize,
    min: 1,
    max: 1_000_000,
    help: 'Events kept per user for resume',
  },
  {
    key: 'historyTtlS',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.historyTtlMs / 1000,
    min: 1,
    max: 604_800,
    help: 'Longest time an event is kept for resume, seconds',
  },
  // Bytes of wire frames kept per user (both engines); the oldest go first, never the newest.
  {
    key: 'historyMaxBytes',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.historyMaxBytes,
    min: 1024,
    max: 1_073_741_824,
    help: "Bytes of events (their wire frames) kept per user for resume; the oldest go first, never the user's newest",
  },
  // Bytes of wire frames kept for all users of this process (memory engine only).
  {
    key: 'historyMemoryBytes',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.historyMemoryBytes,
    min: 1024,
    max: 68_719_476_736,
    help: 'Bytes of events kept for resume by all users of one process (memory engine); the oldest go first',
  },
  // Run snapshots (docs/protocol.md F), both engines.
  {
    key: 'runSnapshotMaxBytes',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.runSnapshotMaxBytes,
    min: 1024,
    max: 67_108_864,
    help: "Bytes of text, reasoning and tool calls one run's snapshot keeps; past it the snapshot says truncated",
  },
  {
    key: 'runSnapshotTtlS',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.runSnapshotTtlMs / 1000,
    min: 1,
    max: 2_592_000,
    help: "How long a run's snapshot is kept after the run's last event, seconds",
  },
  {
    key: 'runSnapshotsPerUser',
    kind: 'int',
    group: 'history',
    default: ENGINE_DEFAULTS.runSnapshotsPerUser,
    min: 1,
    max: 10_000,
    help: 'Runs of one user whose snapshots are listed and caught up (the most recently active)',
  },
  {
    key: 'runTimeoutMs',
    kind: 'int',
    group: 'agents',
    default: 120_000,
    min: 1,
    max: 86_400_000,
    help: 'A run still going after this ends with agent_completed timed_out (time spent waiting for an approval does not count)',
  },
  {
    key: 'approvalTimeoutMs',
    kind: 'int',
    group: 'agents',
    default: 600_000,
    min: 1,
    max: 604_800_000,
    help: "How long a run's question waits for its user before it is resolved expired",
  },
  {
    key: 'maxRunsPerUser',
    kind: 'int',
    group: 'agents',
    default: 3,
    min: 1,
    max: 10_000,
    help: 'Concurrent agent runs per user, counted across every node (RATE_LIMITED above it)',
  },
  {
    key: 'busyPolicy',
    kind: 'enum',
    group: 'agents',
    default: 'reject',
    values: BUSY_POLICIES,
    help: 'A message whose thread_id already has a run: reject (BUSY), enqueue (starts after it) or interrupt (ends it INTERRUPTED, then starts); a message may say otherwise with data.on_busy',
  },
  {
    key: 'maxQueuedRunsPerThread',
    kind: 'int',
    group: 'agents',
    default: 2,
    min: 1,
    max: 1000,
    help: "Runs that may wait for their thread's run to end (enqueue, interrupt; RATE_LIMITED above it); they count against max-runs-per-user",
  },
  {
    key: 'runLeaseS',
    kind: 'int',
    group: 'agents',
    default: ENGINE_DEFAULTS.runLeaseMs / 1000,
    min: 3,
    max: 3600,
    help: "How long a silent node's runs are trusted: they count against max-runs-per-user, then another node ends them NODE_LOST, seconds",
  },
  {
    key: 'defaultAgent',
    kind: 'string',
    group: 'agents',
    default: 'demo',
    help: 'Agent for user messages that name none (demo or webhook)',
  },
  {
    key: 'demoDelayMs',
    kind: 'int',
    group: 'agents',
    default: 400,
    min: 0,
    max: 60_000,
    help: "Pause between the demo agent's steps",
  },
  {
    key: 'agentUrl',
    kind: 'string',
    group: 'agents',
    help: 'Backend URL the webhook agent POSTs user messages to (enables the webhook agent)',
  },
  {
    key: 'agentSecret',
    kind: 'string',
    group: 'agents',
    secret: true,
    help: "Shared secret for the webhook agent's HMAC signature",
  },
  {
    key: 'agentProtocol',
    kind: 'enum',
    group: 'agents',
    default: 'agentcast',
    values: AGENT_PROTOCOLS,
    help: "What the webhook agent's backend speaks: agentcast (NDJSON of agentcast or AG-UI events), ag-ui (an AG-UI agent server), ai-sdk (an AI SDK UI message stream route)",
  },
  {
    key: 'agentStallTimeoutMs',
    kind: 'int',
    group: 'agents',
    default: 30_000,
    min: 1,
    max: 3_600_000,
    help: 'Webhook stream silent for this long ends the run failed',
  },
  {
    key: 'agentMaxLineLength',
    kind: 'int',
    group: 'agents',
    default: 1_048_576,
    min: 1,
    max: 16_777_216,
    help: 'Longest line of a webhook response, or data of one of its SSE events, characters (the run ends WEBHOOK_INVALID_LINE above it)',
  },
  {
    key: 'agentMaxToolCallLength',
    kind: 'int',
    group: 'agents',
    default: 65_536,
    min: 1,
    max: 16_777_216,
    help: "Characters of one AG-UI or AI SDK tool call's name and arguments from the webhook (WEBHOOK_INVALID_LINE above it)",
  },
  {
    key: 'agentMaxOpenToolCalls',
    kind: 'int',
    group: 'agents',
    default: 32,
    min: 1,
    max: 10_000,
    help: 'AG-UI or AI SDK tool calls a webhook run may have open at once (WEBHOOK_INVALID_LINE above it)',
  },
  {
    key: 'redis',
    env: 'AGENTCAST_REDIS_URL',
    kind: 'string',
    group: 'engine',
    help: 'Redis URL (redis://host:port/db); the in-memory engine is used when absent',
  },
  {
    key: 'redisCluster',
    kind: 'bool',
    group: 'engine',
    default: false,
    help: 'Treat --redis as one node of a Redis Cluster (database 0); the others are discovered',
  },
  {
    key: 'redisKeyPrefix',
    kind: 'string',
    group: 'engine',
    default: ENGINE_DEFAULTS.keyPrefix,
    help: 'Prefix of every Redis key and channel; separates deployments sharing one Redis',
  },
  // Lease of a Redis connection slot, renewed every third of it while the connection lives.
  {
    key: 'redisSlotLeaseS',
    kind: 'int',
    group: 'engine',
    default: ENGINE_DEFAULTS.slotLeaseMs / 1000,
    min: 3,
    max: 3600,
    help: "How long a crashed node's connections still count against max-connections-per-user, seconds",
  },
  {
    key: 'metricsPort',
    kind: 'int',
    group: 'observability',
    min: 0,
    max: 65535,
    help: 'Serve /metrics on this port instead of the main one',
  },
  {
    key: 'logLevel',
    kind: 'enum',
    group: 'observability',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    help: 'Log level',
  },
  {
    key: 'accessLog',
    kind: 'bool',
    group: 'observability',
    default: false,
    help: 'Log every HTTP request (method, route, status, duration, client IP) at info; never the query or headers',
  },
  // Tracing (docs/deploy.md, "Tracing"): the OpenTelemetry SDK is loaded only when this is set.
  {
    key: 'otelEndpoint',
    kind: 'string',
    group: 'observability',
    help: 'OTLP/HTTP endpoint (a collector): spans of publish, append, fan-out and webhook exchanges are POSTed as JSON to <URL>/v1/traces',
  },
  {
    key: 'otelServiceName',
    kind: 'string',
    group: 'observability',
    default: 'agentcast',
    help: 'service.name of the exported spans',
  },
] as const satisfies readonly OptionSpec[];

/** The rows as plain OptionSpecs, for code that reads any field of any row. */
const SPECS: readonly OptionSpec[] = OPTION_SPECS;

/** `jwtSecret` -> `jwt-secret`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `jwtSecret` -> `AGENTCAST_JWT_SECRET` (`redis` -> `AGENTCAST_REDIS_URL`, as the URL it is). */
export function envName(key: string): string {
  return (
    SPECS.find((s) => s.key === key)?.env ??
    `AGENTCAST_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
  );
}
