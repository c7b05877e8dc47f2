import type { AgentEvent, StreamPosition } from '../client-like.js';

/** The answer to "what came after (epoch, seq)?" from a {@link EventHistory}. */
export interface HistorySlice {
  /** Events after the asked position, in delivery order (later epochs included). */
  readonly events: readonly AgentEvent[];
  /** True when `events` starts right after the asked position, or there is nothing newer to give. */
  readonly complete: boolean;
}

/**
 * The last `capacity` events one tab delivered, in delivery order. Every tab keeps one, so whichever tab
 * leads can fill a follower's gap without asking the server.
 */
export class EventHistory {
  readonly #capacity: number;
  #events: AgentEvent[] = [];

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  get capacity(): number {
    return this.#capacity;
  }

  get size(): number {
    return Math.min(this.#events.length, this.#capacity);
  }

  push(event: AgentEvent): void {
    this.#events.push(event);
    // Trim in batches so a full buffer does not copy itself on every event.
    if (this.#events.length >= this.#capacity * 2) this.#events = this.#events.slice(-this.#capacity);
  }

  /**
   * What came after `after`, given that this tab is now at `position`. Incomplete (then `events` is all this
   * tab has) when the events right after `after` are gone or this tab has moved to another epoch since.
   */
  after(after: StreamPosition, position: StreamPosition | undefined): HistorySlice {
    const events = this.#events.slice(-this.#capacity);
    const first = events.findIndex((e) => e.epoch === after.epoch && e.seq > after.seq);
    if (first >= 0) {
      return { events: events.slice(first), complete: (events[first] as AgentEvent).seq === after.seq + 1 };
    }
    if (position === undefined || (position.epoch === after.epoch && position.seq <= after.seq)) {
      return { events: [], complete: true };
    }
    return { events, complete: false };
  }
}
