import { Redis, type RedisOptions } from 'ioredis';
import { type Logger, silentLogger } from '../observability/logger.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import type { NewEvent, StoredEvent } from '../protocol/events.js';
import type {
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  HistoryResult,
  IdempotencyClaim,
  LogHead,
  ResetReason,
  Unsubscribe,
} from './engine.js';
import { newEpoch } from './epoch.js';
import { LuaScript, type LuaScriptName } from './lua-script.js';
import { RedisFanout } from './redis-fanout.js';
import { type RedisConnectionRole, RedisHealth } from './redis-health.js';
import { RedisKeys } from './redis-keys.js';
import { frameParts, parseStoredFrame } from './stored-frame.js';

/** Options for {@link RedisEngine}. */
export interface RedisEngineOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Names this node's connections in Redis `CLIENT LIST` (`<name>` and `<name>:subscriber`). Default `agentcast`. */
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
  readonly reconnectDelayMs?: { readonly min: number; readonly max: number };
  /** The clock for event `ts`, in ms since the epoch. */
  readonly now?: () => number;
  /** Makes epoch ids; injected by tests that want stable ones. */
  readonly newEpoch?: () => string;
  /** Reports Redis going down and coming back, once each. */
  readonly logger?: Logger;
}

const SCRIPT_NAMES: readonly LuaScriptName[] = ['append', 'head', 'history', 'claim', 'acquire-slot'];
const RESET_REASONS: ReadonlySet<string> = new Set<ResetReason>(['epoch_changed', 'ahead', 'expired']);

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `RedisEngine: ${name} must be ${integer ? 'an integer' : 'a number'} > 0, got ${value}`,
    );
  }
  return value;
}

function replyArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`RedisEngine: unexpected script reply ${String(reply)}`);
  return reply;
}

function replyString(value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`RedisEngine: expected a string reply, got ${String(value)}`);
  return value;
}

function replyInteger(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new TypeError(`RedisEngine: expected an integer reply, got ${String(value)}`);
  }
  return n;
}

