/** What {@link HistoryBudget} needs of one user's history (a `UserLog`). */
export interface BudgetedHistory {
  /** Bytes of the events held. */
  readonly historyBytes: number;
  /** Append order ({@link HistoryBudget.nextOrder}) of the oldest event held; undefined when none. */
  readonly oldestOrder: number | undefined;
  /** Drops the oldest event held and returns its bytes. */
  evictOldest(): number;
}

/**
 * One byte budget for the histories of every user in a process (`--history-memory-bytes`, memory engine
 * only). Whenever the total is over, the oldest events go first across all users, by append order:
 * whoever filled the memory last keeps their newest events, and a quiet user's old events go before a
 * busy user's recent ones. An evicted event is gone exactly as if trimmed by count: a resume that needs
 * it is answered `reset` (`expired`, docs/protocol.md §4).
 *
 * A binary min-heap holds one entry per history, keyed by the append order of its oldest event when the
 * entry was made. Histories also lose events on their own (count, per-user bytes, age), so a key may be
 * stale, but only ever too small (a history's oldest order only grows): the entry at the top is
 * re-keyed when stale, and evicted from when exact, which is then the oldest event of all. Each append
 * costs O(1) while under the budget and O(log users) amortised when over it; nothing scans all users.
 */
export class HistoryBudget<H extends BudgetedHistory> {
  readonly maxBytes: number;
  #heldBytes = 0;
  #order = 0;
  /** The heap: `#histories[i]` keyed by `#keys[i]`; children of i at 2i+1, 2i+2. */
  #histories: H[] = [];
  #keys: number[] = [];
  /** Histories with a heap entry, so none gets two. */
  #queued = new Set<H>();

  constructor(maxBytes: number) {
    if (!(maxBytes > 0)) throw new TypeError(`HistoryBudget: maxBytes must be > 0, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Bytes of every history counted right now (the `agentcast_history_bytes` gauge). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Heap entries (at most one per history); for tests of the bound. */
  get queued(): number {
    return this.#histories.length;
  }

  /** The append order of the next event stored in any history. */
  nextOrder(): number {
    this.#order += 1;
    return this.#order;
  }

  /**
   * `history`'s bytes changed by `delta` (an append, its own trimming, expiry, or it was emptied because
   * its user was dropped). Queues it when it holds events, then evicts oldest first while over budget.
   */
  changed(history: H, delta: number): void {
    this.#heldBytes += delta;
    if (!this.#queued.has(history)) {
      const oldest = history.oldestOrder;
      if (oldest !== undefined) this.#push(history, oldest);
    }
    if (this.#heldBytes > this.maxBytes) this.#evict();
  }

  /**
   * Rebuilds the heap from `histories` (every history still held), so entries of dropped or emptied
   * histories do not pile up; the engine's sweep calls it. O(n).
   */
  rebuild(histories: Iterable<H>): void {
    this.#histories = [];
    this.#keys = [];
    this.#queued.clear();
    for (const history of histories) {
      const oldest = history.oldestOrder;
      if (oldest === undefined) continue;
      this.#histories.push(history);
      this.#keys.push(oldest);
      this.#queued.add(history);
    }
    for (let i = (this.#histories.length >> 1) - 1; i >= 0; i -= 1) this.#siftDown(i);
  }

  /** Forgets every history (the engine closed). */
  clear(): void {
    this.rebuild([]);
    this.#heldBytes = 0;
  }

  #evict(): void {
    while (this.#heldBytes > this.maxBytes && this.#histories.length > 0) {
      const history = this.#histories[0] as H;
      const oldest = history.oldestOrder;
      if (oldest === undefined) {
        this.#popTop();
      } else if (oldest !== this.#keys[0]) {
        // Stale: the history lost events on its own since this entry was made.
        this.#rekeyTop(oldest);
      } else {
        this.#heldBytes -= history.evictOldest();
        const next = history.oldestOrder;
        if (next === undefined) this.#popTop();
        else this.#rekeyTop(next);
      }
    }
  }

  #push(history: H, key: number): void {
    this.#queued.add(history);
    let i = this.#histories.length;
    this.#histories.push(history);
    this.#keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.#keys[parent] as number) <= key) break;
      this.#histories[i] = this.#histories[parent] as H;
      this.#keys[i] = this.#keys[parent] as number;
      i = parent;
    }
    this.#histories[i] = history;
    this.#keys[i] = key;
  }

  #popTop(): void {
    const top = this.#histories[0] as H;
    this.#queued.delete(top);
    const lastHistory = this.#histories.pop() as H;
    const lastKey = this.#keys.pop() as number;
    if (this.#histories.length === 0) return;
    this.#histories[0] = lastHistory;
    this.#keys[0] = lastKey;
    this.#siftDown(0);
  }

  #rekeyTop(key: number): void {
    this.#keys[0] = key;
    this.#siftDown(0);
  }

  #siftDown(start: number): void {
    const histories = this.#histories;
    const keys = this.#keys;
    const n = histories.length;
    const history = histories[start] as H;
    const key = keys[start] as number;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (keys[right] as number) < (keys[child] as number)) child = right;
      if ((keys[child] as number) >= key) break;
      histories[i] = histories[child] as H;
      keys[i] = keys[child] as number;
      i = child;
    }
    histories[i] = history;
    keys[i] = key;
  }
}
