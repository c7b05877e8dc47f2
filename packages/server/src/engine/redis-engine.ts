import type { RunSnapshot } from '@agentcast/client';
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import {
  type ApprovalAnswer,
  approvalResolvedEvent,
  EventType,
  type JsonObject,
  type NewEvent,
  type StoredEvent,
  toWellFormed,
} from '../protocol/events.js';
import { groupBySlot } from './cluster-slot.js';
import type {
  ActiveRun,
  ApprovalOutcome,
  CancelDelivery,
  CancelListener,
  CatchUp,
  DisconnectListener,
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  HistoryResult,
  IdempotencyClaim,
  KeyedAppend,
  LogHead,
  PendingApproval,
  PresenceEntry,
  Promotion,
  PublishKey,
  ReapedRun,
  RunFence,
  RunRef,
  RunReservation,
  RunStart,
  Unsubscribe,
  UserDisconnect,
} from './engine.js';
import { ENGINE_DEFAULTS } from './engine-defaults.js';
import { EngineUnavailableError } from './engine-unavailable.js';
import {
  evalshaArgs,
  LuaScript,
  type LuaScriptName,
  type LuaScripts,
  type ScriptCall,
} from './lua-script.js';
import { encodePresence, parsePresenceReply } from './presence-record.js';
import { type CommandClient, type PipelineReply, RedisConnections } from './redis-connections.js';
import { RedisControl } from './redis-control.js';
import { type RedisEngineOptions, resolveRedisEngineOptions } from './redis-engine-options.js';
import { type FanoutFloor, type FanoutPosition, RedisFanout } from './redis-fanout.js';
import { type RedisConnectionRole, RedisHealth } from './redis-health.js';
import { RedisKeys } from './redis-keys.js';
import {
  type CatchUpQuery,
  isActiveStatus,
  type SnapshotLimits,
  type SnapshotQuery,
  snapshotFromRecord,
  snapshotPatch,
} from './run-snapshot.js';
import {
  type HistoryReply,
  type LapsedRun,
  parseActiveRunsReply,
  parseAppendBatchReply,
  parseAppendOnceReply,
  parseAppendReply,
  parseApprovalReply,
  parseCancelReply,
  parseClaimReply,
  parseDueRunsReply,
  parseFencedAppendReply,
  parseHeadReply,
  parseHistoryReply,
  parsePromoteReply,
  parseRunReply,
  parseSlotReply,
  parseSnapshotsReply,
  parseStartRunReply,
  parseStringsReply,
  type SnapshotsReply,
} from './script-replies.js';
import { frameParts } from './stored-frame.js';

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/** ioredis gave up waiting for the reply (commandTimeout): the command was sent and may still run. */
function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

/**
 * Whether a failed command is known not to have run: ioredis refused to send it (the connection is not
 * writable and the offline queue is off), or Redis refused the script by SHA (NOSCRIPT runs nothing).
 */
function didNotRun(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    isNoScript(error) ||
    error.message.startsWith("Stream isn't writeable and enableOfflineQueue") ||
    error.message.startsWith("Cluster isn't ready and enableOfflineQueue")
  );
}

/** How long an ended run's marker and a lapsed run's record stay in Redis (lua/start-run.lua, end-run.lua). */
const RUN_RETAIN_MS = ENGINE_DEFAULTS.runRetainMs;

/**
 * How long the run index lives unwritten: past a lapsed run's retention plus a long lease, every run it
 * could name is forgotten anyway (lua/run-index.lua).
 */
const RUN_INDEX_TTL_MS = RUN_RETAIN_MS + 10 * ENGINE_DEFAULTS.runLeaseMs;

/** lua/append.lua's approval arguments (ARGV[21..24]) for one event. */
function approvalOp(
  event: NewEvent,
  answerKey: string | undefined,
): { op: '' | 'open' | 'resolve'; id: string; third: string | number; fourth: string } {
  const id = typeof event.data.approval_id === 'string' ? event.data.approval_id : '';
  if (event.type === EventType.ApprovalRequested) {
    return {
      op: 'open',
      id,
      third: Date.parse(String(event.data.expires_at)),
      fourth: JSON.stringify(event.data),
    };
  }
  if (event.type === EventType.ApprovalResolved) {
    return { op: 'resolve', id, third: String(event.data.decision), fourth: answerKey ?? '' };
  }
  return { op: '', id, third: '', fourth: '' };
}

/** The fence of lua/append.lua's fenced modes. */
interface AppendFence {
  readonly mode: 'event' | 'end' | 'reap';
  readonly node: string;
  readonly epoch: string;
}

/** The run of an event appended with a run fence. */
function fencedRunId(event: NewEvent): string {
  if (event.run_id === undefined)
    throw new TypeError('RedisEngine: a fenced append needs the event’s run_id');
  return event.run_id;
}

/** AC_ERR_RUN_FENCED for a refused fenced append, with the script's reason. */
function runFenced(runId: string, reason: string): AgentcastError {
  return new AgentcastError(
    AgentcastErrorCode.RunFenced,
    `run ${runId} is not this node's any more (${reason}); nothing was stored`,
  );
}

/** A lease in whole ms, at least 1, as the scripts take it. */
function leaseArg(leaseMs: number): number {
  return Math.max(1, Math.ceil(leaseMs));
}

/**
 * Appends in one lua/append-batch.lua call at most: a script holds Redis for its whole run, so a turn with
 * more appends sends several calls (in one pipeline), letting other clients' commands in between.
 */
const APPENDS_PER_CALL = 256;

/** Rounds of snapshots.lua a catch-up takes at most before it gives up (a user starting runs non-stop). */
const CATCH_UP_ROUNDS = 8;

/** Between probes of a stalled Redis whose last probe failed without timing out (e.g. LOADING). */
const STALL_PROBE_RETRY_MS = 500;

/** One event as lua/append-batch.lua takes it: the user's meta key and the event's own strings. */
interface PackedAppend {
  readonly metaKey: string;
  /** `[frame head, frame tail, ...append.lua's ARGV[9..]]` (the last only for an event of a run). */
  readonly entry: readonly string[];
}

