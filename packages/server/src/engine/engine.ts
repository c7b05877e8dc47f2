import type { RunSnapshot } from '@agentcast/client';
import type {
  ApprovalAnswer,
  ApprovalDecision,
  JsonObject,
  NewEvent,
  StoredEvent,
} from '../protocol/events.js';
import type { CatchUpQuery, SnapshotQuery } from './run-snapshot.js';

/**
 * Called for every event stored for a subscribed user, in seq order. `frame` is the event's wire
 * form, built once per event (never per connection).
 */
export type EventListener = (event: StoredEvent, frame: string) => void;

/** Stops a subscription. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/** Where a user's log stands: its epoch and latest seq (0 before any event). */
export interface LogHead {
  readonly epoch: string;
  readonly seq: number;
}

/**
 * The answer to "events after `since`": either the events (oldest first; all of them when
 * `complete`), or a reset because the gap cannot be filled (docs/protocol.md §4).
 */
export type HistoryResult =
  | {
      readonly kind: 'ok';
      readonly head: LogHead;
      readonly events: readonly StoredEvent[];
      readonly complete: boolean;
    }
  | { readonly kind: 'reset'; readonly head: LogHead; readonly reason: ResetReason };

/** Why a resume cannot be served from history. */
export type ResetReason = 'epoch_changed' | 'expired' | 'ahead';

/** A request for the events of one user after `since`. */
export interface HistoryQuery {
  /** Last seq the client saw; events with seq > since are returned. */
  readonly since: number;
  /**
   * The epoch the client's `since` belongs to; when given and different, the answer is a reset. When left
   * out, `since` must be 0: a `since > 0` of an unnamed epoch is an unknown epoch (§4) and is answered
   * with reset `epoch_changed`, because seqs of different epochs are unrelated.
   */
  readonly epoch?: string | undefined;
  /** At most this many events (oldest first). */
  readonly limit: number;
}

/**
 * What a catch-up starts from (docs/protocol.md F): the user's head and the snapshots of its runs at that
 * head, read in one atomic step, so each snapshot holds exactly its run's events with seq <= head.seq.
 */
export interface CatchUp {
  readonly head: LogHead;
  /** Least recently active first. */
  readonly runs: readonly RunSnapshot[];
}

/**
 * The answer to {@link Engine.resolveApproval} (docs/protocol.md G): this answer resolved it (its one
 * `approval_resolved` was stored); the same answer came before (`duplicate`, same key); another answer won
 * first (`conflict`, with the decision that won); no such approval of this user (`unknown`).
 */
export type ApprovalOutcome =
  | { readonly kind: 'resolved'; readonly event: StoredEvent }
  | { readonly kind: 'duplicate' | 'conflict'; readonly decision: ApprovalDecision }
  | { readonly kind: 'unknown' };

/** A pending approval, as `GET /v1/approvals` lists it: its `approval_requested` data and its run. */
export interface PendingApproval {
  readonly runId: string;
  /** The `approval_requested` data: approval_id, tool_name, tool_args, message, expires_at. */
  readonly request: JsonObject;
}

/** Engine health as /readyz reports it. */
export type EngineHealth = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The outcome of claiming an idempotency key: `claimed`, or the value stored by the first claim. */
export type IdempotencyClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly value: string };

/**
 * The idempotency key of a publish (`Idempotency-Key` on `POST /v1/publish`, docs/protocol.md D). Its
 * record lives with the first event's user, so on Redis it is written in the same script as the append.
 */
export interface PublishKey {
  /** The key as the caller scopes it (the gateway prefixes the API key's digest); compared exactly. */
  readonly key: string;
  /** A digest of the request body: a repeat with another digest is a {@link KeyedAppend} `conflict`. */
  readonly fingerprint: string;
  /** How long the record is kept (`--publish-idempotency-ttl-s`). */
  readonly ttlMs: number;
}

/**
 * The answer to {@link Engine.appendBatchOnce}: `stored` (the first time: the events were appended, in
 * input order, and the record written with them), `repeat` (the key was used before with the same
 * fingerprint: nothing was stored; `results` are the first time's seq and epoch, in input order), or
 * `conflict` (used before with another fingerprint: nothing was stored).
 */
export type KeyedAppend =
  | { readonly outcome: 'stored'; readonly events: readonly StoredEvent[] }
  | { readonly outcome: 'repeat'; readonly results: readonly LogHead[] }
  | { readonly outcome: 'conflict' };

