import type { NewEvent, StoredEvent } from '../protocol/events.js';

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

/** Engine health as /readyz reports it. */
export type EngineHealth = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The outcome of claiming an idempotency key: `claimed`, or the value stored by the first claim. */
export type IdempotencyClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly value: string };

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
  /** Stores one event for a user and fans it out to the user's subscribers on every node. */
  append(userId: string, event: NewEvent): Promise<StoredEvent>;
  /** Stores many events (in order per user), e.g. one publish batch. Results are in input order. */
  appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]>;
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
  /** Current health, without I/O. */
  health(): EngineHealth;
  /** Called whenever health changes (e.g. Redis down, then back). Returns a function that stops it. */
  onHealthChange(listener: (health: EngineHealth) => void): () => void;
  /** Releases every resource. Idempotent. */
  close(): Promise<void>;
}