/**
 * The appends' entries as lua/append-batch.lua's one JSON argument. Redis's cjson refuses a lone UTF-16
 * surrogate (`"\ud800"`), which JSON.stringify writes as such an escape: a string that has one is sent as its
 * well-formed form (U+FFFD in its place), which is what its UTF-8 bytes were as a separate argument.
 */
export function packEntries(entries: readonly (readonly string[])[]): string {
  const text = JSON.stringify(entries);
  // Only an escaped lone surrogate writes `\ud8`..`\udf` (pairs are written as they are); an escaped backslash
  // before such letters only costs the slow path.
  if (!/\\ud[89a-f]/i.test(text)) return text;
  return JSON.stringify(entries.map((entry) => entry.map(toWellFormed)));
}

/** The appends of one turn of the event loop (their parts) and who waits for which of their replies. */
interface TickAppends {
  readonly calls: PackedAppend[];
  readonly waiters: {
    readonly start: number;
    readonly count: number;
    readonly resolve: (replies: PipelineReply[]) => void;
    readonly reject: (error: unknown) => void;
  }[];
}

/**
 * The engine for many gateway nodes sharing one Redis (issue #7, docs/redis.md). Per user, keys with
 * the hash tag `{u:<id>}`: a hash {epoch, seq, bytes}, a stream of recent wire frames with a list of their
 * sizes, a sorted set of connection slots, the run registry (lua/start-run.lua), and a pub/sub channel.
 * One Lua script per publish takes the seq, stores and trims (by count, age and bytes), and publishes,
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
 * may be delivered, as an EngineUnavailableError with `nothingApplied: false`; only a call refused before
 * it was sent says `nothingApplied: true` (issue 13). The reverse (success reported for an event not
 * stored) cannot happen. A timeout also marks the engine stalled (health not ok, so /readyz is 503 and
 * calls are refused at once) until Redis answers again: a PING probe, queued behind whatever froze Redis,
 * ends the stall as soon as Redis replies, with no traffic needed.
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis';
  readonly #connections: RedisConnections;
  readonly #command: CommandClient;
  readonly #subscriber: Redis;
  readonly #keys: RedisKeys;
  readonly #health: RedisHealth;
  readonly #fanout: RedisFanout;
  readonly #control: RedisControl;
  readonly #logger: Logger;
  readonly #scripts: LuaScripts;
  readonly #historySize: number;
  readonly #historyTtlMs: number;
  readonly #historyMaxBytes: number;
  readonly #metaTtlMs: number;
  readonly #slotLeaseMs: number;
  readonly #snapshotLimits: SnapshotLimits;
  readonly #now: () => number;
  readonly #newEpoch: () => string;
  /** Slots held by connections of this node, renewed until released; key `user\0connection`. */
  readonly #slots = new Map<
    string,
    { readonly userId: string; readonly connectionId: string; readonly limit: number }
  >();
  readonly #leaseTimer: NodeJS.Timeout;
  readonly #commandTimeoutMs: number;
  readonly #metrics: RedisEngineOptions['metrics'];
  #closed = false;
  /** The appendBatch calls of this turn of the event loop, sent as one pipeline once it ends. */
  #tickAppends: TickAppends | undefined;
  /** A connection was lost since the last catch-up: the next recovery reads back what it missed. */
  #catchUpDue = false;
  /** A PING probe of a stalled Redis is under way. */
  #probing = false;

  constructor(options: RedisEngineOptions) {
    const resolved = resolveRedisEngineOptions(options);
    this.#historySize = resolved.historySize;
    this.#historyTtlMs = resolved.historyTtlMs;
    this.#historyMaxBytes = resolved.historyMaxBytes;
    this.#metaTtlMs = resolved.metaTtlMs;
    this.#slotLeaseMs = resolved.slotLeaseMs;
    this.#snapshotLimits = resolved.runSnapshots;
    this.#commandTimeoutMs = resolved.commandTimeoutMs;
    this.#keys = new RedisKeys(resolved.keyPrefix);
    this.#now = resolved.now;
    this.#newEpoch = resolved.newEpoch;
    this.#logger = resolved.logger;
    this.#metrics = options.metrics;
    this.#scripts = LuaScript.loadAll({ sharded: resolved.cluster });
    this.#health = new RedisHealth(this.#logger);

    this.#connections = new RedisConnections(resolved);
    this.#command = this.#connections.command;
    this.#subscriber = this.#connections.subscriber;
    this.#fanout = new RedisFanout({
      connection: this.#connections.userChannels,
      keys: this.#keys,
      logger: this.#logger,
      ...(this.#connections.cluster ? { readFloor: (userId: string) => this.#readFloor(userId) } : {}),
      onGap: (from) => void this.#fillGap(from),
    });
    this.#control = new RedisControl({
      connection: this.#subscriber,
      keys: this.#keys,
      logger: this.#logger,
    });
    const sharded = this.#connections.cluster;
    this.#subscriber.on('message', (channel: string, frame: string) => {
      if (!this.#control.onMessage(channel, frame) && !sharded) this.#fanout.onMessage(channel, frame);
    });
    this.#connections.onUserMessage((channel, frame) => this.#fanout.onMessage(channel, frame));
    this.#watch(this.#command, 'command', () => this.#loadScripts());
    this.#watch(this.#subscriber, 'subscriber', () =>
      // On a cluster the users' sharded subscriptions are the cluster client's, re-made by ioredis.
      Promise.all([this.#control.resubscribeAll(), sharded ? undefined : this.#fanout.resubscribeAll()]),
    );
    if (this.#command instanceof Cluster) this.#watchShardedSubscribers(this.#command);
    this.#health.onChange((health) => {
      // After a stall nothing was missed: the subscriber stayed connected and Redis sends what it holds.
      if (!health.ok || !this.#catchUpDue) return;
      this.#catchUpDue = false;
      void this.#catchUp();
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

  async append(userId: string, event: NewEvent, fence?: RunFence): Promise<StoredEvent> {
    this.#assertUsable();
    const ts = new Date(this.#now()).toISOString();
    if (fence === undefined) {
      const reply = await this.#call(() => this.#appendOne(this.#packedPart(userId, event, ts)));
      return this.#stored(event, ts, reply);
    }
    const runId = fencedRunId(event);
    const mode = fence.ends === true ? 'end' : 'event';
    const part = this.#packedPart(userId, { ...event, run_id: runId }, ts, {
      mode,
      node: fence.node,
      epoch: fence.epoch ?? '',
    });
    const reply = parseFencedAppendReply(await this.#call(() => this.#appendOne(part)));
    if (typeof reply === 'string') throw runFenced(runId, reply);
    return this.#stored(event, ts, [reply.seq, reply.epoch]);
  }

  async appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    this.#assertUsable();
    if (items.length === 0) return [];
    const ts = new Date(this.#now()).toISOString();
    const parts = items.map(({ userId, event }) => this.#packedPart(userId, event, ts));
    // One script call (one per slot on a cluster), run in order, so each user's events keep the batch order.
    const results = await this.#call(() => this.#appendsOfTick(parts));
    const failures = results.filter(([error]) => error !== null).map(([error]) => error);
    if (failures.some(isTimeout)) this.#timedOut();
    // Stored nothing only if no call of the pipeline ran.
    const noneRan = failures.length === results.length && failures.every(didNotRun);
    return items.map(({ event }, i) => {
      const [error, reply] = results[i] ?? [new Error('no reply'), undefined];
      if (error) {
        // Redis lost its scripts (SCRIPT FLUSH): reload them so the next batch works. Either way some
        // events of this batch may be stored: the caller answers 503 and says so.
        if (isNoScript(error)) void this.#loadScripts().catch(() => undefined);
        throw this.#unavailable(error, noneRan);
      }
      return this.#stored(event, ts, reply);
    });
  }

  /**
   * One lua/append-once.lua call: the record, then each event by append.lua's own code, then the record
   * written, atomically. On a Redis Cluster one script reaches one slot, so a keyed batch must keep to
   * users of the first event's slot; otherwise it is refused (AC_ERR_EVENT_INVALID) and nothing is stored.
   */
  async appendBatchOnce(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
    key: PublishKey,
  ): Promise<KeyedAppend> {
    this.#assertUsable();
    const first = items[0];
    if (first === undefined) throw new TypeError('RedisEngine: appendBatchOnce needs at least one event');
    const ts = new Date(this.#now()).toISOString();
    const calls = items.map(({ userId, event }) => this.#appendCall(userId, event, ts));
    const record = this.#keys.publishKey(first.userId, key.key);
    if (
      this.#connections.cluster &&
      groupBySlot([record, ...calls.flatMap((c) => c.keys)], (k) => k).size > 1
    ) {
      throw new AgentcastError(
        AgentcastErrorCode.EventInvalid,
        'Idempotency-Key: on this Redis Cluster a keyed batch must name users of one hash slot; publish each user with its own key',
      );
    }
    const call: ScriptCall = {
      keys: [record, ...calls.flatMap((c) => c.keys)],
      args: [
        key.fingerprint,
        Math.max(1, Math.ceil(key.ttlMs)),
        calls.length,
        ...calls.flatMap((c) => [c.keys.length, c.args.length]),
        ...calls.flatMap((c) => c.args),
      ],
    };
    const reply = parseAppendOnceReply(await this.#call(() => this.#eval('append-once', call)));
    if (reply.outcome === 'conflict') return reply;
    if (reply.outcome === 'repeat') return { outcome: 'repeat', results: reply.results };
    return {
      outcome: 'stored',
      events: items.map(({ event }, i) =>
        this.#stored(event, ts, [reply.results[i]?.seq, reply.results[i]?.epoch]),
      ),
    };
  }

  async head(userId: string): Promise<LogHead> {
    this.#assertUsable();
    const call = {
      keys: [this.#keys.meta(userId), this.#keys.log(userId)],
      args: [this.#newEpoch(), this.#metaTtlMs],
    };
    return parseHeadReply(await this.#call(() => this.#eval('head', call)));
  }

  async runSnapshot(userId: string, runId: string): Promise<RunSnapshot | undefined> {
    const reply = await this.#readSnapshots(userId, 'read', [runId]);
    const found = reply.kind === 'ok' ? reply.records[0] : undefined;
    return found === undefined ? undefined : snapshotFromRecord(found.runId, found.record);
  }

  async runSnapshots(userId: string, query: SnapshotQuery): Promise<RunSnapshot[]> {
    this.#assertUsable();
    const [active, all] = this.#keys.snapshotIndex(userId);
    const index = query.state === 'active' ? active : all;
    // The most recently active first; thread filtering happens on what was read, so read them all.
    const count = query.threadId === undefined ? query.limit : this.#snapshotLimits.perUser;
    const ids = await this.#call(() => this.#command.zrevrange(index, 0, count - 1));
    if (ids.length === 0) return [];
    const reply = await this.#readSnapshots(userId, 'read', ids);
    if (reply.kind !== 'ok') return [];
    const runs = reply.records
      .map(({ runId, record }) => snapshotFromRecord(runId, record))
      .filter((run) => query.state !== 'active' || isActiveStatus(run.status))
      .filter((run) => query.threadId === undefined || run.thread_id === query.threadId);
    runs.sort((a, b) => b.last_seq - a.last_seq);
    return runs.slice(0, query.limit);
  }

  async resolveApproval(
    userId: string,
    approvalId: string,
    answer: ApprovalAnswer,
  ): Promise<ApprovalOutcome> {
    this.#assertUsable();
    const runId = await this.#call(() =>
      this.#command.hget(this.#keys.approval(userId, approvalId), 'run_id'),
    );
    if (runId === null) return { kind: 'unknown' };
    const event = approvalResolvedEvent(runId, approvalId, answer);
    const ts = new Date(this.#now()).toISOString();
    const call = this.#appendCall(userId, event, ts, undefined, answer.key ?? '');
    const reply = parseApprovalReply(await this.#call(() => this.#eval('append', call)));
    if (reply.kind === 'unknown') return { kind: 'unknown' };
    if (reply.kind === 'stored') {
      return { kind: 'resolved', event: this.#stored(event, ts, [reply.head.seq, reply.head.epoch]) };
    }
    const same = answer.key !== undefined && answer.key !== '' && answer.key === reply.key;
    return { kind: same ? 'duplicate' : 'conflict', decision: reply.decision };
  }

  async pendingApprovals(userId: string): Promise<PendingApproval[]> {
    this.#assertUsable();
    const now = this.#now();
    const ids = await this.#call(() =>
      this.#command.zrangebyscore(this.#keys.pendingApprovals(userId), `(${now}`, '+inf'),
    );
    const out: PendingApproval[] = [];
    for (const id of ids) {
      const [runId, state, request] = await this.#call(() =>
        this.#command.hmget(this.#keys.approval(userId, id), 'run_id', 'state', 'request'),
      );
      if (typeof runId !== 'string' || state !== 'pending' || typeof request !== 'string') continue;
      out.push({ runId, request: JSON.parse(request) as JsonObject });
    }
    return out;
  }

  async catchUp(userId: string, query: CatchUpQuery): Promise<CatchUp> {
    // snapshots.lua says which runs it wants; a run started between two rounds makes another one.
    let runIds: readonly string[] = [];
    for (let round = 0; round < CATCH_UP_ROUNDS; round += 1) {
      const reply = await this.#readSnapshots(userId, 'catch_up', runIds, query);
      if (reply.kind === 'retry') {
        runIds = reply.runIds;
        continue;
      }
      const runs = reply.records.map(({ runId, record }) => snapshotFromRecord(runId, record));
      runs.sort((a, b) => a.last_seq - b.last_seq);
      return { head: reply.head, runs };
    }
    throw this.#unavailable(new Error(`the user's runs changed during ${CATCH_UP_ROUNDS} reads`), true);
  }

  async #readSnapshots(
    userId: string,
    mode: 'read' | 'catch_up',
    runIds: readonly string[],
    query: CatchUpQuery = {},
  ): Promise<SnapshotsReply> {
    this.#assertUsable();
    const keys = [this.#keys.meta(userId), this.#keys.log(userId), ...this.#keys.snapshotIndex(userId)];
    for (const runId of runIds) keys.push(...this.#keys.snapshot(userId, runId));
    const since = mode === 'catch_up' && query.since !== undefined ? query.since : '';
    const call = {
      keys,
      args: [this.#newEpoch(), this.#metaTtlMs, mode, since, query.epoch ?? '', runIds.length, ...runIds],
    };
    return parseSnapshotsReply(await this.#call(() => this.#eval('snapshots', call)));
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
    const call = { keys: [this.#keys.idempotency(key)], args: [value, Math.max(1, Math.ceil(ttlMs))] };
    return parseClaimReply(await this.#call(() => this.#eval('claim', call)));
  }

  async acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    this.#assertUsable();
    const granted = parseSlotReply(
      await this.#call(() => this.#eval('acquire-slot', this.#slotCall(userId, connectionId, limit))),
    );
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

  async putTicket(key: string, value: string, ttlMs: number): Promise<void> {
    this.#assertUsable();
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#call(() => this.#command.set(this.#keys.ticket(key), value, 'PX', ttl));
  }

  /** GETDEL (Redis 6.2+): the read and the delete are one command, so one take of concurrent ones wins. */
  async takeTicket(key: string): Promise<string | null> {
    this.#assertUsable();
    return this.#call(() => this.#command.getdel(this.#keys.ticket(key)));
  }

  async startRun(userId: string, start: RunStart): Promise<RunReservation> {
    this.#assertUsable();
    const call = {
      keys: [this.#keys.runs(userId), this.#keys.runInfo(userId)],
      args: [
        start.runId,
        start.agent,
        start.node,
        start.limit,
        leaseArg(start.leaseMs),
        RUN_RETAIN_MS,
        start.key ?? '',
        start.thread?.threadId ?? '',
        start.thread?.policy ?? '',
        start.thread?.maxQueued ?? 0,
        userId,
        this.#keys.controlPrefix,
      ],
    };
    const reservation = parseStartRunReply(await this.#call(() => this.#eval('start-run', call)));
    if (reservation.ok) await this.#indexRuns([userId], start.leaseMs);
    return reservation;
  }

  /** lua/promote-run.lua: the thread's turn checked and taken in one step. */
  async promoteRun(userId: string, runId: string, node: string): Promise<Promotion> {
    this.#assertUsable();
    const call = { keys: [this.#keys.runs(userId), this.#keys.runInfo(userId)], args: [runId, node] };
    return parsePromoteReply(await this.#call(() => this.#eval('promote-run', call)));
  }

  /** One pipeline (one per slot on a cluster) of lua/renew-run.lua calls. */
  async renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    this.#assertUsable();
    if (runs.length === 0) return [];
    const calls = runs.map(({ userId, runId }) => ({
      keys: [this.#keys.runs(userId), this.#keys.runInfo(userId)],
      args: [runId, node, leaseArg(leaseMs), RUN_RETAIN_MS],
    }));
    const results = await this.#call(() =>
      this.#connections.pipelineEvalsha(this.#scripts['renew-run'], calls),
    );
    const failed = results.find(([error]) => error !== null)?.[0];
    if (failed) {
      if (isNoScript(failed)) void this.#loadScripts().catch(() => undefined);
      if (isTimeout(failed)) this.#timedOut();
      throw this.#unavailable(failed);
    }
    const renewed = runs.filter((_, i) => parseRunReply(results[i]?.[1]));
    await this.#indexRuns([...new Set(renewed.map(({ userId }) => userId))], leaseMs);
    return runs.filter((_, i) => !parseRunReply(results[i]?.[1])).map(({ runId }) => runId);
  }

  /**
   * After close() a no-op (false): ending is cleanup. While Redis is unreachable it rejects with
   * AC_ERR_ENGINE_UNAVAILABLE, so the owner can try again; meanwhile the run's lease runs out.
   */
  async endRun(userId: string, runId: string, node: string): Promise<boolean> {
    if (this.#closed) return false;
    this.#assertUsable();
    const call = {
      keys: [this.#keys.runs(userId), this.#keys.runInfo(userId), this.#keys.runsEnded(userId)],
      args: [runId, node, RUN_RETAIN_MS],
    };
    return parseRunReply(await this.#call(() => this.#eval('end-run', call)));
  }

  async activeRuns(userId: string): Promise<ActiveRun[]> {
    this.#assertUsable();
    const call = { keys: [this.#keys.runs(userId), this.#keys.runInfo(userId)], args: [] };
    return parseActiveRunsReply(await this.#call(() => this.#eval('active-runs', call)));
  }

  /** lua/request-cancel.lua: the lookup and the PUBLISH to the owner's control channel in one step. */
  async requestCancel(userId: string, runId: string): Promise<CancelDelivery> {
    this.#assertUsable();
    const call = {
      keys: [this.#keys.runs(userId), this.#keys.runInfo(userId), this.#keys.runsEnded(userId)],
      args: [runId, userId, this.#keys.controlPrefix, RUN_RETAIN_MS],
    };
    return parseCancelReply(await this.#call(() => this.#eval('request-cancel', call)));
  }

  /** One control channel subscription per node (RedisControl), restored after every reconnect. */
  async onCancelRequest(node: string, listener: CancelListener): Promise<Unsubscribe> {
    // Not #assertUsable: a listener added during an outage is subscribed once Redis is back.
    if (this.#closed) {
      throw new AgentcastError(AgentcastErrorCode.EngineClosed, 'the engine was used after close()');
    }
    return this.#control.listen(node, listener);
  }

  /** lua/disconnect-user.lua: the revocation stored and the request published to every node, in one step. */
  async disconnectUser(request: UserDisconnect, revocationTtlMs: number): Promise<void> {
    this.#assertUsable();
    const message = JSON.stringify({
      type: 'disconnect',
      user_id: request.userId,
      reason: request.reason,
      revoke_before: request.revokeBefore,
    });
    const call = {
      keys: [this.#keys.revoked(request.userId)],
      args: [
        request.revokeBefore === undefined ? '' : String(request.revokeBefore),
        Math.max(1, Math.ceil(revocationTtlMs)),
        this.#keys.disconnects,
        message,
      ],
    };
    await this.#call(() => this.#eval('disconnect-user', call));
  }

  /** One subscription of the disconnect channel all nodes share (RedisControl), restored after every reconnect. */
  async onUserDisconnect(listener: DisconnectListener): Promise<Unsubscribe> {
    // Not #assertUsable: a listener added during an outage is subscribed once Redis is back.
    if (this.#closed) {
      throw new AgentcastError(AgentcastErrorCode.EngineClosed, 'the engine was used after close()');
    }
    return this.#control.listenDisconnects(listener);
  }

  async tokensRevokedBefore(userId: string): Promise<number | undefined> {
    this.#assertUsable();
    const reply = await this.#call(() => this.#command.get(this.#keys.revoked(userId)));
    return reply === null ? undefined : Number(reply);
  }

  /** lua/presence.lua 'put' for each record, pipelined (grouped by slot on a cluster). */
  async putPresence(
    entries: readonly { readonly userId: string; readonly entry: PresenceEntry }[],
  ): Promise<void> {
    this.#assertUsable();
    if (entries.length === 0) return;
    const calls = entries.map(({ userId, entry }) =>
      this.#presenceCall(userId, ['put', entry.connectionId, encodePresence(entry), this.#slotLeaseMs]),
    );
    const replies = await this.#call(() => this.#connections.pipelineEvalsha(this.#scripts.presence, calls));
    const failed = replies.find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0];
  }

  async removePresence(userId: string, connectionId: string): Promise<void> {
    if (this.#closed || !this.#health.current.ok) return;
    try {
      await this.#eval('presence', this.#presenceCall(userId, ['remove', connectionId]));
    } catch {
      // Redis went away mid-call: the slot lease, no longer renewed, ends the record's validity.
    }
  }

  async presence(userId: string): Promise<PresenceEntry[]> {
    this.#assertUsable();
    const reply = await this.#call(() => this.#eval('presence', this.#presenceCall(userId, ['read'])));
    return parsePresenceReply(reply);
  }

  #presenceCall(userId: string, args: readonly (string | number)[]): ScriptCall {
    return { keys: [this.#keys.slots(userId), this.#keys.presence(userId)], args };
  }

  /**
   * Walks the run index (lua/run-index.lua) for the users due now; for each, due-runs.lua names its
   * lapsed runs, append.lua in mode 'reap' ends each (conditional and atomic with ending the run), and
   * the user's next look is set from its earliest lease end, or the user leaves the index.
   */
  async reapLapsedRuns(max: number, terminal: (runId: string) => NewEvent): Promise<ReapedRun[]> {
    this.#assertUsable();
    const limit = Math.max(1, Math.floor(max));
    const due = await this.#call(() => this.#eval('run-index', this.#indexCall('due', limit, [])));
    const reaped: ReapedRun[] = [];
    for (const userId of parseStringsReply(due)) {
      const left = limit - reaped.length;
      if (left <= 0) break;
      const look = await this.#dueRuns(userId, left);
      for (const run of look.lapsed) {
        const stored = await this.#reap(userId, run, terminal(run.runId));
        if (stored !== undefined) reaped.push(stored);
      }
      await this.#reindex(userId, look.lapsed.length > 0 ? (await this.#dueRuns(userId, 0)).next : look.next);
    }
    return reaped;
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
    this.#control.clear();
    this.#slots.clear();
    await Promise.all([this.#disconnect(this.#command), this.#disconnect(this.#subscriber)]);
  }

  async #readHistory(userId: string, query: HistoryQuery): Promise<HistoryReply> {
    this.#assertUsable();
    const call = {
      keys: [this.#keys.meta(userId), this.#keys.log(userId)],
      args: [
        this.#newEpoch(),
        this.#metaTtlMs,
        query.since,
        query.epoch ?? '',
        query.limit,
        this.#historyTtlMs,
      ],
    };
    const reply = parseHistoryReply(await this.#call(() => this.#eval('history', call)));
    // Something other than the append script wrote this user's stream: an operator must look.
    if (reply.unreadable) this.#logger.error({ user_id: userId }, 'unreadable frame in history');
    return reply;
  }

  /**
   * lua/append.lua's whole call for one event (append-once, an approval's answer, a reap: the scripts that
   * are given every key); with `fence`, in mode 'event', 'end' or 'reap'. An event of a run also names the
   * run registry and the run's snapshot keys, and carries its snapshot patch (run-snapshot.ts).
   */
  #appendCall(
    userId: string,
    event: NewEvent,
    ts: string,
    fence?: AppendFence,
    answerKey?: string,
  ): ScriptCall {
    const parts = frameParts(event, ts);
    const [epoch, size, ttl, metaTtl, maxBytes] = this.#sharedAppendArgs();
    const keys = [this.#keys.meta(userId), this.#keys.log(userId), this.#keys.sizes(userId)];
    const args: (string | number)[] = [
      epoch ?? '',
      size ?? 0,
      ttl ?? 0,
      metaTtl ?? 0,
      this.#keys.channel(userId),
      parts.head,
      parts.tail,
      maxBytes ?? 0,
    ];
    const runId = event.run_id;
    if (runId === undefined) return { keys, args };
    keys.push(this.#keys.runs(userId), this.#keys.runInfo(userId), this.#keys.runsEnded(userId));
    keys.push(...this.#keys.snapshot(userId, runId), ...this.#keys.snapshotIndex(userId));
    const own = this.#runArgs(event, runId, ts, fence, answerKey);
    keys.push(this.#keys.approval(userId, own.approvalId), this.#keys.pendingApprovals(userId));
    for (const arg of own.args) args.push(arg);
    return { keys, args };
  }

  /**
   * What lua/append.lua's ARGV for one event holds that is not the event's own: ARGV[1..4] and ARGV[8], the
   * same for every event, so lua/append-batch.lua takes them once per call.
   */
  #sharedAppendArgs(): (string | number)[] {
    return [
      // A fresh candidate per call: an epoch must never be reused across a loss of the user's data (§4).
      this.#newEpoch(),
      this.#historySize,
      this.#historyTtlMs,
      this.#metaTtlMs,
      this.#historyMaxBytes,
    ];
  }

  /**
   * One event as lua/append-batch.lua takes it (issue 20): the user's meta key, and `[head, tail, ...ARGV[9..]]`
   * as strings, sent with the other appends of the call as one JSON argument. The script names the user's other
   * keys from the meta key (redis-keys.ts's names; a test compares both ways), so an event costs the gateway one
   * key and one array instead of up to 15 keys and 20 arguments, each its own RESP bulk string.
   */
  #packedPart(userId: string, event: NewEvent, ts: string, fence?: AppendFence): PackedAppend {
    const parts = frameParts(event, ts);
    const entry = [parts.head, parts.tail];
    const runId = event.run_id;
    if (runId !== undefined) {
      for (const arg of this.#runArgs(event, runId, ts, fence).args) entry.push(String(arg));
    }
    return { metaKey: this.#keys.meta(userId), entry };
  }

  /** lua/append.lua's ARGV[9..] for an event of a run (its fence, snapshot patch and approval step). */
  #runArgs(
    event: NewEvent,
    runId: string,
    ts: string,
    fence?: AppendFence,
    answerKey?: string,
  ): { readonly args: (string | number)[]; readonly approvalId: string } {
    const approval = approvalOp(event, answerKey);
    const args: (string | number)[] = [
      runId,
      fence?.mode ?? '',
      fence?.node ?? '',
      RUN_RETAIN_MS,
      fence?.epoch ?? '',
    ];
    const patch = snapshotPatch(event);
    const limits = this.#snapshotLimits;
    const fields = Object.entries(patch.fields ?? {});
    args.push(
      ts,
      patch.status ?? '',
      patch.append?.target ?? '',
      patch.append?.value ?? '',
      limits.maxBytes,
      limits.ttlMs,
      limits.perUser,
      approval.op,
      approval.id,
      approval.third,
      approval.fourth,
      fields.length,
    );
    for (const [field, value] of fields) args.push(field, value);
    return { args, approvalId: approval.id };
  }

  /** Stores a lapsed run's terminal if it is still lapsed and registered; undefined when it is not. */
  async #reap(userId: string, run: LapsedRun, event: NewEvent): Promise<ReapedRun | undefined> {
    const ts = new Date(this.#now()).toISOString();
    const call = this.#appendCall(userId, { ...event, run_id: run.runId }, ts, {
      mode: 'reap',
      node: '',
      epoch: '',
    });
    const answers = (await this.#pendingOf(userId, run.runId)).map((approvalId) =>
      this.#appendCall(
        userId,
        approvalResolvedEvent(run.runId, approvalId, { decision: 'cancelled', by: 'run' }),
        ts,
        undefined,
        '',
      ),
    );
    const calls = [...answers, call];
    const reap = {
      keys: calls.flatMap((c) => c.keys),
      args: [
        calls.length,
        ...calls.flatMap((c) => [c.keys.length, c.args.length]),
        ...calls.flatMap((c) => c.args),
      ],
    };
    const reply = parseFencedAppendReply(await this.#call(() => this.#eval('reap-run', reap)));
    if (typeof reply === 'string') return undefined;
    const stored = this.#stored({ ...event, run_id: run.runId }, ts, [reply.seq, reply.epoch]);
    return { userId, runId: run.runId, agent: run.agent, node: run.node, event: stored };
  }

  /**
   * The run's approvals pending as this reads them: lua/reap-run.lua resolves them `cancelled` with the
   * run's terminal (docs/protocol.md G), each only if still pending then (append.lua's first-answer-wins
   * step), so of the nodes that reap at once, one stores each.
   */
  async #pendingOf(userId: string, runId: string): Promise<string[]> {
    const ids = await this.#call(() =>
      this.#command.zrangebyscore(this.#keys.pendingApprovals(userId), '-inf', '+inf'),
    );
    const owned: string[] = [];
    for (const id of ids) {
      const owner = await this.#call(() => this.#command.hget(this.#keys.approval(userId, id), 'run_id'));
      if (owner === runId) owned.push(id);
    }
    return owned;
  }

  async #dueRuns(userId: string, max: number): Promise<ReturnType<typeof parseDueRunsReply>> {
    const call = { keys: [this.#keys.runs(userId), this.#keys.runInfo(userId)], args: [max] };
    return parseDueRunsReply(await this.#call(() => this.#eval('due-runs', call)));
  }

  /**
   * Sets when the reaper looks at `userId` next (`next`: its earliest lease end), or removes the user
   * from the index when it has no run. A run registered between the look and the removal would be lost
   * to the index, so the user's runs are looked at once more after a removal (a start indexes its run
   * after registering it, so one of the two sees it).
   */
  async #reindex(userId: string, next: number): Promise<void> {
    if (next >= 0) {
      await this.#call(() => this.#eval('run-index', this.#indexCall('set', next, [userId])));
      return;
    }
    await this.#call(() => this.#eval('run-index', this.#indexCall('remove', 0, [userId])));
    const again = await this.#dueRuns(userId, 0);
    if (again.next >= 0) {
      await this.#call(() => this.#eval('run-index', this.#indexCall('set', again.next, [userId])));
    }
  }

  /**
   * Makes `userIds` due within `leaseMs` at the latest. Best effort: a failure leaves the index to the
   * next renewal round, which indexes every user the node renews runs of.
   */
  async #indexRuns(userIds: readonly string[], leaseMs: number): Promise<void> {
    if (userIds.length === 0) return;
    try {
      await this.#call(() => this.#eval('run-index', this.#indexCall('lower', leaseArg(leaseMs), userIds)));
    } catch {
      // Redis went away: health reports it.
    }
  }

  #indexCall(op: 'lower' | 'set' | 'remove' | 'due', value: number, userIds: readonly string[]): ScriptCall {
    return { keys: [this.#keys.runIndex], args: [op, value, RUN_INDEX_TTL_MS, ...userIds] };
  }

  /** lua/acquire-slot.lua for one connection: takes its slot, or renews the lease of the slot it holds. */
  #slotCall(userId: string, connectionId: string, limit: number): ScriptCall {
    return { keys: [this.#keys.slots(userId)], args: [connectionId, limit, this.#slotLeaseMs] };
  }

  /** The stored event of an append's reply: one object, no spreads (issue 20: nothing per event that can be avoided). */
  #stored(event: NewEvent, ts: string, reply: unknown): StoredEvent {
    const { epoch, seq } = parseAppendReply(reply);
    const { type, run_id: runId, data, meta } = event;
    if (runId === undefined) {
      return meta === undefined ? { type, data, epoch, seq, ts } : { type, data, epoch, seq, ts, meta };
    }
    return meta === undefined
      ? { type, run_id: runId, data, epoch, seq, ts }
      : { type, run_id: runId, data, epoch, seq, ts, meta };
  }

  /**
   * Runs a script by SHA. If Redis lost its scripts (SCRIPT FLUSH), NOSCRIPT means it did not run: load
   * them all again and run it once more.
   */
  async #eval(name: LuaScriptName, call: ScriptCall): Promise<unknown> {
    const args = evalshaArgs(this.#scripts[name], call);
    try {
      return await this.#command.evalsha(...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      await this.#loadScripts();
      return await this.#command.evalsha(...args);
    }
  }

  /**
   * One append, sent with the other appends of this turn (one round trip). Redis without the scripts
   * (restarted empty, SCRIPT FLUSH) answers NOSCRIPT before running anything: they are loaded again and the
   * append is sent once more.
   */
  async #appendOne(part: PackedAppend): Promise<unknown> {
    const [error, reply] = (await this.#appendsOfTick([part]))[0] ?? [new Error('no reply'), undefined];
    if (error === null) return reply;
    if (!isNoScript(error)) throw error;
    await this.#loadScripts();
    const [again, retried] = (await this.#appendsOfTick([part]))[0] ?? [new Error('no reply'), undefined];
    if (again !== null) throw again;
    return retried;
  }

  /**
   * Runs appends (their {@link #packedPart}s) with the other appends of this turn of the event loop
   * (issue 20: one round trip per tick for all pending appends): every append and appendBatch of the turn
   * (the HTTP publishes whose bodies arrived together, the runs' next events) joins one lua/append-batch.lua
   * call, sent by `setImmediate` once the turn's I/O callbacks ran, so nothing waits for a timer. The
   * script stores them in call order, so each user's events keep the order of the calls; each caller gets
   * the replies of its own appends.
   */
  #appendsOfTick(parts: readonly PackedAppend[]): Promise<PipelineReply[]> {
    let tick = this.#tickAppends;
    if (tick === undefined) {
      const created: TickAppends = { calls: [], waiters: [] };
      tick = created;
      this.#tickAppends = created;
      setImmediate(() => {
        if (this.#tickAppends === created) this.#tickAppends = undefined;
        this.#runAppends(created.calls).then(
          (replies) => {
            for (const w of created.waiters) w.resolve(replies.slice(w.start, w.start + w.count));
          },
          (error: unknown) => {
            for (const w of created.waiters) w.reject(error);
          },
        );
      });
    }
    const batch = tick;
    return new Promise<PipelineReply[]>((resolve, reject) => {
      batch.waiters.push({ start: batch.calls.length, count: parts.length, resolve, reject });
      for (const part of parts) batch.calls.push(part);
    });
  }

  /**
   * Sends appends as lua/append-batch.lua calls of at most APPENDS_PER_CALL appends each, all in one
   * pipeline (on a cluster one call per hash slot, as a script may only name keys of one slot, and one
   * pipeline per master), and gives one reply per append, in order: append.lua's reply, or the error of
   * that append, or of its whole call.
   */
  async #runAppends(parts: readonly PackedAppend[]): Promise<PipelineReply[]> {
    const groups = this.#connections.cluster
      ? [...groupBySlot(parts, (part) => part.metaKey).values()]
      : [parts.map((_, i) => i)];
    const calls: ScriptCall[] = [];
    const members: number[][] = [];
    for (const group of groups) {
      for (let from = 0; from < group.length; from += APPENDS_PER_CALL) {
        const indexes = group.slice(from, from + APPENDS_PER_CALL);
        const keys: string[] = [];
        const entries: (readonly string[])[] = [];
        for (const i of indexes) {
          const part = parts[i] as PackedAppend;
          keys.push(part.metaKey);
          entries.push(part.entry);
        }
        calls.push({ keys, args: [...this.#sharedAppendArgs(), packEntries(entries)] });
        members.push(indexes);
      }
    }
    const results = await this.#connections.pipelineEvalsha(this.#scripts['append-batch'], calls);
    const replies: PipelineReply[] = new Array(parts.length);
    for (const [c, indexes] of members.entries()) {
      const [error, reply] = results[c] ?? [new Error('no reply'), undefined];
      const each = error === null ? parseAppendBatchReply(reply, indexes.length) : undefined;
      for (const [j, i] of indexes.entries()) {
        replies[i] = each?.[j] ?? [
          error ?? new TypeError('RedisEngine: unexpected append-batch reply'),
          undefined,
        ];
      }
    }
    return replies;
  }

  /**
   * Runs a Redis call; any failure becomes AC_ERR_ENGINE_UNAVAILABLE (HTTP 503, docs/protocol.md §8). A
   * timeout marks the engine stalled; an answer ends a stall.
   */
  async #call<T>(run: () => Promise<T>): Promise<T> {
    let result: T;
    const started = performance.now();
    try {
      result = await run();
    } catch (error) {
      if (isTimeout(error)) this.#timedOut();
      throw this.#unavailable(error);
    } finally {
      this.#metrics?.redisCommandDuration.observe((performance.now() - started) / 1000);
    }
    this.#health.answered();
    return result;
  }

  #unavailable(cause: unknown, nothingApplied = didNotRun(cause)): EngineUnavailableError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new EngineUnavailableError(`redis engine unavailable: ${detail}`, { nothingApplied, cause });
  }

  /** A command got no reply in time on a ready connection: stalled until Redis answers the probe. */
  #timedOut(): void {
    this.#health.timedOut(`a command got no reply within ${this.#commandTimeoutMs} ms`);
    void this.#probe();
  }

  /**
   * PINGs a stalled Redis until it answers (then the stall ends) or the stall ends otherwise: a lost
   * connection turns it into an outage, whose recovery ends it. One probe at a time; each PING waits
   * up to the command timeout, so a frozen Redis is asked once per timeout.
   */
  async #probe(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      while (!this.#closed && this.#health.stalled) {
        try {
          await this.#command.ping();
          this.#health.answered();
        } catch (error) {
          if (isTimeout(error)) continue;
          // Refused or failed at once (not writable, LOADING): ask again shortly, not in a busy loop.
          await new Promise((resolve) => setTimeout(resolve, STALL_PROBE_RETRY_MS).unref());
        }
      }
    } finally {
      this.#probing = false;
    }
  }

  #assertUsable(): void {
    if (this.#closed) {
      throw new AgentcastError(AgentcastErrorCode.EngineClosed, 'the engine was used after close()');
    }
    const health = this.#health.current;
    // Degraded mode: answer at once rather than wait for a command timeout. Nothing is sent, so nothing
    // of this call can be applied.
    if (!health.ok) throw new EngineUnavailableError(health.reason, { nothingApplied: true });
  }

  /** Feeds one connection's lifecycle into health; `prepare` runs on each ready before it counts as up. */
  #watch(redis: CommandClient, role: RedisConnectionRole, prepare: () => Promise<unknown>): void {
    let lastError: string | undefined;
    // Without an 'error' listener ioredis errors would crash the process; they are reported via health.
    redis.on('error', (error: Error) => {
      lastError = error.message;
    });
    redis.on('reconnecting', () => this.#metrics?.redisReconnects.inc({ role }));
    redis.on('close', () => {
      if (this.#closed) return;
      this.#catchUpDue = true;
      this.#health.down(role, `${role} connection lost (${lastError ?? 'closed'})`);
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

  /**
   * Cluster only: a master's sharded subscriber that dropped may have missed frames of its users; once
   * ioredis has the subscribers back (`subscribersReady`), the held users catch up from history, as after
   * an outage of the one subscriber on a single Redis.
   */
  #watchShardedSubscribers(cluster: Cluster): void {
    let missed = false;
    cluster.on('-subscriber', () => {
      missed = true;
    });
    cluster.on('subscribersReady', () => {
      if (!missed || this.#closed) return;
      missed = false;
      void this.#catchUp();
    });
  }

  /** Loads every script where EVALSHA may run (RedisConnections#loadScripts). */
  #loadScripts(): Promise<void> {
    return this.#connections.loadScripts(Object.values(this.#scripts));
  }

  /** Cluster only: where a new listener starts (RedisFanoutOptions.readFloor); read on the owning master. */
  async #readFloor(userId: string): Promise<FanoutFloor> {
    const [epoch, seq] = await this.#command.hmget(this.#keys.meta(userId), 'epoch', 'seq');
    return { epoch: epoch ?? '', seq: Number(seq ?? 0) };
  }

  /**
   * After an outage, reads back what each held user missed while the subscriber was away, and delivers
   * it (the fan-out drops what it already delivered). Stops at the first failure: the next recovery
   * starts another catch-up.
   */
  async #catchUp(): Promise<void> {
    for (const position of this.#fanout.positions()) {
      if (this.#closed || !this.#health.current.ok) return;
      try {
        await this.#readBack(position);
      } catch {
        // Redis went away again: health already reports it, and recovery runs another catch-up.
        return;
      }
    }
  }

  /**
   * A live frame of a user arrived past a lost one (RedisFanoutOptions.onGap): reads the missing events
   * back from history. If that fails, the held events flow with their gap and the connections resume.
   */
  async #fillGap(from: FanoutPosition): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#readBack(from);
    } catch {
      // Redis is failing (health reports it): the held events go on with their gap.
      this.#fanout.endCatchUp(from.userId);
    }
  }

  /** Delivers what a held user missed after `position`, then releases the live events held meanwhile. */
  async #readBack({ userId, epoch, seq }: FanoutPosition): Promise<void> {
    const { result, frames } = await this.#readHistory(userId, {
      since: seq,
      epoch,
      limit: this.#historySize,
    });
    if (result.kind === 'ok') {
      for (const [i, event] of result.events.entries()) this.#fanout.deliver(userId, event, frames[i] ?? '');
    }
    // A reset cannot be filled from here: the connections' ReplayBuffers see the gap and resume.
    this.#fanout.endCatchUp(userId);
  }

  async #renewSlots(): Promise<void> {
    if (this.#slots.size === 0 || !this.#health.current.ok) return;
    const calls = [...this.#slots.values()].map(({ userId, connectionId, limit }) =>
      this.#slotCall(userId, connectionId, limit),
    );
    try {
      await this.#connections.pipelineEvalsha(this.#scripts['acquire-slot'], calls);
    } catch {
      // Redis went away: health reports it; leases renew at the next tick after recovery.
    }
  }

  async #disconnect(redis: CommandClient): Promise<void> {
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