/** A run to register (docs/agents.md, "Runs across nodes"). */
export interface RunStart {
  readonly runId: string;
  /** The agent's name, for the run list. */
  readonly agent: string;
  /** The node that executes the run and renews its lease (`--server-id`). */
  readonly node: string;
  /** `--max-runs-per-user`: runs of the user whose lease has not lapsed, across every node. */
  readonly limit: number;
  /** How long the run counts without a renewal (`--run-lease-s`). */
  readonly leaseMs: number;
  /**
   * The idempotency key of the message that starts it. A start refused at the limit whose key is that of
   * one of the user's active runs is answered with that run (`duplicate`), as a retried message is.
   */
  readonly key?: string | undefined;
  /**
   * The run's thread and what to do when the thread already has a run (docs/protocol.md E, "A message
   * while a run is busy"). Without it the run starts beside any other, as before threads had a rule.
   */
  readonly thread?: ThreadTurn | undefined;
}

/** What a message does when its thread already has a run (`--busy-policy`, `user_message.data.on_busy`). */
export type BusyPolicy = 'reject' | 'enqueue' | 'interrupt';

/** The busy policies, in the order docs/protocol.md lists them. */
export const BUSY_POLICIES: readonly BusyPolicy[] = ['reject', 'enqueue', 'interrupt'];

/**
 * A run's place in its thread (docs/protocol.md E). A thread has at most one active run, decided in the
 * registry in the same atomic step as the registration; queued runs wait in it, first in first out.
 */
export interface ThreadTurn {
  readonly threadId: string;
  readonly policy: BusyPolicy;
  /** `--max-queued-runs-per-thread`: runs that may wait in the thread (enqueue, interrupt). */
  readonly maxQueued: number;
}

/**
 * The answer to {@link Engine.startRun}: reserved (`queued` when its thread is busy: it waits for
 * {@link Engine.promoteRun}); refused because the user holds `limit` runs; the active run (or a queued
 * one) already started by the same message (`start.key`); its thread is busy and the policy is `reject`
 * (`busy`, naming the thread's run); or its thread's queue is full (`queue_full`).
 */
export type RunReservation =
  | { readonly ok: true; readonly queued?: false }
  | { readonly ok: true; readonly queued: true; readonly behind: string }
  | { readonly ok: false; readonly reason: 'limit' | 'queue_full' }
  | { readonly ok: false; readonly reason: 'duplicate' | 'busy'; readonly runId: string };

/**
 * The answer to {@link Engine.promoteRun}: the run is now its thread's active run (`started`, also when it
 * already was); it must wait (`waiting`: its thread has an active run, or older queued runs); or it is
 * not a registered run of that node any more (`gone`: ended, reaped, lapsed).
 */
export type Promotion = 'started' | 'waiting' | 'gone';

/** Why a cancel was asked: by the user (`cancel`), or by a message that interrupts its thread's run. */
export type CancelReason = 'cancel' | 'interrupted';

/** One registered run whose lease has not lapsed. */
export interface ActiveRun {
  readonly runId: string;
  readonly agent: string;
  /** When the run was registered, ms since the epoch (the engine's clock: Redis time on Redis). */
  readonly startedAt: number;
  /** The owner node. */
  readonly node: string;
  /** Its thread, when it was started with one (docs/protocol.md E). */
  readonly threadId?: string;
  /** It waits for its thread's turn (docs/protocol.md E). */
  readonly queued?: true;
}

/** One run whose lease its owner renews. */
export interface RunRef {
  readonly userId: string;
  readonly runId: string;
}

/**
 * Where a run stood in the registry when {@link Engine.requestCancel} asked for it, and so what became of
 * the request (docs/agents.md, "Runs across nodes"):
 * - `active`: the user's run, its lease running; the request was sent to its owner `node`;
 * - `lapsed`: the user's run, but its owner stopped renewing (killed, frozen, cut off); the request was
 *   sent to `node` all the same (a frozen owner gets it when it wakes), and a reaper ends the run;
 * - `ended`: the user's run has ended (the registry keeps that for a while); nothing was sent;
 * - `unknown`: no such run of this user (another user's run looks the same); nothing was sent.
 */
export type CancelDelivery =
  | { readonly state: 'active' | 'lapsed'; readonly node: string }
  | { readonly state: 'ended' | 'unknown' };

