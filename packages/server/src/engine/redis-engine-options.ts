import type { ClusterOptions, RedisOptions } from 'ioredis';
import { type Logger, silentLogger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ENGINE_DEFAULTS } from './engine-defaults.js';
import { newEpoch } from './epoch.js';
import { type ReconnectDelayBounds, reconnectDelay } from './reconnect-delay.js';
import { type SnapshotLimits, snapshotLimits } from './run-snapshot.js';

/** Options for `RedisEngine`. */
export interface RedisEngineOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /**
   * `url` names one node of a Redis Cluster (any master or replica; the others are discovered): commands
   * are routed by hash slot through an ioredis `Cluster` client (docs/redis.md, "Redis Cluster"). The URL
   * must then name database 0, the only one a cluster has. Default false: one Redis.
   */
  readonly cluster?: boolean;
  /** Names this node's connections in Redis `CLIENT LIST` (`<name>`, `<name>:subscriber`). Default `agentcast`. */
  readonly name?: string;
  /** Prefix of every key and channel; separates deployments sharing one Redis. Default `agentcast:`. */
  readonly keyPrefix?: string;
  /** Events kept per user (docs/protocol.md §4: default 1000). */
  readonly historySize?: number;
  /** Age after which an event is gone (docs/protocol.md §4: default 300 s). */
  readonly historyTtlMs?: number;
  /** Bytes of wire frames kept per user, oldest trimmed first, never the newest (default 8 MiB). */
  readonly historyMaxBytes?: number;
  /** How long an idle user's epoch and seq survive in Redis; after that a new epoch starts. Default 24 h. */
  readonly metaTtlMs?: number;
  /** Run snapshot bounds (docs/protocol.md F); each defaults to ENGINE_DEFAULTS. */
  readonly runSnapshots?: Partial<SnapshotLimits>;
  /** Lease of a connection slot; renewed every third of it while the connection lives. Default 30 s. */
  readonly slotLeaseMs?: number;
  /** A command without a reply in this time fails with AC_ERR_ENGINE_UNAVAILABLE. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** Reconnect backoff: doubles from `min` up to `max` ms, plus up to 10% jitter. Default 50..2000. */
  readonly reconnectDelayMs?: ReconnectDelayBounds;
  /** The clock for event `ts`, in ms since the epoch. */
  readonly now?: () => number;
  /** Makes epoch ids; injected by tests that want stable ones. */
  readonly newEpoch?: () => string;
  /** Reports Redis going down and coming back, once each. */
  readonly logger?: Logger;
  /** Where call latencies and reconnects are counted (the gateway's metrics); none by default. */
  readonly metrics?: Pick<Metrics, 'redisCommandDuration' | 'redisReconnects'>;
}

/** {@link RedisEngineOptions} with every default applied and every value checked. */
export type ResolvedRedisEngineOptions = Required<Omit<RedisEngineOptions, 'runSnapshots' | 'metrics'>> & {
  readonly runSnapshots: SnapshotLimits;
};

/** The defaults, in one table: those shared with the memory engine and the config come from engine-defaults.ts. */
export const REDIS_ENGINE_DEFAULTS = {
  cluster: false,
  name: 'agentcast',
  keyPrefix: ENGINE_DEFAULTS.keyPrefix,
  historySize: ENGINE_DEFAULTS.historySize,
  historyTtlMs: ENGINE_DEFAULTS.historyTtlMs,
  historyMaxBytes: ENGINE_DEFAULTS.historyMaxBytes,
  metaTtlMs: 86_400_000,
  slotLeaseMs: ENGINE_DEFAULTS.slotLeaseMs,
  commandTimeoutMs: 2000,
  reconnectDelayMs: { min: 50, max: 2000 },
} as const;

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `RedisEngine: ${name} must be ${integer ? 'an integer' : 'a number'} > 0, got ${value}`,
    );
  }
  return value;
}

