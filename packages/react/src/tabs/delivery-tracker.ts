import type { AgentEvent, StreamPosition } from '../client-like.js';

/**
 * What to do with an event in one tab:
 * - `deliver`: the next one (or the first this tab sees);
 * - `duplicate`: seen already (seq <= position in the same epoch);
 * - `gap`: events are missing before it: hold it and fetch the missing ones;
 * - `epoch`: it opens a new epoch: reset, then deliver it;
 * - `stale`: it belongs to an epoch this tab has left: drop it.
 */
export type DeliveryVerdict = 'deliver' | 'duplicate' | 'gap' | 'epoch' | 'stale';

/**
 * One tab's position in the user's stream: the (epoch, seq) of the last event it delivered, and the epochs
 * it left. Pure. Events reach a tab from its own client or from other tabs, late, twice or early; this is
 * what keeps each tab's handlers at "every event once, in seq order" (docs/protocol.md §3).
 */
export class DeliveryTracker {
  #epoch: string | undefined;
  #seq = 0;
  readonly #retired = new Set<string>();

  constructor(start?: StreamPosition) {
    if (start !== undefined) this.#set(start.epoch, start.seq);
  }

  get position(): StreamPosition | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, seq: this.#seq };
  }

  get epoch(): string | undefined {
    return this.#epoch;
  }

  get seq(): number {
    return this.#seq;
  }

  /** Adopts `position` as the starting point if this tab has none yet (a tab that just joined). */
  start(position: StreamPosition | undefined): void {
    if (this.#epoch === undefined && position !== undefined) this.#set(position.epoch, position.seq);
  }

  judge(event: Pick<AgentEvent, 'epoch' | 'seq'>): DeliveryVerdict {
    if (this.#epoch === undefined) return 'deliver';
    if (event.epoch === this.#epoch) {
      if (event.seq <= this.#seq) return 'duplicate';
      return event.seq === this.#seq + 1 ? 'deliver' : 'gap';
    }
    return this.#retired.has(event.epoch) ? 'stale' : 'epoch';
  }

  /** Moves to `event` after it was delivered (verdict `deliver` or `epoch`). */
  advance(event: Pick<AgentEvent, 'epoch' | 'seq'>): void {
    this.#set(event.epoch, event.seq);
  }

  /**
   * Moves forward to `(epoch, seq)` for a reset: the events up to it are lost to this tab. Returns the
   * position it left (undefined when it had none), or `false` when the jump would not move it forward
   * (same epoch and seq <= position, or an epoch it left), which means nothing was missed.
   */
  jump(epoch: string, seq: number): StreamPosition | undefined | false {
    const previous = this.position;
    if (previous !== undefined) {
      if (epoch === previous.epoch ? seq <= previous.seq : this.#retired.has(epoch)) return false;
    }
    this.#set(epoch, seq);
    return previous;
  }

  #set(epoch: string, seq: number): void {
    if (this.#epoch !== undefined && this.#epoch !== epoch) this.#retired.add(this.#epoch);
    this.#epoch = epoch;
    this.#seq = seq;
  }
}
