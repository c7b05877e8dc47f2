import type { StoredEvent } from '../protocol/events.js';

/** Options for {@link HistoryRing}. */
export interface HistoryRingOptions {
  /** Most events kept (history size, PROTOCOL.md §4: default 1000). */
  readonly capacity: number;
  /** Events older than this are gone (PROTOCOL.md §4: default 300 s). */
  readonly ttlMs: number;
}

/**
 * The recent events of one user, oldest first, bounded by count and by age (PROTOCOL.md §4). A ring
 * buffer, not a growing array: a full ring overwrites its oldest event. The backing arrays grow lazily up
 * to `capacity` and are released when the ring empties, so an idle user costs a few fields.
 *
 * Events must be pushed in seq order with no gaps (the engine's job), which makes lookup by seq O(1).
 */
export class HistoryRing {
  readonly #capacity: number;
  readonly #ttlMs: number;
  /** Physical slots; `#events[i]` was stored at `#storedAt[i]` (ms). */
  #events: (StoredEvent | undefined)[] = [];
  #storedAt: number[] = [];
  /** Physical index of the oldest event. */
  #start = 0;
  #size = 0;

  constructor(options: HistoryRingOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new TypeError(`HistoryRing: capacity must be an integer >= 1, got ${options.capacity}`);
    }
    if (!(options.ttlMs > 0)) {
      throw new TypeError(`HistoryRing: ttlMs must be > 0, got ${options.ttlMs}`);
    }
    this.#capacity = options.capacity;
    this.#ttlMs = options.ttlMs;
  }

  /** Events held right now (expired ones included until the next `expire`). */
  get size(): number {
    return this.#size;
  }

  /** Seq of the oldest event held, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#events[this.#start]?.seq;
  }

  /** Stores the next event of the log; when full, the oldest one is evicted (bounded by count). */
  push(event: StoredEvent, nowMs: number): void {
    const index = (this.#start + this.#size) % this.#capacity;
    // While the arrays are shorter than capacity, start + size equals their length (events only leave
    // from the front), so index never skips a slot.
    this.#events[index] = event;
    this.#storedAt[index] = nowMs;
    if (this.#size < this.#capacity) {
      this.#size += 1;
    } else {
      this.#start = (this.#start + 1) % this.#capacity;
    }
  }

  /**
   * Drops events older than the ttl: an event stored at `t` is kept while `now - t <= ttlMs` (the same
   * boundary as Redis XADD MINID). Releases the arrays when nothing is left.
   */
  expire(nowMs: number): void {
    const oldestKept = nowMs - this.#ttlMs;
    while (this.#size > 0 && (this.#storedAt[this.#start] ?? 0) < oldestKept) {
      this.#events[this.#start] = undefined;
      this.#start = (this.#start + 1) % this.#capacity;
      this.#size -= 1;
    }
    if (this.#size === 0) {
      this.#events = [];
      this.#storedAt = [];
      this.#start = 0;
    }
  }

  /**
   * Events with seq > `since`, oldest first, at most `limit`; undefined when seq `since + 1` is no longer
   * held (expired or evicted), because then the gap cannot be filled (PROTOCOL.md §4). Call `expire`
   * first so age is honoured. An empty array means nothing after `since` is held yet.
   */
  after(since: number, limit: number): StoredEvent[] | undefined {
    const oldest = this.oldestSeq;
    if (oldest === undefined || oldest > since + 1) return undefined;
    const skip = since + 1 - oldest;
    const count = Math.max(0, Math.min(limit, this.#size - skip));
    const out: StoredEvent[] = new Array(count);
    for (let i = 0; i < count; i += 1) {
      out[i] = this.#events[(this.#start + skip + i) % this.#capacity] as StoredEvent;
    }
    return out;
  }
}
