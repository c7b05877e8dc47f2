import type { RunSnapshot } from '@agentcast/client';
import { type Logger, silentLogger } from '../observability/logger.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import {
  type ApprovalAnswer,
  type ApprovalDecision,
  approvalResolvedEvent,
  EventType,
  type JsonObject,
  type NewEvent,
  type StoredEvent,
} from '../protocol/events.js';
import type {
  ActiveRun,
  ApprovalOutcome,
  CancelDelivery,
  CancelListener,
  CancelReason,
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
import { newEpoch } from './epoch.js';
import { type Few, fewAdd, fewDelete, fewHas, fewSize, fewValues } from './few.js';
import { HistoryBudget } from './history-budget.js';
import {
  type CatchUpQuery,
  type SnapshotLimits,
  type SnapshotQuery,
  snapshotLimits,
} from './run-snapshot.js';
import { SnapshotStore } from './snapshot-store.js';
import { UserDisconnects } from './user-disconnects.js';
import { UserLog } from './user-log.js';

/** Options for {@link MemoryEngine}. */
export interface MemoryEngineOptions {
  /** Events kept per user (docs/protocol.md §4: default 1000). */
  readonly historySize?: number;
  /** Age after which an event is gone (docs/protocol.md §4: default 300 s). */
  readonly historyTtlMs?: number;
  /** Bytes of wire frames kept per user, oldest evicted first (`--history-max-bytes`, default 8 MiB). */
  readonly historyMaxBytes?: number;
  /**
   * Bytes of wire frames kept for all users of the process, oldest (by append) evicted first across
   * users (`--history-memory-bytes`, default 256 MiB).
   */
  readonly historyMemoryBytes?: number;
  /** Run snapshot bounds (docs/protocol.md F); each defaults to ENGINE_DEFAULTS. */
  readonly runSnapshots?: Partial<SnapshotLimits>;
  /** How often idle logs and expired idempotency keys are dropped; default min(historyTtlMs, 60 s). */
  readonly sweepIntervalMs?: number;
  /** The clock, in ms since the epoch. */
  readonly now?: () => number;
  /** Makes epoch ids; injected by tests that want stable ones. */
  readonly newEpoch?: () => string;
  /** Where a throwing event listener is reported; silent by default. */
  readonly logger?: Logger;
}

const MAX_SWEEP_INTERVAL_MS = 60_000;

/** One approval (docs/protocol.md G), the memory twin of lua/append.lua's approval hash. */
interface HeldApproval {
  readonly runId: string;
  readonly request: JsonObject;
  readonly expiresAt: number;
  /** Set once resolved, with the answer's key. */
  resolved?: { readonly decision: ApprovalDecision; readonly key: string };
  /** When it was last written; dropped by the sweep `runSnapshots.ttlMs` after. */
  touchedAt: number;
}

/** One registered run (the memory twin of lua/start-run.lua's records). */
interface HeldRun {
  readonly agent: string;
  readonly key: string | undefined;
  readonly node: string;
  readonly startedAt: number;
  /** When its lease ends unless renewed; it counts and is listed while `now < leaseEnd`. */
  leaseEnd: number;
  /** Its thread, when it was started with one (docs/protocol.md E). */
  readonly thread: string | undefined;
  /** While it waits for its thread's turn: its place (lower goes first). */
  queued: number | undefined;
}

const HEALTHY: EngineHealth = { ok: true };

/** The presence record of `connectionId` among a user's records, if any. */
function presenceOf(held: Few<PresenceEntry> | undefined, connectionId: string): PresenceEntry | undefined {
  for (const entry of fewValues(held)) if (entry.connectionId === connectionId) return entry;
  return undefined;
}

/**
 * Publish idempotency records kept at most (memory bound; the oldest are forgotten first, so a retry past
 * this many keyed publishes may store again). Redis keeps each for its ttl, bounded by `maxmemory`.
 */
export const MAX_PUBLISH_KEYS = 100_000;

/** One publish idempotency record (the memory twin of lua/append-once.lua's). */
interface PublishRecord {
  readonly fingerprint: string;
  readonly results: readonly LogHead[];
  readonly expiresAt: number;
}

/** The id of a user's publish record; length-prefixed so no two pairs collide. */
function publishRecordId(userId: string, key: string): string {
  return `${userId.length}:${userId}:${key}`;
}

/** Ended-run markers kept at most (memory bound; Redis keeps each user's for runRetainMs). */
const MAX_ENDED_RUNS = 100_000;

/** The key of one user's run among the ended markers; length-prefixed so no two pairs collide. */
function endedKey(userId: string, runId: string): string {
  return `${userId.length}:${userId}:${runId}`;
}

/**
 * The engine for one process: per-user logs, idempotency keys, connection slots and the run registry in
 * memory (docs/architecture.md, "Engines"). Everything is lost on restart; §4: a restarted process makes
 * new epochs, so resuming clients are told `reset`.
 *
 * Memory stays bounded: each history is a ring of at most `historySize` events and `historyMaxBytes`
 * bytes of wire frames, none older than `historyTtlMs`; all histories together hold at most
 * `historyMemoryBytes`, the oldest events of any user going first (history-budget.ts); and a sweep drops
 * logs with no subscriber whose last append is older than `historyTtlMs` (nothing in them could be
 * replayed any more; their next resume is a `reset`, as §4 wants after a loss), plus expired idempotency
 * keys and runs whose lease lapsed more than `runRetainMs` ago. The sweep runs on one unref'd interval,
 * never per user. An event evicted by either byte budget is gone as if trimmed by count: a resume that
 * needs it gets `reset` (`expired`).
 */
export class MemoryEngine implements Engine {
  readonly kind = 'memory';
  #lastTsMs = Number.NaN;
  #lastTs = '';
  readonly #historySize: number;
  readonly #historyTtlMs: number;
  readonly #historyMaxBytes: number;
  readonly #budget: HistoryBudget<UserLog>;
  readonly #now: () => number;
  readonly #newEpoch: () => string;
  readonly #logger: Logger;
  readonly #logs = new Map<string, UserLog>();
  /** Insertion order is claim order; lets a claim prune the oldest expired keys cheaply. */
  readonly #claims = new Map<string, { readonly value: string; readonly expiresAt: number }>();
  /** Stream tickets by key, in insertion order (which is expiry order for tickets of one ttl). */
  readonly #tickets = new Map<string, { readonly value: string; readonly expiresAt: number }>();
  readonly #slots = new Map<string, Few<string>>();
  /** Publish idempotency records by publishRecordId, in insertion order. */
  readonly #publishKeys = new Map<string, PublishRecord>();
  /** Registered runs: user id -> run id -> run. A lapsed run is kept `runRetainMs`, then forgotten. */
  readonly #runs = new Map<string, Map<string, HeldRun>>();
  /**
   * Ended runs (as lua/end-run.lua's marker): `endedKey(user, run)` -> when it ended, in end order; kept
   * `runRetainMs`, and at most MAX_ENDED_RUNS of them (the oldest forgotten first).
   */
  readonly #endedRuns = new Map<string, number>();
  /** Cancel listeners per node (Engine.onCancelRequest): the process is every node there is. */
  readonly #cancelListeners = new Map<string, Set<CancelListener>>();
  /** Places in thread queues (docs/protocol.md E): enqueued runs count up, interrupting ones down. */
  #queueOrder = 0;
  /** Run snapshots (docs/protocol.md F), folded in the same synchronous step as each append. */
  readonly #snapshots: SnapshotStore;
  readonly #snapshotTtlMs: number;
  /** Approvals: user id -> approval id -> approval (docs/protocol.md G). */
  readonly #approvals = new Map<string, Map<string, HeldApproval>>();
  /** Presence records: user id -> connection id -> record (Engine.putPresence). */
  readonly #presence = new Map<string, Few<PresenceEntry>>();
  /** Token revocations and disconnect listeners (Engine.disconnectUser). */
  readonly #disconnects: UserDisconnects;
  readonly #sweepTimer: NodeJS.Timeout;
  #closed = false;

  constructor(options: MemoryEngineOptions = {}) {
    this.#historySize = options.historySize ?? ENGINE_DEFAULTS.historySize;
    this.#historyTtlMs = options.historyTtlMs ?? ENGINE_DEFAULTS.historyTtlMs;
    if (!Number.isInteger(this.#historySize) || this.#historySize < 1) {
      throw new TypeError(`MemoryEngine: historySize must be an integer >= 1, got ${this.#historySize}`);
    }
    if (!Number.isFinite(this.#historyTtlMs) || this.#historyTtlMs <= 0) {
      throw new TypeError(`MemoryEngine: historyTtlMs must be a number > 0, got ${this.#historyTtlMs}`);
    }
    this.#historyMaxBytes = positiveInteger(
      'historyMaxBytes',
      options.historyMaxBytes ?? ENGINE_DEFAULTS.historyMaxBytes,
    );
    this.#budget = new HistoryBudget(
      positiveInteger('historyMemoryBytes', options.historyMemoryBytes ?? ENGINE_DEFAULTS.historyMemoryBytes),
    );
    const sweepIntervalMs = options.sweepIntervalMs ?? Math.min(this.#historyTtlMs, MAX_SWEEP_INTERVAL_MS);
    if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new TypeError(`MemoryEngine: sweepIntervalMs must be a number > 0, got ${sweepIntervalMs}`);
    }
    const limits = snapshotLimits(options.runSnapshots);
    this.#snapshots = new SnapshotStore(limits);
    this.#snapshotTtlMs = limits.ttlMs;
    this.#now = options.now ?? Date.now;
    this.#newEpoch = options.newEpoch ?? (() => newEpoch());
    this.#logger = options.logger ?? silentLogger();
    this.#disconnects = new UserDisconnects(this.#logger);
    this.#sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs);
    // The sweep only frees memory; it must not keep a finished process alive.
    this.#sweepTimer.unref();
  }

  /** Users whose log is held right now (for /v1/stats and tests of the memory bound). */
  get userCount(): number {
    return this.#logs.size;
  }

  /** Bytes of wire frames held in every user's history right now (`agentcast_history_bytes`). */
  get historyBytes(): number {
    return this.#budget.heldBytes;
  }

  /** The per-user byte bound in force. */
  get historyMaxBytes(): number {
    return this.#historyMaxBytes;
  }

  /** The process-wide byte bound in force. */
  get historyMemoryBytes(): number {
    return this.#budget.maxBytes;
  }

  /** Idempotency keys held right now, expired ones included until pruned. */
  get idempotencyKeyCount(): number {
    return this.#claims.size;
  }

  async append(userId: string, event: NewEvent, fence?: RunFence): Promise<StoredEvent> {
    this.#assertOpen();
    // No await before this line: seq is read and incremented, and the fence checked, in the same
    // synchronous step (§3).
    const now = this.#now();
    if (fence !== undefined) {
      const runId = event.run_id;
      if (runId === undefined) throw new TypeError('MemoryEngine: a fenced append needs the event’s run_id');
      const run = this.#runs.get(userId)?.get(runId);
      // As append.lua: a run unknown to a log that is no longer of its epoch lost its registry with it.
      const lost = fence.epoch !== undefined && this.#logs.get(userId)?.head.epoch !== fence.epoch;
      let refusal: string | undefined;
      if (run === undefined) refusal = lost ? undefined : 'not_registered';
      else if (run.node !== fence.node) refusal = 'not_owner';
      if (refusal !== undefined) {
        throw new AgentcastError(
          AgentcastErrorCode.RunFenced,
          `run ${runId} is not this node's any more (${refusal}); nothing was stored`,
        );
      }
      const stored = this.#append(this.#log(userId), event, now, this.#isoTime(now));
      if (fence.ends === true) this.#endRun(userId, runId);
      return stored;
    }
    return this.#append(this.#log(userId), event, now, this.#isoTime(now));
  }

  /** Appends, then charges the bytes to the global budget, which may evict other users' oldest events. */
  #append(log: UserLog, event: NewEvent, now: number, ts: string): StoredEvent {
    const before = log.historyBytes;
    const stored = log.append(event, now, ts, this.#budget.nextOrder(), this.#onStored);
    this.#budget.changed(log, log.historyBytes - before);
    return stored;
  }

  /** What is stored with each event, in its append's synchronous step (one function, not one per event). */
  readonly #onStored = (userId: string, event: StoredEvent, now: number): void => {
    this.#snapshots.fold(userId, event, now);
    if (event.type === EventType.ApprovalRequested) this.#openApproval(userId, event, now);
  };

  /** `ts` of events stored at `nowMs`: formatted once per millisecond, not once per event. */
  #isoTime(nowMs: number): string {
    if (nowMs !== this.#lastTsMs) {
      this.#lastTsMs = nowMs;
      this.#lastTs = new Date(nowMs).toISOString();
    }
    return this.#lastTs;
  }

  async appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    this.#assertOpen();
    const now = this.#now();
    const ts = this.#isoTime(now);
    const stored: StoredEvent[] = new Array(items.length);
    for (let i = 0; i < items.length; i += 1) {
      const { userId, event } = items[i] as (typeof items)[number];
      stored[i] = this.#append(this.#log(userId), event, now, ts);
    }
    return stored;
  }

  /** Checked, appended and recorded in one synchronous step: no await before the record is written. */
  async appendBatchOnce(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
    key: PublishKey,
  ): Promise<KeyedAppend> {
    this.#assertOpen();
    const first = items[0];
    if (first === undefined) throw new TypeError('MemoryEngine: appendBatchOnce needs at least one event');
    const now = this.#now();
    const id = publishRecordId(first.userId, key.key);
    const held = this.#publishKeys.get(id);
    if (held !== undefined && held.expiresAt > now) {
      return held.fingerprint === key.fingerprint
        ? { outcome: 'repeat', results: held.results }
        : { outcome: 'conflict' };
    }
    const ts = this.#isoTime(now);
    const stored = items.map(({ userId, event }) => this.#append(this.#log(userId), event, now, ts));
    const results = stored.map(({ seq, epoch }) => ({ seq, epoch }));
    this.#publishKeys.delete(id);
    this.#publishKeys.set(id, { fingerprint: key.fingerprint, results, expiresAt: now + key.ttlMs });
    this.#prunePublishKeys(now);
    return { outcome: 'stored', events: stored };
  }

  /** Forgets expired records from the front, and the oldest over MAX_PUBLISH_KEYS. */
  #prunePublishKeys(now: number): void {
    for (const [id, record] of this.#publishKeys) {
      if (record.expiresAt > now && this.#publishKeys.size <= MAX_PUBLISH_KEYS) return;
      this.#publishKeys.delete(id);
    }
  }

  async head(userId: string): Promise<LogHead> {
    this.#assertOpen();
    return this.#log(userId).head;
  }

  async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    this.#assertOpen();
    const log = this.#log(userId);
    const before = log.historyBytes;
    // Reading expires events past their age, which frees bytes.
    const result = log.history(query, this.#now());
    this.#budget.changed(log, log.historyBytes - before);
    return result;
  }

  async subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    this.#assertOpen();
    const stop = this.#log(userId).subscribe(listener);
    return async () => stop();
  }

  async claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim> {
    this.#assertOpen();
    const now = this.#now();
    this.#pruneOldestClaims(now);
    const held = this.#claims.get(key);
    if (held !== undefined && held.expiresAt > now) return { claimed: false, value: held.value };
    // Delete first so a re-claimed key moves to the end of the insertion order.
    this.#claims.delete(key);
    this.#claims.set(key, { value, expiresAt: now + ttlMs });
    return { claimed: true };
  }

  async acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    this.#assertOpen();
    const held = this.#slots.get(userId);
    if (fewHas(held, connectionId)) return true;
    if (fewSize(held) >= limit) return false;
    this.#slots.set(userId, fewAdd(held, connectionId));
    return true;
  }

  async putTicket(key: string, value: string, ttlMs: number): Promise<void> {
    this.#assertOpen();
    const now = this.#now();
    for (const [held, ticket] of this.#tickets) {
      if (ticket.expiresAt > now) break;
      this.#tickets.delete(held);
    }
    this.#tickets.set(key, { value, expiresAt: now + ttlMs });
  }

  async takeTicket(key: string): Promise<string | null> {
    this.#assertOpen();
    // No await before the delete: a second take in the same process finds nothing.
    const ticket = this.#tickets.get(key);
    this.#tickets.delete(key);
    return ticket !== undefined && ticket.expiresAt > this.#now() ? ticket.value : null;
  }

  /** A no-op after close(): releasing is cleanup, and cleanup during shutdown must not throw. */
  async releaseConnectionSlot(userId: string, connectionId: string): Promise<void> {
    // The presence record lives as long as the slot (as on Redis, where it stops counting).
    await this.removePresence(userId, connectionId);
    const held = fewDelete(this.#slots.get(userId), connectionId);
    if (held === undefined) this.#slots.delete(userId);
    else this.#slots.set(userId, held);
  }

  /** One synchronous step, as lua/start-run.lua: the limit, the thread's turn and the registration. */
  async startRun(userId: string, start: RunStart): Promise<RunReservation> {
    this.#assertOpen();
    const now = this.#now();
    let held = this.#runs.get(userId);
    if (held !== undefined) this.#forgetLapsedRuns(userId, held, now);
    const existing = held?.get(start.runId);
    if (existing !== undefined) {
      existing.leaseEnd = now + start.leaseMs;
      return { ok: true };
    }
    const active = [...(held ?? [])].filter(([, run]) => run.leaseEnd > now);
    const same = start.key === undefined ? undefined : active.find(([, run]) => run.key === start.key);
    if (active.length >= start.limit) {
      return same === undefined
        ? { ok: false, reason: 'limit' }
        : { ok: false, reason: 'duplicate', runId: same[0] };
    }
    let queued: number | undefined;
    let behind: string | undefined;
    const thread = start.thread;
    if (thread !== undefined) {
      const turn = threadTurn(held, thread.threadId, now);
      if (turn.busyWith !== undefined) {
        // A retried message whose run is registered (active or queued) is a duplicate, not busy.
        if (same !== undefined) return { ok: false, reason: 'duplicate', runId: same[0] };
        if (thread.policy === 'reject') return { ok: false, reason: 'busy', runId: turn.busyWith };
        if (turn.waiting.length >= thread.maxQueued) return { ok: false, reason: 'queue_full' };
        this.#queueOrder += 1;
        queued = thread.policy === 'interrupt' ? -this.#queueOrder : this.#queueOrder;
        behind = turn.busyWith;
        const [activeId, activeRun] = turn.active ?? [];
        if (thread.policy === 'interrupt' && activeId !== undefined && activeRun !== undefined) {
          this.#sendCancel(activeRun.node, userId, activeId, 'interrupted');
        }
      }
    }
    if (held === undefined) {
      held = new Map();
      this.#runs.set(userId, held);
    }
    held.set(start.runId, {
      agent: start.agent,
      key: start.key,
      node: start.node,
      startedAt: now,
      leaseEnd: now + start.leaseMs,
      thread: thread?.threadId,
      queued,
    });
    return behind === undefined ? { ok: true } : { ok: true, queued: true, behind };
  }

  async promoteRun(userId: string, runId: string, node: string): Promise<Promotion> {
    this.#assertOpen();
    const now = this.#now();
    const held = this.#runs.get(userId);
    const run = held?.get(runId);
    if (held === undefined || run === undefined || run.node !== node || run.leaseEnd <= now) return 'gone';
    if (run.queued === undefined || run.thread === undefined) return 'started';
    const order = run.queued;
    for (const [otherId, other] of held) {
      if (otherId === runId || other.thread !== run.thread) continue;
      if (other.queued === undefined) return 'waiting';
      if (other.leaseEnd > now && other.queued < order) return 'waiting';
    }
    run.queued = undefined;
    return 'started';
  }

  async renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    this.#assertOpen();
    const now = this.#now();
    const lost: string[] = [];
    for (const { userId, runId } of runs) {
      const run = this.#runs.get(userId)?.get(runId);
      // A lapsed lease is not brought back (as renew-run.lua): other nodes may have admitted runs in
      // its place, so the limit could be overshot; the run is lost to its owner and left to end.
      if (run === undefined || run.node !== node || run.leaseEnd <= now) lost.push(runId);
      else run.leaseEnd = now + leaseMs;
    }
    return lost;
  }

  /** A no-op (false) after close(): ending is cleanup, and cleanup during shutdown must not throw. */
  async endRun(userId: string, runId: string, node: string): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#runs.get(userId)?.get(runId)?.node !== node) return false;
    this.#endRun(userId, runId);
    return true;
  }

  #endRun(userId: string, runId: string): void {
    const held = this.#runs.get(userId);
    if (held === undefined) return;
    held.delete(runId);
    if (held.size === 0) this.#runs.delete(userId);
    this.#endedRuns.set(endedKey(userId, runId), this.#now());
    this.#pruneEndedRuns(this.#now());
  }

  /**
   * One process: its own runs never lapse while it lives (its runtime renews them), so this reaps only
   * runs whose lease an owner let lapse (a runtime that stopped renewing, or a test). Each run is checked,
   * its terminal stored and the run ended in one synchronous step, so it is reaped once.
   */
  async reapLapsedRuns(max: number, terminal: (runId: string) => NewEvent): Promise<ReapedRun[]> {
    this.#assertOpen();
    const now = this.#now();
    const reaped: ReapedRun[] = [];
    for (const [userId, held] of this.#runs) {
      for (const [runId, run] of held) {
        if (reaped.length >= max) return reaped;
        if (run.leaseEnd > now) continue;
        this.#cancelApprovals(userId, runId);
        const event = this.#append(
          this.#log(userId),
          { ...terminal(runId), run_id: runId },
          now,
          this.#isoTime(now),
        );
        this.#endRun(userId, runId);
        reaped.push({ userId, runId, agent: run.agent, node: run.node, event });
      }
    }
    return reaped;
  }

  /** Looks the run up and calls its owner's cancel listeners, on the next tick (as a message arrives). */
  async requestCancel(userId: string, runId: string): Promise<CancelDelivery> {
    this.#assertOpen();
    const now = this.#now();
    const run = this.#runs.get(userId)?.get(runId);
    // A run lapsed for over runRetainMs is forgotten, as lua/request-cancel.lua forgets it.
    if (run === undefined || run.leaseEnd <= now - ENGINE_DEFAULTS.runRetainMs) {
      return { state: this.#endedRuns.has(endedKey(userId, runId)) ? 'ended' : 'unknown' };
    }
    this.#sendCancel(run.node, userId, runId, 'cancel');
    return { state: run.leaseEnd > now ? 'active' : 'lapsed', node: run.node };
  }

  /** Calls `node`'s cancel listeners on the next tick, as a message on its control channel arrives. */
  #sendCancel(node: string, userId: string, runId: string, reason: CancelReason): void {
    const listeners = [...(this.#cancelListeners.get(node) ?? [])];
    queueMicrotask(() => {
      for (const listener of listeners) {
        try {
          listener(userId, runId, reason);
        } catch (error) {
          this.#logger.error({ err: error, user_id: userId, run_id: runId }, 'cancel listener threw');
        }
      }
    });
  }

  async onCancelRequest(node: string, listener: CancelListener): Promise<Unsubscribe> {
    this.#assertOpen();
    let listeners = this.#cancelListeners.get(node);
    if (listeners === undefined) {
      listeners = new Set();
      this.#cancelListeners.set(node, listeners);
    }
    // A wrapper, so the same function added twice is removed once per call.
    const entry: CancelListener = (userId, runId, reason) => listener(userId, runId, reason);
    listeners.add(entry);
    return async () => {
      const held = this.#cancelListeners.get(node);
      held?.delete(entry);
      if (held?.size === 0) this.#cancelListeners.delete(node);
    };
  }

  async disconnectUser(request: UserDisconnect, revocationTtlMs: number): Promise<void> {
    this.#assertOpen();
    this.#disconnects.disconnect(request, revocationTtlMs, this.#now());
  }

  async onUserDisconnect(listener: DisconnectListener): Promise<Unsubscribe> {
    this.#assertOpen();
    return this.#disconnects.listen(listener);
  }

  async tokensRevokedBefore(userId: string): Promise<number | undefined> {
    this.#assertOpen();
    return this.#disconnects.revokedBefore(userId, this.#now());
  }

  async putPresence(
    entries: readonly { readonly userId: string; readonly entry: PresenceEntry }[],
  ): Promise<void> {
    this.#assertOpen();
    for (const { userId, entry } of entries) {
      // Only while the connection holds its slot, as on Redis: a record written after its release is dropped.
      if (!fewHas(this.#slots.get(userId), entry.connectionId)) continue;
      // One record per connection: the one it replaces goes first.
      const held = this.#presence.get(userId);
      const old = presenceOf(held, entry.connectionId);
      this.#presence.set(userId, fewAdd(old === undefined ? held : fewDelete(held, old), entry));
    }
  }

  async removePresence(userId: string, connectionId: string): Promise<void> {
    const held = this.#presence.get(userId);
    const old = presenceOf(held, connectionId);
    if (old === undefined) return;
    const left = fewDelete(held, old);
    if (left === undefined) this.#presence.delete(userId);
    else this.#presence.set(userId, left);
  }

  async presence(userId: string): Promise<PresenceEntry[]> {
    this.#assertOpen();
    const slots = this.#slots.get(userId);
    const entries = [...fewValues(this.#presence.get(userId))];
    return entries
      .filter((entry) => fewHas(slots, entry.connectionId))
      .sort((a, b) => a.connectedAt - b.connectedAt);
  }

  async activeRuns(userId: string): Promise<ActiveRun[]> {
    this.#assertOpen();
    const now = this.#now();
    const active: ActiveRun[] = [];
    for (const [runId, run] of this.#runs.get(userId) ?? []) {
      if (run.leaseEnd > now)
        active.push({
          runId,
          agent: run.agent,
          startedAt: run.startedAt,
          node: run.node,
          ...(run.thread === undefined ? {} : { threadId: run.thread }),
          ...(run.queued === undefined ? {} : { queued: true as const }),
        });
    }
    return active.sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Always ok: memory cannot become unreachable. */
  health(): EngineHealth {
    return HEALTHY;
  }

  async runSnapshot(userId: string, runId: string): Promise<RunSnapshot | undefined> {
    this.#assertOpen();
    return this.#snapshots.get(userId, runId, this.#now());
  }

  async runSnapshots(userId: string, query: SnapshotQuery): Promise<RunSnapshot[]> {
    this.#assertOpen();
    return this.#snapshots.list(userId, query, this.#now());
  }

  async catchUp(userId: string, query: CatchUpQuery): Promise<CatchUp> {
    this.#assertOpen();
    // One synchronous step: the head and the snapshots at that head.
    const head = this.#log(userId).head;
    return { head, runs: this.#snapshots.catchUp(userId, head, query, this.#now()) };
  }

  async resolveApproval(
    userId: string,
    approvalId: string,
    answer: ApprovalAnswer,
  ): Promise<ApprovalOutcome> {
    this.#assertOpen();
    // One synchronous step: the check, the append of the one approval_resolved and the settling.
    const held = this.#approvals.get(userId)?.get(approvalId);
    if (held === undefined) return { kind: 'unknown' };
    if (held.resolved !== undefined) {
      const same = answer.key !== undefined && answer.key !== '' && answer.key === held.resolved.key;
      return { kind: same ? 'duplicate' : 'conflict', decision: held.resolved.decision };
    }
    const now = this.#now();
    const event = this.#append(
      this.#log(userId),
      approvalResolvedEvent(held.runId, approvalId, answer),
      now,
      this.#isoTime(now),
    );
    held.resolved = { decision: answer.decision, key: answer.key ?? '' };
    held.touchedAt = now;
    return { kind: 'resolved', event };
  }

  /** The run's approvals still pending get their one `approval_resolved`, `cancelled` (a reaped run). */
  #cancelApprovals(userId: string, runId: string): void {
    for (const [approvalId, held] of this.#approvals.get(userId) ?? []) {
      if (held.runId !== runId || held.resolved !== undefined) continue;
      const now = this.#now();
      const answer = { decision: 'cancelled', by: 'run' } as const;
      this.#append(
        this.#log(userId),
        approvalResolvedEvent(runId, approvalId, answer),
        now,
        this.#isoTime(now),
      );
      held.resolved = { decision: answer.decision, key: '' };
      held.touchedAt = now;
    }
  }

  async pendingApprovals(userId: string): Promise<PendingApproval[]> {
    this.#assertOpen();
    const now = this.#now();
    const held = [...(this.#approvals.get(userId)?.values() ?? [])];
    return held
      .filter((a) => a.resolved === undefined && a.expiresAt > now)
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .map((a) => ({ runId: a.runId, request: a.request }));
  }

  #openApproval(userId: string, event: StoredEvent, now: number): void {
    const approvalId = String(event.data.approval_id);
    let approvals = this.#approvals.get(userId);
    if (approvals === undefined) {
      approvals = new Map();
      this.#approvals.set(userId, approvals);
    }
    approvals.set(approvalId, {
      runId: event.run_id ?? '',
      request: event.data,
      expiresAt: Date.parse(String(event.data.expires_at)),
      touchedAt: now,
    });
  }

  /** Health never changes, so the listener is never called. */
  onHealthChange(_listener: (health: EngineHealth) => void): () => void {
    return () => undefined;
  }

  /**
   * Drops idle logs (no subscriber, last append older than historyTtlMs), ages out events of the others
   * and removes expired idempotency keys. Runs on the engine's interval; callable directly with an
   * injected clock.
   */
  sweep(): void {
    const now = this.#now();
    for (const [userId, log] of this.#logs) {
      if (log.subscriberCount === 0 && now - log.touchedAt > this.#historyTtlMs) {
        this.#logs.delete(userId);
        this.#budget.changed(log, -log.clearHistory());
      } else {
        const before = log.historyBytes;
        log.expire(now);
        this.#budget.changed(log, log.historyBytes - before);
      }
    }
    // Entries of dropped and emptied logs leave the budget's queue, so it never outgrows the live logs.
    this.#budget.rebuild(this.#logs.values());
    for (const [key, claim] of this.#claims) {
      if (claim.expiresAt <= now) this.#claims.delete(key);
    }
    for (const [id, record] of this.#publishKeys) {
      if (record.expiresAt <= now) this.#publishKeys.delete(id);
    }
    for (const [key, ticket] of this.#tickets) {
      if (ticket.expiresAt <= now) this.#tickets.delete(key);
    }
    for (const [userId, held] of this.#runs) this.#forgetLapsedRuns(userId, held, now);
    this.#pruneEndedRuns(now);
    this.#snapshots.sweep(now);
    for (const [userId, approvals] of this.#approvals) {
      for (const [id, held] of approvals) {
        if (now - held.touchedAt >= this.#snapshotTtlMs) approvals.delete(id);
      }
      if (approvals.size === 0) this.#approvals.delete(userId);
    }
    this.#disconnects.sweep(now);
  }

  /** Ended markers are in end order: forget from the front those past runRetainMs or over the bound. */
  #pruneEndedRuns(now: number): void {
    for (const [key, at] of this.#endedRuns) {
      if (at > now - ENGINE_DEFAULTS.runRetainMs && this.#endedRuns.size <= MAX_ENDED_RUNS) return;
      this.#endedRuns.delete(key);
    }
  }

  /** Forgets the user's runs whose lease lapsed over runRetainMs ago (as lua/start-run.lua does). */
  #forgetLapsedRuns(userId: string, held: Map<string, HeldRun>, now: number): void {
    for (const [runId, run] of held) {
      if (run.leaseEnd <= now - ENGINE_DEFAULTS.runRetainMs) held.delete(runId);
    }
    if (held.size === 0) this.#runs.delete(userId);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#logs.clear();
    this.#budget.clear();
    this.#claims.clear();
    this.#publishKeys.clear();
    this.#tickets.clear();
    this.#slots.clear();
    this.#runs.clear();
    this.#endedRuns.clear();
    this.#cancelListeners.clear();
    this.#snapshots.clear();
    this.#approvals.clear();
    this.#disconnects.clear();
    this.#presence.clear();
  }

  #log(userId: string): UserLog {
    let log = this.#logs.get(userId);
    if (log === undefined) {
      const options = {
        userId,
        epoch: this.#newEpoch(),
        historySize: this.#historySize,
        historyTtlMs: this.#historyTtlMs,
        historyMaxBytes: this.#historyMaxBytes,
        logger: this.#logger,
      };
      log = new UserLog(options, this.#now());
      this.#logs.set(userId, log);
    }
    return log;
  }

  /** Claims usually share one ttl, so expired keys sit at the front: prune there, amortised O(1). */
  #pruneOldestClaims(now: number): void {
    for (const [key, claim] of this.#claims) {
      if (claim.expiresAt > now) return;
      this.#claims.delete(key);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new AgentcastError(AgentcastErrorCode.EngineClosed, 'the engine was used after close()');
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`MemoryEngine: ${name} must be an integer >= 1, got ${value}`);
  }
  return value;
}

/**
 * Where a thread stands (docs/protocol.md E): its active run (any lease: a dead node's run holds the thread
 * until it is reaped), and its queued runs whose lease has not lapsed, head first; `busyWith` names the
 * run a refused message is told about (the active one, else the head of the queue).
 */
function threadTurn(
  held: ReadonlyMap<string, HeldRun> | undefined,
  threadId: string,
  now: number,
): { active?: [string, HeldRun]; waiting: [string, HeldRun][]; busyWith?: string } {
  let active: [string, HeldRun] | undefined;
  const waiting: [string, HeldRun][] = [];
  for (const entry of held ?? []) {
    const run = entry[1];
    if (run.thread !== threadId) continue;
    if (run.queued === undefined) active = entry;
    else if (run.leaseEnd > now) waiting.push(entry);
  }
  waiting.sort((a, b) => (a[1].queued ?? 0) - (b[1].queued ?? 0));
  const busyWith = active?.[0] ?? waiting[0]?.[0];
  return {
    waiting,
    ...(active === undefined ? {} : { active }),
    ...(busyWith === undefined ? {} : { busyWith }),
  };
}