/** Applies defaults and checks values; a bad one throws a TypeError that names it. */
export function resolveRedisEngineOptions(options: RedisEngineOptions): ResolvedRedisEngineOptions {
  const d = REDIS_ENGINE_DEFAULTS;
  const delay = options.reconnectDelayMs ?? d.reconnectDelayMs;
  positive('reconnectDelayMs.min', delay.min);
  if (!(delay.max >= delay.min)) {
    throw new TypeError(`RedisEngine: reconnectDelayMs.max must be >= min (${delay.min}), got ${delay.max}`);
  }
  const cluster = options.cluster ?? d.cluster;
  if (cluster) clusterSeed(options.url);
  return Object.freeze({
    url: options.url,
    cluster,
    name: options.name ?? d.name,
    keyPrefix: options.keyPrefix ?? d.keyPrefix,
    historySize: positive('historySize', options.historySize ?? d.historySize, true),
    historyTtlMs: positive('historyTtlMs', options.historyTtlMs ?? d.historyTtlMs, true),
    historyMaxBytes: positive('historyMaxBytes', options.historyMaxBytes ?? d.historyMaxBytes, true),
    metaTtlMs: positive('metaTtlMs', options.metaTtlMs ?? d.metaTtlMs, true),
    slotLeaseMs: positive('slotLeaseMs', options.slotLeaseMs ?? d.slotLeaseMs, true),
    runSnapshots: snapshotLimits(options.runSnapshots),
    commandTimeoutMs: positive('commandTimeoutMs', options.commandTimeoutMs ?? d.commandTimeoutMs),
    reconnectDelayMs: delay,
    now: options.now ?? Date.now,
    newEpoch: options.newEpoch ?? (() => newEpoch()),
    logger: options.logger ?? silentLogger(),
  });
}

/** What every connection needs, plain or inside a cluster; each choice serves degraded mode (issue #7). */
function perConnectionOptions(options: ResolvedRedisEngineOptions) {
  return {
    // Commands in flight when the connection drops fail, and are never resent: an append that may have
    // run must not run twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The fan-out re-subscribes exactly the users held at reconnect time (no stale channels).
    autoResubscribe: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
  } as const;
}

/** The ioredis options of a plain connection (both connections on one Redis, the cluster's subscriber). */
export function redisConnectionOptions(options: ResolvedRedisEngineOptions): RedisOptions {
  return {
    // Fail fast while disconnected instead of queueing: a publish must get its 503 now, not run later.
    enableOfflineQueue: false,
    ...perConnectionOptions(options),
    retryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectDelayMs),
  };
}

/** Where a cluster client starts: host and port of the URL, and the credentials every node shares. */
export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

/** Reads the seed node of `--redis` for a cluster; throws a TypeError for a URL a cluster cannot use. */
export function clusterSeed(url: string): ClusterSeed {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`RedisEngine: url must be redis://host:port or rediss://host:port, got "${url}"`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`RedisEngine: url must be redis://host:port or rediss://host:port, got "${url}"`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') {
    throw new TypeError(`RedisEngine: a Redis Cluster has only database 0; remove "/${db}" from the url`);
  }
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  return {
    // new URL keeps the brackets of an IPv6 host; sockets want the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(username === '' ? {} : { username }),
    ...(password === '' ? {} : { password }),
    tls: parsed.protocol === 'rediss:',
  };
}

/**
 * The ioredis options of the command client on a cluster: the same fail-fast rules as a plain connection,
 * plus the cluster's own retries, kept only where Redis says the command did not run.
 */
export function clusterConnectionOptions(options: ResolvedRedisEngineOptions): ClusterOptions {
  const seed = clusterSeed(options.url);
  return {
    // No offline queue: while no node is reachable, a publish gets its 503 now.
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectDelayMs),
    // MOVED and ASK (a slot moved), TRYAGAIN and CLUSTERDOWN (a failover in progress) mean the command
    // was refused, so ioredis may send it again, up to maxRedirections times: a failover that ends
    // within about 16 × 100 ms is invisible to callers. A connection closed under a command is different:
    // it may have run, so it is not resent (retryDelayOnFailover 0) and the caller gets a 503.
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    redisOptions: {
      ...perConnectionOptions(options),
      connectionName: options.name,
      ...(seed.username === undefined ? {} : { username: seed.username }),
      ...(seed.password === undefined ? {} : { password: seed.password }),
      ...(seed.tls ? { tls: {} } : {}),
    },
  };
}