/**
 * Told of a cancel another node (or this one) asked for a run of `node` (Engine.onCancelRequest):
 * `reason` `interrupted` when a message of the run's thread interrupts it (docs/protocol.md E).
 */
export type CancelListener = (userId: string, runId: string, reason: CancelReason) => void;

/**
 * The fence of an append of a run's own event by the runtime of its owner node (docs/agents.md, "Runs
 * across nodes"): the event is stored only while the run (its `run_id`) is registered and owned by
 * `node`, checked in the same atomic step as the append. Otherwise the append rejects with
 * AC_ERR_RUN_FENCED and stores nothing.
 */
export interface RunFence {
  /** The node that owns the run (`--server-id`). */
  readonly node: string;
  /** The run's terminal `agent_completed`: its registration ends in the same atomic step. */
  readonly ends?: boolean;
  /**
   * The epoch the run's first event was stored in. When the run is not registered and the user's log is
   * no longer of that epoch, the store lost the user's data, registry included (docs/protocol.md §4): the
   * append passes, unregistered, so the run can still end in the new epoch. A run ended or reaped in the
   * same epoch stays fenced.
   */
  readonly epoch?: string | undefined;
}

/** A run whose owner's lease lapsed, ended by {@link Engine.reapLapsedRuns} with the terminal given. */
export interface ReapedRun {
  readonly userId: string;
  readonly runId: string;
  readonly agent: string;
  /** The owner node that stopped renewing. */
  readonly node: string;
  /** The terminal event stored for it. */
  readonly event: StoredEvent;
}

/**
 * A request to close every connection of a user on every node sharing the engine
 * (`POST /v1/users/:user_id/disconnect`, docs/protocol.md D, "Disconnecting a user").
 */
export interface UserDisconnect {
  readonly userId: string;
  /** The close reason the connections get, when the backend gave one (else `disconnected by the server`). */
  readonly reason?: string | undefined;
  /** From now on, tokens of the user issued (`iat`) before this time, in unix seconds, are refused. */
  readonly revokeBefore?: number | undefined;
}

/** Told of every {@link UserDisconnect} asked on any node (Engine.onUserDisconnect). */
export type DisconnectListener = (request: UserDisconnect) => void;

/**
 * One connection of a user as GET /v1/users/:user_id/presence shows it (docs/protocol.md D, "Presence"):
 * where it is, since when, and how far the user's stream got on it.
 */
export interface PresenceEntry {
  readonly connectionId: string;
  /** The node that holds it (`--server-id`). */
  readonly serverId: string;
  /** `websocket` (SSE streams will be `sse`). */
  readonly transport: string;
  /** When it was welcomed, ms since the epoch. */
  readonly connectedAt: number;
  /** The last seq the gateway wrote to it, as of its last report. */
  readonly deliveredSeq: number;
  /** The last seq its client reported handed to the application (`seen` frames), as of its last report. */
  readonly seenSeq: number;
}

/**
 * Storage and fan-out of per-user event logs (docs/architecture.md, "Engines"). Implementations:
 * `MemoryEngine` for one process, `RedisEngine` for many. Seq is assigned atomically per user and is gap-free
 * within an epoch.
 */
