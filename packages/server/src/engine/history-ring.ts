import type { StoredEvent } from '../protocol/events.js';

/** Options for {@link HistoryRing}. */
export interface HistoryRingOptions {
  /** Most events kept (history size, docs/protocol.md §4: default 1000). */
  readonly capacity: number;
  /** Events older than this are gone (docs/protocol.md §4: default 300 s). */
  readonly ttlMs: number;
  /**
   * Most bytes kept (`--history-max-bytes`): the oldest events go while the total is over it, but the
   * newest event always stays, however large (it was accepted). Default: no byte bound.
   */
  readonly maxBytes?: number;
}

/**
 * The recent events of one user, oldest first, bounded by count, by age and by bytes (docs/protocol.md §4,
 * part two C). A ring buffer, not a growing array: a full ring overwrites its oldest event. The backing
 * arrays grow lazily up to `capacity` and are released when the ring empties, so an idle user costs a
 * few fields.
 *
 * Events must be pushed in seq order with no gaps (the engine's job), which makes lookup by seq O(1).
 * Each event carries its size in bytes (its wire frame, user-log.ts) and its append order across all
 * users (the memory engine's global budget evicts the lowest order first).
 */
export class HistoryRing {
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  /** Physical slots; `#events[i]` was stored at `#storedAt[i]` (ms), is `#bytes[i]` long, order `#order[i]`. */
  #events: (StoredEvent | undefined)[] = [];
  #storedAt: number[] = [];
  #bytes: number[] = [];
  #order: number[] = [];
  /** Physical index of the oldest event. */
  #start = 0;
  #size = 0;
  #heldBytes = 0;

  constructor(options: HistoryRingOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new TypeError(`HistoryRing: capacity must be an integer >= 1, got ${options.capacity}`);
    }
    if (!(options.ttlMs > 0)) {
      throw new TypeError(`HistoryRing: ttlMs must be > 0, got ${options.ttlMs}`);
    }
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (!(maxBytes > 0)) {
      throw new TypeError(`HistoryRing: maxBytes must be > 0, got ${maxBytes}`);
    }
    this.#capacity = options.capacity;
    this.#ttlMs = options.ttlMs;
    this.#maxBytes = maxBytes;
  }

  /** Events held right now (expired ones included until the next `expire`). */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the events held right now. */
  get bytes(): number {
    return this.#heldBytes;
  }

  /** Seq of the oldest event held, or undefined when empty. */
  get oldestSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#events[this.#start]?.seq;
  }

  /** Append order of the oldest event held, or undefined when empty. */
  get oldestOrder(): number | undefined {
    return this.#size === 0 ? undefined : this.#order[this.#start];
  }

  /**
   * Stores the next event of the log, `bytes` long, `order`-th across all users. When full, the oldest
   * event is overwritten (bounded by count); then the oldest go while the bytes are over maxBytes, never
   * the one just pushed.
   */
  push(event: StoredEvent, nowMs: number, bytes: number, order: number): void {
    const index = (this.#start + this.#size) % this.#capacity;
    // While the arrays are shorter than capacity, start + size equals their length (events only leave
    // from the front), so index never skips a slot.
    if (this.#size === this.#capacity) {
      this.#heldBytes -= this.#bytes[index] ?? 0;
      this.#start = (this.#start + 1) % this.#capacity;
    } else {
      this.#size += 1;
    }
    this.#events[index] = event;
    this.#storedAt[index] = nowMs;
    this.#bytes[index] = bytes;
    this.#order[index] = order;
    this.#heldBytes += bytes;
    while (this.#heldBytes > this.#maxBytes && this.#size > 1) this.#dropOldest();
  }

  /**
   * Drops events older than the ttl: an event stored at `t` is kept while `now - t <= ttlMs` (the same
   * boundary as Redis XADD MINID). Releases the arrays when nothing is left.
   */
  expire(nowMs: number): void {
    const oldestKept = nowMs - this.#ttlMs;
    while (this.#size > 0 && (this.#storedAt[this.#start] ?? 0) < oldestKept) this.#dropOldest();
    if (this.#size === 0) this.#release();
  }

  /** Drops the oldest event (for the memory engine's global budget); returns its bytes, 0 when empty. */
  evictOldest(): number {
    if (this.#size === 0) return 0;
    const bytes = this.#dropOldest();
    if (this.#size === 0) this.#release();
    return bytes;
  }

  /** Drops every event; returns the bytes freed. */
  clear(): number {
    const bytes = this.#heldBytes;
    this.#size = 0;
    this.#release();
    return bytes;
  }

  /**
   * Events with seq > `since`, oldest first, at most `limit`; undefined when seq `since + 1` is no longer
   * held (expired or evicted), because then the gap cannot be filled (docs/protocol.md §4). Call `expire`
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

  /** Removes the oldest event (size > 0) and returns its bytes; its slot no longer references it. */
  #dropOldest(): number {
    const start = this.#start;
    const bytes = this.#bytes[start] ?? 0;
    this.#events[start] = undefined;
    this.#heldBytes -= bytes;
    this.#start = (start + 1) % this.#capacity;
    this.#size -= 1;
    return bytes;
  }

  /** Empty: gives the arrays back, so an idle user costs a few fields. */
  #release(): void {
    this.#events = [];
    this.#storedAt = [];
    this.#bytes = [];
    this.#order = [];
    this.#start = 0;
    this.#heldBytes = 0;
  }
}
