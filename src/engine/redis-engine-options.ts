import type { RedisOptions } from 'ioredis';
import { type Logger, silentLogger } from '../observability/logger.js';
import { newEpoch } from './epoch.js';
import { type ReconnectDelayBounds, reconnectDelay } from './reconnect-delay.js';

/** Options for `RedisEngine`. */
export interface RedisEngineOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Names this node's connections in Redis `CLIENT LIST` (`<name>`, `<name>:subscriber`). Default `agentcast`. */
  readonly name?: string;
  /** Prefix of every key and channel; separates deployments sharing one Redis. Default `agentcast:`. */
  readonly keyPrefix?: string;
  /** Events kept per user (PROTOCOL.md §4: default 1000). */
  readonly historySize?: number;
  /** Age after which an event is gone (PROTOCOL.md §4: default 300 s). */
  readonly historyTtlMs?: number;
  /** How long an idle user's epoch and seq survive in Redis; after that a new epoch starts. Default 24 h. */
  readonly metaTtlMs?: number;
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
}

/** {@link RedisEngineOptions} with every default applied and every value checked. */
export type ResolvedRedisEngineOptions = Required<RedisEngineOptions>;

/** The defaults, in one table. */
export const REDIS_ENGINE_DEFAULTS = {
  name: 'agentcast',
  keyPrefix: 'agentcast:',
  historySize: 1000,
  historyTtlMs: 300_000,
  metaTtlMs: 86_400_000,
  slotLeaseMs: 30_000,
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
  return Object.freeze({
    url: options.url,
    name: options.name ?? d.name,
    keyPrefix: options.keyPrefix ?? d.keyPrefix,
    historySize: positive('historySize', options.historySize ?? d.historySize, true),
    historyTtlMs: positive('historyTtlMs', options.historyTtlMs ?? d.historyTtlMs, true),
    metaTtlMs: positive('metaTtlMs', options.metaTtlMs ?? d.metaTtlMs, true),
    slotLeaseMs: positive('slotLeaseMs', options.slotLeaseMs ?? d.slotLeaseMs, true),
    commandTimeoutMs: positive('commandTimeoutMs', options.commandTimeoutMs ?? d.commandTimeoutMs),
    reconnectDelayMs: delay,
    now: options.now ?? Date.now,
    newEpoch: options.newEpoch ?? (() => newEpoch()),
    logger: options.logger ?? silentLogger(),
  });
}

/** The ioredis options both connections use; each choice serves degraded mode (issue #7). */
export function redisConnectionOptions(options: ResolvedRedisEngineOptions): RedisOptions {
  return {
    // Fail fast while disconnected instead of queueing: a publish must get its 503 now, not run later.
    enableOfflineQueue: false,
    // Commands in flight when the connection drops fail, and are never resent: an append that may have
    // run must not run twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The fan-out re-subscribes exactly the users held at reconnect time (no stale channels).
    autoResubscribe: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    retryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectDelayMs),
  };
}