export interface Engine {
  /** `memory` or `redis`, for logs and /v1/stats. */
  readonly kind: string;
  /**
   * Bytes of history held in this process (`agentcast_history_bytes`); left out by engines whose
   * histories live elsewhere (Redis).
   */
  readonly historyBytes?: number;
  /** Users whose pub/sub channel this node subscribes to (`agentcast_redis_subscriptions`); Redis only. */
  readonly subscribedUserCount?: number;
  /**
   * Stores one event for a user and fans it out to the user's subscribers on every node. With a `fence`
   * (the runtime's appends of a run's events; `event.run_id` is required then) the event is stored only
   * while its run is registered and owned by `fence.node`, else this rejects with AC_ERR_RUN_FENCED.
   */
  append(userId: string, event: NewEvent, fence?: RunFence): Promise<StoredEvent>;
  /** Stores many events (in order per user), e.g. one publish batch. Results are in input order. */
  appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]>;
  /**
   * {@link appendBatch} at most once per `key.key` and first event's user within `key.ttlMs`: checking the
   * record, appending and writing the record are one atomic step (one Lua script on Redis), so a repeat
   * that arrives while the first is being stored is answered only after it, and a crash after the append
   * leaves the record with it. `items` must not be empty.
   */
  appendBatchOnce(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
    key: PublishKey,
  ): Promise<KeyedAppend>;
  /** The user's current epoch and latest seq. */
  head(userId: string): Promise<LogHead>;
  /** Events of a user after `since`, or a reset (docs/protocol.md §4). */
  history(userId: string, query: HistoryQuery): Promise<HistoryResult>;
  /**
   * Delivers every event appended for `userId` after this resolves, in seq order. §4: callers subscribe
   * before reading history, or events published in between are lost.
   */
  subscribe(userId: string, listener: EventListener): Promise<Unsubscribe>;
  /**
   * Claims `key` for `ttlMs`, storing `value`. If already claimed and not expired, returns the stored
   * value instead (idempotent user_message, docs/protocol.md §6).
   */
  claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim>;
  /**
   * Takes one of a user's connection slots (max_connections_per_user, across nodes). Returns false when
   * the user already holds `limit`. `connectionId` makes release exact.
   */
  acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean>;
  /** Gives a slot back. Idempotent. */
  releaseConnectionSlot(userId: string, connectionId: string): Promise<void>;
  /**
   * Stores a stream ticket (docs/protocol.md H) under `key` for `ttlMs`, holding `value`. Tickets are
   * single-use on every node sharing the engine: see {@link takeTicket}.
   */
  putTicket(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Takes the ticket stored under `key`: its value, once; null when it is unknown, expired or already
   * taken. Atomic across nodes: of concurrent takes of one ticket, exactly one gets the value.
   */
  takeTicket(key: string): Promise<string | null>;
  /**
   * Registers a run of `userId` owned by `start.node`, atomically against `start.limit` runs of the user
   * across every node sharing the engine: two starts at once never both take the last place. A run counts
   * until {@link endRun} or until its lease lapses unrenewed (a crashed owner). Registering a run id
   * that is already active renews it.
   *
   * With `start.thread`, the same step decides the run's turn in its thread (docs/protocol.md E): a
   * thread's active run is its registered run that is not queued (its lease lapsed or not: a run of a
   * dead node holds its thread until a reaper ends it, so the next run starts after its terminal);
   * queued runs whose lease lapsed are skipped. When the thread has an active or queued run: `reject`
   * refuses (`busy`); `enqueue` registers the run queued at the tail; `interrupt` registers it queued at
   * the head and sends a cancel with reason `interrupted` to the active run's owner, as
   * {@link requestCancel} does. Queued runs count against `limit` like any registered run.
   */
  startRun(userId: string, start: RunStart): Promise<RunReservation>;
  /**
   * Makes a queued run of `node` its thread's active run when its turn has come: no other active run in
   * its thread and no queued run ahead of it whose lease has not lapsed. Atomic with the registry, so two
   * queued runs never both start. The owner calls it when an `agent_completed` of the user arrives, and
   * on its lease timer (a missed event cannot stall a queue).
   */
  promoteRun(userId: string, runId: string, node: string): Promise<Promotion>;
  /**
   * Renews for `leaseMs` the leases of runs `node` owns. Returns the ids of the runs that were not renewed:
   * ended, unknown, or owned by another node.
   */
  renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]>;
  /**
   * Ends a run owned by `node`: it stops counting against the limit and leaves the active list, and an
   * ended marker is kept for a while (so a late renew or end sees it ended). True when this call ended it;
   * false for a run already ended, unknown, or owned by another node (idempotent).
   */
  endRun(userId: string, runId: string, node: string): Promise<boolean>;
  /** The user's runs whose lease has not lapsed, oldest first. */
  activeRuns(userId: string): Promise<ActiveRun[]>;
  /**
   * Asks the owner of the user's run `runId` to cancel it: looks the run up in the registry and, when it
   * is registered for this user, sends the request on the owner node's control channel, in one step
   * (one Lua script on Redis), so the node named is the owner the registry held at that moment. Says
   * what it found ({@link CancelDelivery}). Delivery is at most once: a node whose control channel is
   * down when the request is sent does not get it.
   */
  requestCancel(userId: string, runId: string): Promise<CancelDelivery>;
  /**
   * Calls `listener` for every cancel request sent to `node` ({@link requestCancel} on any node sharing
   * the engine) until the returned function is called. The listener is added at once and kept across
   * outages: on Redis one channel subscription per node, subscribed again after every reconnect (the
   * engine reports healthy only once it is). Resolves once requests sent from then on reach it (on Redis:
   * the subscription is confirmed, after the outage if Redis is unreachable now).
   */
  onCancelRequest(node: string, listener: CancelListener): Promise<Unsubscribe>;
  /**
   * Ends up to about `max` runs whose lease lapsed (their owner stopped renewing: killed, frozen, cut off),
   * across every user, by storing `terminal(runId)` for each: the append is conditional and atomic with
   * ending the run, so each run gets exactly one terminal, however many nodes reap at once and even when
   * its owner ends it at the same moment. Returns the runs this call ended. An approval of the run still
   * pending is resolved `cancelled` (`by: run`) just before the terminal, in the same atomic step and by the
   * same first-answer-wins rule as {@link resolveApproval}, so it gets exactly one `approval_resolved`
   * (docs/protocol.md G).
   */
  reapLapsedRuns(max: number, terminal: (runId: string) => NewEvent): Promise<ReapedRun[]>;
  /**
   * A run's snapshot (docs/protocol.md F): every event of the run stored so far, folded in the same atomic
   * step as each append. Undefined for an unknown run, another user's, or one whose snapshot expired.
   */
  runSnapshot(userId: string, runId: string): Promise<RunSnapshot | undefined>;
  /** The user's run snapshots that match `query`, most recently active first. */
  runSnapshots(userId: string, query: SnapshotQuery): Promise<RunSnapshot[]>;
  /**
   * The user's head and, at that same head, the snapshots a catch-up sends: every active run, and with a
   * `since` of the head's epoch every run with an event after it (docs/protocol.md F).
   */
  catchUp(userId: string, query: CatchUpQuery): Promise<CatchUp>;
  /**
   * Resolves a pending approval of the user (docs/protocol.md G) with `answer`: stores its one
   * `approval_resolved` in the same atomic step as settling it, so the first answer wins across tabs, nodes
   * and retries, and exactly one `approval_resolved` is stored per approval. An approval is registered
   * pending when its `approval_requested` is appended (by its run's owner, with the run fence).
   */
  resolveApproval(userId: string, approvalId: string, answer: ApprovalAnswer): Promise<ApprovalOutcome>;
  /** The user's approvals still pending and not past their `expires_at`, oldest first. */
  pendingApprovals(userId: string): Promise<PendingApproval[]>;
  /**
   * Stores the revocation of `request.revokeBefore` (when given) for `revocationTtlMs`, then tells every
   * node's {@link onUserDisconnect} listeners, in that order, so a connection that joins meanwhile either
   * sees the revocation or is told to close. A revocation never moves back: a smaller `revokeBefore` than
   * the one stored keeps the stored one (and renews its time to live). Delivery to the nodes is at most
   * once, as pub/sub is: a node whose control channel is down at that moment does not close its
   * connections, but the revocation still refuses their tokens on the next connect or refresh.
   */
  disconnectUser(request: UserDisconnect, revocationTtlMs: number): Promise<void>;
  /**
   * Calls `listener` for every {@link disconnectUser} on any node sharing the engine until the returned
   * function is called. On Redis one broadcast channel subscription, subscribed again after every
   * reconnect; resolves once it is subscribed.
   */
  onUserDisconnect(listener: DisconnectListener): Promise<Unsubscribe>;
  /** The user's stored revocation (unix seconds: tokens with `iat` before it are refused), if any. */
  tokensRevokedBefore(userId: string): Promise<number | undefined>;
  /**
   * Writes the presence records of connections this node holds (one round trip for the batch on Redis).
   * A record counts while its connection holds its slot ({@link acquireConnectionSlot}): the records of a
   * crashed node vanish with its slot leases.
   */
  putPresence(entries: readonly { readonly userId: string; readonly entry: PresenceEntry }[]): Promise<void>;
  /** Removes a connection's record. Never throws: removing is cleanup, and the slot lease bounds it anyway. */
  removePresence(userId: string, connectionId: string): Promise<void>;
  /** The user's connections on every node, as last written, oldest first. */
  presence(userId: string): Promise<PresenceEntry[]>;
  /** Current health, without I/O. */
  health(): EngineHealth;
  /** Called whenever health changes (e.g. Redis down, then back). Returns a function that stops it. */
  onHealthChange(listener: (health: EngineHealth) => void): () => void;
  /** Releases every resource. Idempotent. */
  close(): Promise<void>;
}
