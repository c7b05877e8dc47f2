import type { Logger } from '../observability/logger.js';
import { encodeEvent, type NewEvent, type StoredEvent } from '../protocol/events.js';
import type { EventListener, HistoryQuery, HistoryResult, LogHead } from './engine.js';
import { HistoryRing } from './history-ring.js';

/** Options for {@link UserLog}. */
export interface UserLogOptions {
  readonly userId: string;
  readonly epoch: string;
  readonly historySize: number;
  readonly historyTtlMs: number;
  /** Bytes of wire frames kept (`--history-max-bytes`); default: no byte bound. */
  readonly historyMaxBytes?: number;
  /** Where a throwing listener is reported. */
  readonly logger: Logger;
}

/** An event appended by a listener during a delivery, with its frame, delivered after it. */
interface PendingDelivery {
  readonly event: StoredEvent;
  readonly frame: string;
}

/** One subscription; `active` turns false on unsubscribe so a delivery loop in progress skips it. */
interface Subscription {
  readonly listener: EventListener;
  active: boolean;
}

/**
 * One user's log inside one process: epoch, gap-free seq, bounded history and local subscribers
 * (docs/protocol.md §3, §4). No I/O and no timers; time comes in as arguments.
 */
export class UserLog {
  /** §4: one epoch per lifetime of this log; a new UserLog (process restart, eviction) is a new epoch. */
  readonly epoch: string;
  readonly #userId: string;
  readonly #ring: HistoryRing;
  readonly #logger: Logger;
  #seq = 0;
  /** Time of the last append, or of creation; drives eviction of idle logs. */
  #touchedAt: number;
  /** Copy-on-write: a delivery loop keeps iterating the array it started with. */
  #subscriptions: readonly Subscription[] = [];
  /** Events appended by a listener while a delivery is running, delivered after it (keeps seq order). */
  #pending: PendingDelivery[] | undefined;

