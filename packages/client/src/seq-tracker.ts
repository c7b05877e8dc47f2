import type { ResumeOutcome } from './protocol/wire.js';

/** Where the client stands in the user's event stream. */
export interface StreamPosition {
  readonly epoch: string;
  /** The last seq delivered to the app (0: none yet in this epoch). */
  readonly seq: number;
}

/** Why the app must reload its state. */
export type ResetReason =
  /** The welcome said `resume: "reset"`: history cannot fill the gap (docs/protocol.md §4). */
  | 'resume_reset'
  /** An event arrived in another epoch: the server lost this user's history (docs/protocol.md §4). */
  | 'epoch_changed'
  /** A welcome without resume showed events this client never saw. */
  | 'missed_events';

/** The verdict on one event. */
export type SeqVerdict =
  /** Deliver it: it is the next seq. */
  | { readonly kind: 'deliver' }
  /** Drop it: seq <= lastSeq in this epoch, the app has seen it. */
  | { readonly kind: 'duplicate' }
  /** Reset the app's state, then deliver it: it opens a new epoch. */
  | { readonly kind: 'reset'; readonly previous: StreamPosition }
  /** Do not deliver: events are missing before it; resume from `lastSeq` to fetch them in order. */
  | { readonly kind: 'gap'; readonly expected: number };

/** The verdict on a welcome frame. */
export type WelcomeVerdict =
  | { readonly kind: 'continue' }
  /**
   * `resume: "snapshot"` (docs/protocol.md F): the stream restarts after the welcome's seq, as after a
   * reset, but nothing needs reloading: `run_snapshot` frames bring each run's state up to that seq.
   */
  | { readonly kind: 'snapshot'; readonly previous: StreamPosition | undefined }
  | { readonly kind: 'reset'; readonly reason: ResetReason; readonly previous: StreamPosition };

/** The welcome fields that matter for ordering (docs/protocol.md §2). */
export interface WelcomePosition {
  readonly epoch: string;
  readonly seq: number;
  readonly resume: ResumeOutcome;
}

/**
 * Tracks `epoch` and the last delivered `seq` and judges each welcome and event (docs/protocol.md §3, §4).
 * Pure. The guarantee it gives the app: within an epoch, handlers see seq 1, 2, 3… each exactly once, in
 * order; when that cannot hold, a reset comes first.
 *
 * Welcome semantics: `seq` is the user's latest seq. With `resume: "ok"` the server replays every event
 * after our `since`, so `lastSeq` stays where it is; with `none`, `reset` or `snapshot` nothing is
 * replayed, so the client starts after the welcome's `seq`.
 */
export class SeqTracker {
  #epoch: string | undefined;
  #lastSeq = 0;

  constructor(start?: StreamPosition) {
    if (start !== undefined) {
      this.#epoch = start.epoch;
      this.#lastSeq = start.seq;
    }
  }

  /** The epoch of the last welcome or event, or undefined before the first welcome. */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** The last seq delivered (or skipped past by a welcome) in the current epoch. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The resume point to send on reconnect (`?since=&epoch=`), once there is one. */
  position(): StreamPosition | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, seq: this.#lastSeq };
  }

  /** Judges a welcome and moves to where the stream continues. */
  welcome(w: WelcomePosition): WelcomeVerdict {
    const previous = this.position();
    if (w.resume === 'ok' && previous !== undefined && w.epoch === previous.epoch) {
      return { kind: 'continue' };
    }
    this.#epoch = w.epoch;
    this.#lastSeq = w.seq;
    if (w.resume === 'snapshot') return { kind: 'snapshot', previous };
    if (previous === undefined) return { kind: 'continue' };
    if (w.resume === 'reset' || w.resume === 'ok') {
      // "ok" with another epoch cannot happen with a correct server; the safe reading is a reset.
      return { kind: 'reset', reason: 'resume_reset', previous };
    }
    // resume "none" although we had a position: fine only if nothing happened in between.
    if (w.epoch !== previous.epoch) return { kind: 'reset', reason: 'epoch_changed', previous };
    if (w.seq !== previous.seq) return { kind: 'reset', reason: 'missed_events', previous };
    return { kind: 'continue' };
  }

  /** Judges an event; on `deliver` and `reset` the position moves to it. */
  accept(ev: { readonly seq: number; readonly epoch: string }): SeqVerdict {
    const previous = this.position();
    if (previous === undefined || ev.epoch !== previous.epoch) {
      this.#epoch = ev.epoch;
      this.#lastSeq = ev.seq;
      return previous === undefined ? { kind: 'deliver' } : { kind: 'reset', previous };
    }
    if (ev.seq <= previous.seq) return { kind: 'duplicate' };
    // §3: no gaps within an epoch. A gap means frames were lost on the way; never deliver out of order.
    if (ev.seq !== previous.seq + 1) return { kind: 'gap', expected: previous.seq + 1 };
    this.#lastSeq = ev.seq;
    return { kind: 'deliver' };
  }
}
