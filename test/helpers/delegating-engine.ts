import type { RunSnapshot } from '@agentcast/client';
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
} from '../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import type { CatchUpQuery, SnapshotQuery } from '../../packages/server/src/engine/run-snapshot.js';
import type { ApprovalAnswer, NewEvent, StoredEvent } from '../../packages/server/src/protocol/events.js';
import type { Hold } from './deferred.js';

/** The engine calls a test can intercept, fail or hold: every method that answers with a promise. */
export type EngineCall =
  | 'append'
  | 'appendBatch'
  | 'appendBatchOnce'
  | 'head'
  | 'history'
  | 'subscribe'
  | 'claimIdempotency'
  | 'acquireConnectionSlot'
  | 'releaseConnectionSlot'
  | 'requestCancel'
  | 'runSnapshot'
  | 'runSnapshots'
  | 'catchUp'
  | 'resolveApproval'
  | 'putTicket'
  | 'takeTicket'
  | 'disconnectUser'
  | 'tokensRevokedBefore'
  | 'presence';

/**
 * Stands in for one engine method: `next` is what the call would have reached without it (the engine
 * underneath, or the interceptor installed before this one), then come the call's own arguments.
 */
export type Interceptor<M extends EngineCall> = (
  next: Engine[M],
  ...args: Parameters<Engine[M]>
) => ReturnType<Engine[M]>;

/** What `fail` rejects with: an error, or a function giving the error for the n-th call (1-based). */
export type Failure = Error | ((call: number) => Error);

/** An interceptor as stored: told the call's 1-based number, which `fail` uses to pick calls. */
type Layer = (call: number, next: Call, args: readonly unknown[]) => Promise<unknown>;
type Call = (...args: unknown[]) => Promise<unknown>;

const CALLS: readonly EngineCall[] = [
  'append',
  'appendBatch',
  'appendBatchOnce',
  'head',
  'history',
  'subscribe',
  'claimIdempotency',
  'acquireConnectionSlot',
  'releaseConnectionSlot',
  'putTicket',
  'takeTicket',
  'requestCancel',
  'runSnapshot',
  'runSnapshots',
  'catchUp',
  'resolveApproval',
  'disconnectUser',
  'tokensRevokedBefore',
  'presence',
];

/**
 * The one configurable engine test double: a real engine underneath (a fresh MemoryEngine unless given
 * one) whose calls the test can count, intercept, fail or hold at an exact point, whose health it can
 * switch, and whose live events it can lose. Everything a test does not configure behaves exactly as
 * the real engine, so a test states only the fault it is about.
 *
 * - `fail(calls, error, { calls: [2, 3] })` rejects those calls (all of them, or the numbered ones);
 * - `hold(calls, gate())` makes them wait at a gate, before the engine is asked or, with `after`,
 *   with its answer in hand;
 * - `intercept(call, (next, ...args) => …)` replaces one method for anything else (paging, racing
 *   appends inside a history read, counting arguments);
 * - `setHealth(health)` reports another health and tells `onHealthChange` listeners, as an engine
 *   whose Redis goes and comes back does;
 * - `breakHealth(error)` makes `health()` itself throw (a bug in a dependency, not an outage);
 * - `lostLive` holds seqs of live events never handed to subscribers (a lost pub/sub message);
 * - `calls` counts each method's calls, `stored` records every event an append stored.
 *
 * Each of `fail`, `hold`, `intercept` and `breakHealth` returns a function that removes what it
 * installed; of several `fail`, `hold` and `intercept` on one call, the last installed runs first. Tests that need more may still subclass and override a method.
 */
export class DelegatingEngine implements Engine {
  readonly inner: Engine;
  /** How many times each method was called, failed and held calls included. */
  readonly calls: Record<EngineCall, number> = Object.fromEntries(CALLS.map((c) => [c, 0])) as Record<
    EngineCall,
    number
  >;
  /** Every event an append or appendBatch stored, with its user, in the order the answers came. */
  readonly stored: { readonly userId: string; readonly event: StoredEvent }[] = [];
  /** Seqs of live events that never reach this engine's subscribers. History still has them. */
  readonly lostLive = new Set<number>();
  readonly #layers = new Map<EngineCall, Layer[]>();
  readonly #healthListeners = new Set<(health: EngineHealth) => void>();
  #health: EngineHealth | undefined;
  #healthError: Error | undefined;