  constructor(options: UserLogOptions, nowMs: number) {
    this.epoch = options.epoch;
    this.#userId = options.userId;
    this.#logger = options.logger;
    this.#ring = new HistoryRing({
      capacity: options.historySize,
      ttlMs: options.historyTtlMs,
      ...(options.historyMaxBytes === undefined ? {} : { maxBytes: options.historyMaxBytes }),
    });
    this.#touchedAt = nowMs;
  }

  /** Where the log stands. */
  get head(): LogHead {
    return { epoch: this.epoch, seq: this.#seq };
  }

  /** Local subscriber count; a log with subscribers is never evicted. */
  get subscriberCount(): number {
    return this.#subscriptions.length;
  }

  /** When the log last changed (append or creation). */
  get touchedAt(): number {
    return this.#touchedAt;
  }

  /** Bytes of the events held: the UTF-8 length of their wire frames. */
  get historyBytes(): number {
    return this.#ring.bytes;
  }

  /** Append order (the `order` given to `append`) of the oldest event held; undefined when none. */
  get oldestOrder(): number | undefined {
    return this.#ring.oldestOrder;
  }

  /** Drops the oldest event held (the memory engine's global budget); returns its bytes. */
  evictOldest(): number {
    return this.#ring.evictOldest();
  }

  /** Drops every event held (the log is being dropped); returns the bytes freed. Head and epoch stay. */
  clearHistory(): number {
    return this.#ring.clear();
  }

  /**
   * Stores `event` with the next seq and delivers it. §3: seq is taken and incremented in one synchronous
   * step, so concurrent appends can neither repeat nor skip a seq. `order` is the event's append order
   * across every user of the engine (its global budget evicts the lowest first).
   */
  append(
    event: NewEvent,
    nowMs: number,
    ts: string = new Date(nowMs).toISOString(),
    order = 0,
    onStored?: (userId: string, stored: StoredEvent, nowMs: number) => void,
  ): StoredEvent {
    this.#seq += 1;
    // One object shape for every stored event (run_id present, possibly undefined): no temporary
    // spread object per event, and monomorphic property access downstream.
    const stored: StoredEvent = {
      type: event.type,
      run_id: event.run_id,
      data: event.data,
      seq: this.#seq,
      epoch: this.epoch,
      ts,
      meta: event.meta,
    };
    // Built once per event (docs/architecture.md, "Hot path"): it sizes the event for the byte budgets and is
    // the frame every connection of the user is sent.
    let frame: string;
    try {
      frame = encodeEvent(stored);
    } catch (error) {
      // Validation before the engine keeps such events out (docs/protocol.md B). Should one get here, the
      // seq is given back and nothing is stored: a taken seq without its event would be a gap forever.
      this.#seq -= 1;
      throw error;
    }
    this.#ring.push(stored, nowMs, Buffer.byteLength(frame), order);
    this.#touchedAt = nowMs;
    // Before delivery, in the same synchronous step: whatever is stored with the event (its run's
    // snapshot, docs/protocol.md F) is never behind what a subscriber was sent.
    onStored?.(this.#userId, stored, nowMs);
    this.#deliver(stored, frame);
    return stored;
  }

  /** Adds a listener for events appended from now on. The returned function is idempotent. */
  subscribe(listener: EventListener): () => void {
    const subscription: Subscription = { listener, active: true };
    // concat, not a spread: a spread array reserves 17 slots, 136 bytes more than one subscriber needs.
    this.#subscriptions = this.#subscriptions.concat([subscription]);
    return () => {
      if (!subscription.active) return;
      subscription.active = false;
      this.#subscriptions = this.#subscriptions.filter((s) => s !== subscription);
    };
  }

  /**
   * Events after `query.since`, or a reset (docs/protocol.md §4). Checked in this order:
   * 1. an epoch is given and differs: `epoch_changed`;
   * 2. no epoch but `since > 0`: the client's position belongs to an epoch it did not name, and seq
   *    numbers of different epochs are unrelated; serving them could hand it a silent gap, so §4's
   *    "unknown epoch" applies: `epoch_changed`. (`since = 0` needs no epoch: it means "everything".)
   * 3. `since` beyond the latest seq: `ahead`;
   * 4. `since` equal to the latest seq: ok, nothing to send;
   * 5. seq `since + 1` no longer held (aged out or evicted by count): `expired`.
   */
  history(query: HistoryQuery, nowMs: number): HistoryResult {
    const head = this.head;
    if (query.epoch === undefined ? query.since > 0 : query.epoch !== this.epoch) {
      return { kind: 'reset', head, reason: 'epoch_changed' };
    }
    if (query.since > head.seq) return { kind: 'reset', head, reason: 'ahead' };
    if (query.since === head.seq) return { kind: 'ok', head, events: [], complete: true };
    this.#ring.expire(nowMs);
    const events = this.#ring.after(query.since, query.limit);
    if (events === undefined) return { kind: 'reset', head, reason: 'expired' };
    return { kind: 'ok', head, events, complete: query.since + events.length === head.seq };
  }

  /** Frees events past their age; the sweep calls it so idle rings do not hold memory. */
  expire(nowMs: number): void {
    this.#ring.expire(nowMs);
  }

  #deliver(event: StoredEvent, frame: string): void {
    if (this.#subscriptions.length === 0) return;
    if (this.#pending !== undefined) {
      // A listener appended to this same user from inside a delivery: deliver it after the current event
      // reached every listener, or later listeners would see seq N+1 before N (§3).
      this.#pending.push({ event, frame });
      return;
    }
    const pending: PendingDelivery[] = [];
    this.#pending = pending;
    try {
      this.#fanOut(event, frame);
      for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
        this.#fanOut(next.event, next.frame);
      }
    } finally {
      // Whatever escaped (only a throwing logger can), the next append must deliver again: a delivery
      // left marked as running would queue every later event of this user forever.
      this.#pending = undefined;
    }
  }

  /** `frame` is built once per event (in append), shared by every connection of the user. */
  #fanOut(event: StoredEvent, frame: string): void {
    for (const subscription of this.#subscriptions) {
      if (!subscription.active) continue;
      try {
        subscription.listener(event, frame);
      } catch (error) {
        // A listener is gateway code; its bug must not cost other connections their events nor fail the
        // append, whose event is already stored. Reported once here, where it is handled.
        this.#logger.error({ err: error, user_id: this.#userId, seq: event.seq }, 'event listener threw');
      }
    }
  }
}