/**
 * The engine for many gateway nodes sharing one Redis (issue #7, ARCHITECTURE.md). Per user, keys with
 * the hash tag `{u:<id>}`: a hash {epoch, seq}, a stream of recent wire frames, a sorted set of connection
 * slots, and a pub/sub channel. One Lua script per publish takes the seq, stores and trims, and publishes,
 * atomically (lua/append.lua).
 *
 * Degraded mode: while Redis is unreachable, `health()` is `{ ok: false }`, every call except cleanup
 * rejects at once with AC_ERR_ENGINE_UNAVAILABLE (no offline queue: a publish must never wait minutes,
 * nor be answered 202 for an event that was not stored), and ioredis reconnects with backoff. When both
 * connections are ready again, every held user is subscribed again and events published meanwhile are
 * read back from history and delivered (catch-up); what cannot be filled is a gap the connection's
 * ReplayBuffer reports, so the client resumes (or is reset if Redis lost the data).
 *
 * A command that timed out may still have run in Redis: the caller sees UNAVAILABLE for an event that
 * may be delivered. The reverse (success reported for an event not stored) cannot happen.
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis';
  readonly #command: Redis;
  readonly #subscriber: Redis;
  readonly #keys: RedisKeys;
  readonly #health: RedisHealth;
  readonly #fanout: RedisFanout;
  readonly #logger: Logger;
  readonly #scripts: Readonly<Record<LuaScriptName, LuaScript>>;
  readonly #historySize: number;
  readonly #historyTtlMs: number;
  readonly #metaTtlMs: number;
  readonly #slotLeaseMs: number;
  readonly #now: () => number;
  readonly #newEpoch: () => string;
  /** Slots held by connections of this node, renewed until released; key `user\0connection`. */
  readonly #slots = new Map<
    string,
    { readonly userId: string; readonly connectionId: string; readonly limit: number }
  >();
  readonly #leaseTimer: NodeJS.Timeout;
  #closed = false;

  constructor(options: RedisEngineOptions) {
    this.#historySize = positive('historySize', options.historySize ?? 1000, true);
    this.#historyTtlMs = positive('historyTtlMs', options.historyTtlMs ?? 300_000, true);
    this.#metaTtlMs = positive('metaTtlMs', options.metaTtlMs ?? 86_400_000, true);
    this.#slotLeaseMs = positive('slotLeaseMs', options.slotLeaseMs ?? 30_000, true);
    const commandTimeout = positive('commandTimeoutMs', options.commandTimeoutMs ?? 2000);
    const delay = options.reconnectDelayMs ?? { min: 50, max: 2000 };
    positive('reconnectDelayMs.min', delay.min);
    positive('reconnectDelayMs.max', delay.max);
    this.#keys = new RedisKeys(options.keyPrefix ?? 'agentcast:');
    this.#now = options.now ?? Date.now;
    this.#newEpoch = options.newEpoch ?? (() => newEpoch());
    this.#logger = options.logger ?? silentLogger();
    this.#scripts = Object.fromEntries(SCRIPT_NAMES.map((name) => [name, LuaScript.load(name)])) as Record<
      LuaScriptName,
      LuaScript
    >;
    this.#health = new RedisHealth(this.#logger);

    const redisOptions: RedisOptions = {
      // Fail fast while disconnected instead of queueing: a publish must get its 503 now, not run later.
      enableOfflineQueue: false,
      // Commands in flight when the connection drops fail, and are never resent: an append that may have
      // run must not run twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // The fan-out re-subscribes exactly the users held at reconnect time (no stale channels).
      autoResubscribe: false,
      commandTimeout,
      connectTimeout: Math.max(commandTimeout, 1000),
      retryStrategy: (times) => {
        const base = Math.min(delay.max, delay.min * 2 ** Math.min(times - 1, 20));
        return Math.round(base + Math.random() * base * 0.1);
      },
    };
    const name = options.name ?? 'agentcast';
    this.#command = new Redis(options.url, { ...redisOptions, connectionName: name });
    this.#subscriber = new Redis(options.url, { ...redisOptions, connectionName: `${name}:subscriber` });
    this.#fanout = new RedisFanout({ connection: this.#subscriber, keys: this.#keys, logger: this.#logger });
    this.#subscriber.on('message', (channel: string, frame: string) =>
      this.#fanout.onMessage(channel, frame),
    );
    this.#watch(this.#command, 'command', () => this.#loadScripts());
    this.#watch(this.#subscriber, 'subscriber', () => this.#fanout.resubscribeAll());
    this.#health.onChange((health) => {
      if (health.ok) void this.#catchUp();
    });
    this.#leaseTimer = setInterval(
      () => void this.#renewSlots(),
      Math.max(1, Math.floor(this.#slotLeaseMs / 3)),
    );
    // Renewal only matters while connections exist; it must not keep a finished process alive.
    this.#leaseTimer.unref();
  }

  /** Resolves once both connections are ready (immediately if they are). For startup and tests. */
  ready(): Promise<void> {
    if (this.#health.current.ok) return Promise.resolve();
    return new Promise((resolve) => {
      const stop = this.#health.onChange((health) => {
        if (!health.ok) return;
        stop();
        resolve();
      });
    });
  }

  /** Users this node holds a channel subscription for. */
  get subscribedUserCount(): number {
    return this.#fanout.userCount;
  }

  async append(userId: string, event: NewEvent): Promise<StoredEvent> {
    this.#assertUsable();
    const ts = new Date(this.#now()).toISOString();
    const reply = await this.#call(() => this.#eval('append', this.#appendArgs(userId, event, ts)));
    return this.#stored(event, ts, reply);
  }

  async appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    this.#assertUsable();
    if (items.length === 0) return [];
    const ts = new Date(this.#now()).toISOString();
    const script = this.#scripts.append;
    // One pipeline: one round trip, executed in order, so each user's events keep the batch order.
    const pipeline = this.#command.pipeline();
    for (const { userId, event } of items) {
      pipeline.evalsha(script.sha, 2, ...this.#appendArgs(userId, event, ts));
    }
    const results = await this.#call(() => pipeline.exec());
    return items.map(({ event }, i) => {
      const [error, reply] = results?.[i] ?? [new Error('no reply'), undefined];
      // Some events of the batch may be stored: the caller answers 503 and the publisher retries.
      if (error) throw this.#unavailable(error);
      return this.#stored(event, ts, reply);
    });
  }

  async head(userId: string): Promise<LogHead> {
    this.#assertUsable();
    const keys = [this.#keys.meta(userId), this.#keys.log(userId)];
    const reply = replyArray(
      await this.#call(() => this.#eval('head', [...keys, this.#newEpoch(), this.#metaTtlMs])),
    );
    return { epoch: replyString(reply[0]), seq: replyInteger(reply[1]) };
  }

  async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    return (await this.#readHistory(userId, query)).result;
  }

  async subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    this.#assertUsable();
    return this.#call(() => this.#fanout.subscribe(userId, listener));
  }

  async claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim> {
    this.#assertUsable();
    const reply = replyArray(
      await this.#call(() =>
        this.#eval('claim', [this.#keys.idempotency(key), value, Math.max(1, Math.ceil(ttlMs))]),
      ),
    );
    return replyInteger(reply[0]) === 1
      ? { claimed: true }
      : { claimed: false, value: replyString(reply[1]) };
  }

  async acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    this.#assertUsable();
    const args = [this.#keys.slots(userId), connectionId, limit, this.#slotLeaseMs];
    const granted = replyInteger(await this.#call(() => this.#eval('acquire-slot', args))) === 1;
    if (granted) this.#slots.set(`${userId}\0${connectionId}`, { userId, connectionId, limit });
    return granted;
  }

  /**
   * Gives a slot back. Never throws: releasing is cleanup. If Redis cannot be told, the slot is no longer
   * renewed and its lease ends within slotLeaseMs.
   */
  async releaseConnectionSlot(userId: string, connectionId: string): Promise<void> {
    this.#slots.delete(`${userId}\0${connectionId}`);
    if (this.#closed || !this.#health.current.ok) return;
    try {
      await this.#command.zrem(this.#keys.slots(userId), connectionId);
    } catch {
      // Redis went away mid-call: the lease, no longer renewed, frees the slot by itself.
    }
  }

  health(): EngineHealth {
    return this.#health.current;
  }

  onHealthChange(listener: (health: EngineHealth) => void): () => void {
    return this.#health.onChange(listener);
  }

  /** Closes both connections. Slots still held are left to expire with their leases. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#leaseTimer);
    this.#fanout.clear();
    this.#slots.clear();
    await Promise.all([this.#disconnect(this.#command), this.#disconnect(this.#subscriber)]);
  }

  async #readHistory(
    userId: string,
    query: HistoryQuery,
  ): Promise<{ result: HistoryResult; frames: readonly string[] }> {
    this.#assertUsable();
    const args = [
      this.#keys.meta(userId),
      this.#keys.log(userId),
      this.#newEpoch(),
      this.#metaTtlMs,
      query.since,
      query.epoch ?? '',
      query.limit,
      this.#historyTtlMs,
    ];
    const reply = replyArray(await this.#call(() => this.#eval('history', args)));
    const head = { epoch: replyString(reply[0]), seq: replyInteger(reply[1]) };
    const verdict = replyString(reply[2]);
    if (RESET_REASONS.has(verdict)) {
      return { result: { kind: 'reset', head, reason: verdict as ResetReason }, frames: [] };
    }
    const frames = reply.slice(3).map(replyString);
    const events: StoredEvent[] = [];
    for (const frame of frames) {
      const event = parseStoredFrame(frame);
      if (event === undefined) {
        // A stored frame we cannot read cannot be replayed: the gap cannot be filled (§4).
        this.#logger.error({ user_id: userId }, 'unreadable frame in history');
        return { result: { kind: 'reset', head, reason: 'expired' }, frames: [] };
      }
      events.push(event);
    }
    return { result: { kind: 'ok', head, events, complete: verdict === 'ok' }, frames };
  }

  #appendArgs(userId: string, event: NewEvent, ts: string): (string | number)[] {
    const parts = frameParts(event, ts);
    return [
      this.#keys.meta(userId),
      this.#keys.log(userId),
      // A fresh candidate per call: an epoch must never be reused across a loss of the user's data (§4).
      this.#newEpoch(),
      this.#historySize,
      this.#historyTtlMs,
      this.#metaTtlMs,
      this.#keys.channel(userId),
      parts.head,
      parts.tail,
    ];
  }

  #stored(event: NewEvent, ts: string, reply: unknown): StoredEvent {
    const [seq, epoch] = replyArray(reply);
    const stored = { seq: replyInteger(seq), epoch: replyString(epoch), ts };
    return event.run_id === undefined
      ? { type: event.type, data: event.data, ...stored }
      : { type: event.type, run_id: event.run_id, data: event.data, ...stored };
  }

  /** Runs a script by SHA; if Redis lost it (SCRIPT FLUSH), once more with its source. */
  async #eval(name: LuaScriptName, keysAndArgs: readonly (string | number)[]): Promise<unknown> {
    const script = this.#scripts[name];
    const keyCount = name === 'claim' || name === 'acquire-slot' ? 1 : 2;
    try {
      return await this.#command.evalsha(script.sha, keyCount, ...keysAndArgs);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.#command.eval(script.source, keyCount, ...keysAndArgs);
    }
  }

  /** Runs a Redis call; any failure becomes AC_ERR_ENGINE_UNAVAILABLE (HTTP 503, PROTOCOL.md §8). */
  async #call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #unavailable(cause: unknown): AgentcastError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new AgentcastError(AgentcastErrorCode.EngineUnavailable, `redis engine unavailable: ${detail}`, {
      httpStatus: 503,
      cause,
    });
  }

  #assertUsable(): void {
    if (this.#closed) {
      throw new AgentcastError(AgentcastErrorCode.EngineClosed, 'the engine was used after close()');
    }
    const health = this.#health.current;
    // Degraded mode: answer at once rather than wait for a command timeout.
    if (!health.ok) {
      throw new AgentcastError(AgentcastErrorCode.EngineUnavailable, health.reason, { httpStatus: 503 });
    }
  }

  /** Feeds one connection's lifecycle into health; `prepare` runs on each ready before it counts as up. */
  #watch(redis: Redis, role: RedisConnectionRole, prepare: () => Promise<unknown>): void {
    let lastError: string | undefined;
    // Without an 'error' listener ioredis errors would crash the process; they are reported via health.
    redis.on('error', (error: Error) => {
      lastError = error.message;
    });
    redis.on('close', () => {
      if (!this.#closed) this.#health.down(role, `${role} connection lost (${lastError ?? 'closed'})`);
    });
    redis.on('ready', () => {
      prepare().then(
        () => {
          // The connection may have dropped again while preparing; then 'close' already said so.
          if (this.#closed || redis.status !== 'ready') return;
          lastError = undefined;
          this.#health.up(role);
        },
        (error: unknown) => {
          // A dropped connection reports itself through 'close'; anything else (a script Redis refuses)
          // leaves the engine down until an operator acts.
          if (!this.#closed && redis.status === 'ready') {
            this.#logger.error({ err: error, role }, 'redis connection could not be prepared');
          }
        },
      );
    });
  }

  async #loadScripts(): Promise<void> {
    // A restarted Redis has an empty script cache: load before reporting ready, so EVALSHA succeeds.
    const pipeline = this.#command.pipeline();
    for (const script of Object.values(this.#scripts)) pipeline.script('LOAD', script.source);
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed?.[0]) throw failed[0];
  }

  /**
   * After an outage, reads back what each held user missed while the subscriber was away, and delivers
   * it (the fan-out drops what it already delivered). Stops at the first failure: the next recovery
   * starts another catch-up.
   */
  async #catchUp(): Promise<void> {
    for (const { userId, epoch, seq } of this.#fanout.positions()) {
      if (this.#closed || !this.#health.current.ok) return;
      try {
        const { result, frames } = await this.#readHistory(userId, {
          since: seq,
          epoch,
          limit: this.#historySize,
        });
        if (result.kind !== 'ok') continue;
        for (const [i, event] of result.events.entries())
          this.#fanout.deliver(userId, event, frames[i] ?? '');
      } catch {
        // Redis went away again: health already reports it, and recovery runs another catch-up.
        return;
      }
    }
  }

  async #renewSlots(): Promise<void> {
    if (this.#slots.size === 0 || !this.#health.current.ok) return;
    const script = this.#scripts['acquire-slot'];
    const pipeline = this.#command.pipeline();
    for (const { userId, connectionId, limit } of this.#slots.values()) {
      pipeline.evalsha(script.sha, 1, this.#keys.slots(userId), connectionId, limit, this.#slotLeaseMs);
    }
    try {
      await pipeline.exec();
    } catch {
      // Redis went away: health reports it; leases renew at the next tick after recovery.
    }
  }

  async #disconnect(redis: Redis): Promise<void> {
    if (redis.status === 'ready') {
      try {
        await redis.quit();
        return;
      } catch {
        // QUIT got no answer in time: drop the socket below.
      }
    }
    redis.disconnect();
  }
}