  constructor(inner: Engine = new MemoryEngine()) {
    this.inner = inner;
  }

  get kind(): string {
    return this.inner.kind;
  }

  /** Replaces `method` until the returned function is called. */
  intercept<M extends EngineCall>(method: M, interceptor: Interceptor<M>): () => void {
    const replace = interceptor as unknown as (next: Call, ...args: unknown[]) => Promise<unknown>;
    return this.#install([method], (_call, next, args) => replace(next, ...args));
  }

  /**
   * Rejects calls of `methods` with `failure`: every call, or only those whose 1-based number (counted
   * per method, from the engine's creation) is in `options.calls`.
   */
  fail(
    methods: EngineCall | readonly EngineCall[],
    failure: Failure,
    options: { readonly calls?: Iterable<number> } = {},
  ): () => void {
    const only = options.calls === undefined ? undefined : new Set(options.calls);
    return this.#install(typeof methods === 'string' ? [methods] : methods, (call, next, args) => {
      if (only !== undefined && !only.has(call)) return next(...args);
      return Promise.reject(typeof failure === 'function' ? failure(call) : failure);
    });
  }

  /**
   * Makes calls of `methods` call `hold.reached()` and wait for `hold.until`: before the engine is
   * asked, or with `after`, once its answer is in hand (a stale read answered late).
   */
  hold(
    methods: EngineCall | readonly EngineCall[],
    hold: Hold,
    options: { readonly after?: boolean } = {},
  ): () => void {
    return this.#install(typeof methods === 'string' ? [methods] : methods, async (_call, next, args) => {
      if (options.after === true) {
        const answer = await next(...args);
        hold.reached();
        await hold.until;
        return answer;
      }
      hold.reached();
      await hold.until;
      return next(...args);
    });
  }

  /**
   * Reports `health` from now on and tells every `onHealthChange` listener; `undefined` goes back to
   * the engine underneath.
   */
  setHealth(health: EngineHealth | undefined): void {
    this.#health = health;
    const now = this.health();
    for (const listener of [...this.#healthListeners]) listener(now);
  }

  /**
   * Makes `health()` throw `error` until the returned function is called: a bug in a dependency, not an
   * outage, so no `onHealthChange` listener is told.
   */
  breakHealth(error: Error): () => void {
    this.#healthError = error;
    return () => {
      if (this.#healthError === error) this.#healthError = undefined;
    };
  }

  /** Every event stored through this engine for `userId`, oldest first. */
  eventsOf(userId: string): StoredEvent[] {
    return this.stored.filter((s) => s.userId === userId).map((s) => s.event);
  }

  append(userId: string, event: NewEvent, fence?: RunFence): Promise<StoredEvent> {
    return this.#call('append', [userId, event, fence]).then((stored) => {
      this.stored.push({ userId, event: stored });
      return stored;
    });
  }
  appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    return this.#call('appendBatch', [items]).then((stored) => {
      stored.forEach((event, i) => {
        this.stored.push({ userId: items[i]?.userId ?? '', event });
      });
      return stored;
    });
  }
  appendBatchOnce(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
    key: PublishKey,
  ): Promise<KeyedAppend> {
    return this.#call('appendBatchOnce', [items, key]).then((answer) => {
      if (answer.outcome === 'stored') {
        answer.events.forEach((event, i) => {
          this.stored.push({ userId: items[i]?.userId ?? '', event });
        });
      }
      return answer;
    });
  }
  head(userId: string): Promise<LogHead> {
    return this.#call('head', [userId]);
  }
  history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    return this.#call('history', [userId, query]);
  }
  subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    return this.#call('subscribe', [
      userId,
      (event: StoredEvent, frame: string) => {
        if (!this.lostLive.has(event.seq)) listener(event, frame);
      },
    ]);
  }
  claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim> {
    return this.#call('claimIdempotency', [key, value, ttlMs]);
  }
  acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    return this.#call('acquireConnectionSlot', [userId, connectionId, limit]);
  }
  releaseConnectionSlot(userId: string, connectionId: string): Promise<void> {
    return this.#call('releaseConnectionSlot', [userId, connectionId]);
  }
  putTicket(key: string, value: string, ttlMs: number): Promise<void> {
    return this.#call('putTicket', [key, value, ttlMs]);
  }
  takeTicket(key: string): Promise<string | null> {
    return this.#call('takeTicket', [key]);
  }
  startRun(userId: string, start: RunStart): Promise<RunReservation> {
    return this.inner.startRun(userId, start);
  }
  promoteRun(userId: string, runId: string, node: string): Promise<Promotion> {
    return this.inner.promoteRun(userId, runId, node);
  }
  renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    return this.inner.renewRuns(node, runs, leaseMs);
  }
  endRun(userId: string, runId: string, node: string): Promise<boolean> {
    return this.inner.endRun(userId, runId, node);
  }
  runSnapshot(userId: string, runId: string): Promise<RunSnapshot | undefined> {
    return this.#call('runSnapshot', [userId, runId]);
  }
  runSnapshots(userId: string, query: SnapshotQuery): Promise<RunSnapshot[]> {
    return this.#call('runSnapshots', [userId, query]);
  }
  catchUp(userId: string, query: CatchUpQuery): Promise<CatchUp> {
    return this.#call('catchUp', [userId, query]);
  }
  resolveApproval(userId: string, approvalId: string, answer: ApprovalAnswer): Promise<ApprovalOutcome> {
    return this.#call('resolveApproval', [userId, approvalId, answer]);
  }
  pendingApprovals(userId: string): Promise<PendingApproval[]> {
    return this.inner.pendingApprovals(userId);
  }
  activeRuns(userId: string): Promise<ActiveRun[]> {
    return this.inner.activeRuns(userId);
  }
  requestCancel(userId: string, runId: string): Promise<CancelDelivery> {
    return this.#call('requestCancel', [userId, runId]);
  }
  onCancelRequest(node: string, listener: CancelListener): Promise<Unsubscribe> {
    return this.inner.onCancelRequest(node, listener);
  }
  disconnectUser(request: UserDisconnect, revocationTtlMs: number): Promise<void> {
    return this.#call('disconnectUser', [request, revocationTtlMs]);
  }
  onUserDisconnect(listener: DisconnectListener): Promise<Unsubscribe> {
    return this.inner.onUserDisconnect(listener);
  }
  tokensRevokedBefore(userId: string): Promise<number | undefined> {
    return this.#call('tokensRevokedBefore', [userId]);
  }
  putPresence(entries: readonly { readonly userId: string; readonly entry: PresenceEntry }[]): Promise<void> {
    return this.inner.putPresence(entries);
  }
  removePresence(userId: string, connectionId: string): Promise<void> {
    return this.inner.removePresence(userId, connectionId);
  }
  presence(userId: string): Promise<PresenceEntry[]> {
    return this.#call('presence', [userId]);
  }
  reapLapsedRuns(max: number, terminal: (runId: string) => NewEvent): Promise<ReapedRun[]> {
    return this.inner.reapLapsedRuns(max, terminal).then((reaped) => {
      for (const { userId, event } of reaped) this.stored.push({ userId, event });
      return reaped;
    });
  }
  health(): EngineHealth {
    if (this.#healthError !== undefined) throw this.#healthError;
    return this.#health ?? this.inner.health();
  }
  onHealthChange(listener: (health: EngineHealth) => void): () => void {
    this.#healthListeners.add(listener);
    const stopInner = this.inner.onHealthChange((health) => {
      if (this.#health === undefined) listener(health);
    });
    return () => {
      this.#healthListeners.delete(listener);
      stopInner();
    };
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  #install(methods: readonly EngineCall[], layer: Layer): () => void {
    for (const method of methods) this.#layers.set(method, [...(this.#layers.get(method) ?? []), layer]);
    return () => {
      for (const method of methods) {
        this.#layers.set(
          method,
          (this.#layers.get(method) ?? []).filter((l) => l !== layer),
        );
      }
    };
  }

  /** Counts the call, then runs it through the layers (the last installed first) to the engine underneath. */
  #call<M extends EngineCall>(method: M, args: Parameters<Engine[M]>): ReturnType<Engine[M]> {
    this.calls[method] += 1;
    const call = this.calls[method];
    const inner = this.inner;
    let next: Call = (...a) => (inner[method] as unknown as Call).apply(inner, a);
    for (const layer of this.#layers.get(method) ?? []) {
      const below = next;
      next = (...a) => {
        try {
          return layer(call, below, a);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    }
    return next(...args) as ReturnType<Engine[M]>;
  }
}
