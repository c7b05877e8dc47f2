import type { StoredEvent } from '../protocol/events.js';

/** A frame as the caller holds it: the wire text, or its bytes shared across connections. */
export type WireFrame = string | Uint8Array;

/** Options for {@link ReplayBuffer}. */
export interface ReplayBufferOptions {
  /**
   * Most live events held while history is being sent. Past it the connection cannot catch up from
   * memory; the outcome is `overflow` and the gateway closes with 4013 so the client resumes (§5).
   */
  readonly maxBuffered: number;
}

/**
 * What the caller does with one live event, a constant string so the hot path allocates nothing:
 * - `buffered`: held until {@link ReplayBuffer.finish};
 * - `send`: send its frame now;
 * - `skip`: a seq this connection already has (it came with history): drop it;
 * - `overflow`: the buffer limit was passed while replaying: close with 4013 (§5), the client resumes;
 * - `gap`: a seq is missing from the live stream (e.g. a lost pub/sub message): close with 1011 so the
 *   client resumes and history fills the hole (§4: never deliver past a gap);
 * - `failed`: an earlier outcome already failed this buffer; the connection is closing, drop it.
 */
export type ReplayPush = 'buffered' | 'send' | 'skip' | 'overflow' | 'gap' | 'failed';

/** Where the connection stands once history was sent. */
export interface ReplayPosition {
  /** The epoch of the history that was read (its head's epoch, also after a `reset`). */
  readonly epoch: string;
  /** Seq of the last event the client has: the last history event sent, or `since` / the head when none. */
  readonly lastSentSeq: number;
  /** Whether the history read reached the head (HistoryResult.complete; true for a reset or no resume). */
  readonly complete: boolean;
}

/**
 * The result of {@link ReplayBuffer.finish}:
 * - `ok`: send `frames` (in order) right after the history, then live events as `push` says;
 * - `gap`: seq `expectedSeq` is neither in the history nor in the buffer (`bufferedSeq` is the first
 *   buffered seq past it, if any): close with 1011, the client resumes;
 * - `overflow`: the buffer limit was passed: close with 4013, the client resumes;
 * - `epoch_changed`: a live event belongs to another epoch than the history (the store lost the user's
 *   data during the replay): close with 1011, the client resumes and is told `reset`.
 */
export type ReplayOutcome =
  | {
      readonly kind: 'ok';
      /** The events of `frames`, index for index (a transport that frames events itself needs their ids). */
      readonly events: readonly StoredEvent[];
      readonly frames: readonly WireFrame[];
      readonly lastSeq: number;
    }
  | { readonly kind: 'gap'; readonly expectedSeq: number; readonly bufferedSeq: number | undefined }
  | { readonly kind: 'overflow'; readonly maxBuffered: number }
  | { readonly kind: 'epoch_changed'; readonly historyEpoch: string; readonly liveEpoch: string };

/**
 * What the buffer holds once it is no longer replaying: one frozen empty array shared by every buffer, so
 * a live connection keeps no arrays of its own (pushing to it would throw, and nothing does: only the
 * replaying state pushes).
 */
const NOTHING_HELD: never[] = Object.freeze([]) as never[];

/** `replaying → live`, or `→ failed` on overflow, gap or epoch change. */
export type ReplayState = 'replaying' | 'live' | 'failed';

/**
 * The exact-resume core of one connection (docs/protocol.md §4; docs/architecture.md, "Data path"): subscribe
 * first, buffer live events while history is read and sent, then drain the buffer dropping seqs already sent.
 * After that it guards the live stream: every seq once, in order, no gap. Pure: no I/O, no clock.
 *
 * Recipe: create it, subscribe with a listener that calls `push` (send the frame on `send`), read history,
 * send it, call `finish` with the position reached, send `frames` of an `ok` outcome.
 */
export class ReplayBuffer {
  readonly #maxBuffered: number;
  #state: ReplayState = 'replaying';
  #events: StoredEvent[] = [];
  #frames: WireFrame[] = [];
  #epoch = '';
  #lastSeq = 0;
  #finished = false;

  constructor(options: ReplayBufferOptions) {
    if (!Number.isInteger(options.maxBuffered) || options.maxBuffered < 0) {
      throw new TypeError(`ReplayBuffer: maxBuffered must be an integer >= 0, got ${options.maxBuffered}`);
    }
    this.#maxBuffered = options.maxBuffered;
  }

  /** Where the buffer is in its life. */
  get state(): ReplayState {
    return this.#state;
  }

  /** Seq of the last event handed to the client (0 while replaying). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Events held until finish. */
  get bufferedCount(): number {
    return this.#events.length;
  }

  /** Takes one live event (with its shared wire frame) and says what to do with it. */
  push(event: StoredEvent, frame: WireFrame): ReplayPush {
    switch (this.#state) {
      case 'failed':
        return 'failed';
      case 'replaying':
        if (this.#events.length >= this.#maxBuffered) {
          this.#fail();
          return 'overflow';
        }
        this.#events.push(event);
        this.#frames.push(frame);
        return 'buffered';
      case 'live':
        return this.#pushLive(event);
    }
  }

  /**
   * Ends the replay: returns the buffered frames the client still needs (seq > lastSentSeq, in order)
   * and switches to live, or says why the connection cannot continue. Throws if called twice.
   */
  finish(position: ReplayPosition): ReplayOutcome {
    if (this.#finished) throw new Error('ReplayBuffer.finish() was already called');
    this.#finished = true;
    // Before finish, the only way to fail is to overflow while replaying.
    if (this.#state === 'failed') return { kind: 'overflow', maxBuffered: this.#maxBuffered };
    let last = position.lastSentSeq;
    const frames: WireFrame[] = [];
    const events: StoredEvent[] = [];
    for (let i = 0; i < this.#events.length; i += 1) {
      const event = this.#events[i] as StoredEvent;
      if (event.epoch !== position.epoch) {
        this.#fail();
        return { kind: 'epoch_changed', historyEpoch: position.epoch, liveEpoch: event.epoch };
      }
      // Already sent with the history (subscribed before reading it, so they overlap): drop.
      if (event.seq <= last) continue;
      if (event.seq !== last + 1) {
        this.#fail();
        return { kind: 'gap', expectedSeq: last + 1, bufferedSeq: event.seq };
      }
      frames.push(this.#frames[i] as WireFrame);
      events.push(event);
      last = event.seq;
    }
    // History stopped short of the head, and no buffered event continues it: events in between were
    // stored before the subscription and are in neither place.
    if (!position.complete && last === position.lastSentSeq) {
      this.#fail();
      return { kind: 'gap', expectedSeq: last + 1, bufferedSeq: undefined };
    }
    this.#events = NOTHING_HELD;
    this.#frames = NOTHING_HELD;
    this.#state = 'live';
    this.#epoch = position.epoch;
    this.#lastSeq = last;
    return { kind: 'ok', events, frames, lastSeq: last };
  }

  #pushLive(event: StoredEvent): ReplayPush {
    if (event.epoch !== this.#epoch) {
      // §4: the store lost the user's data and a new epoch began at seq 1; open connections are sent the
      // new events as usual. Any other first seq means events of the new epoch were missed.
      if (event.seq !== 1) return this.#gap();
      this.#epoch = event.epoch;
      this.#lastSeq = 1;
      return 'send';
    }
    // A seq already sent: history may include an event whose live copy was still in flight (Redis).
    if (event.seq <= this.#lastSeq) return 'skip';
    if (event.seq !== this.#lastSeq + 1) return this.#gap();
    this.#lastSeq = event.seq;
    return 'send';
  }

  #gap(): ReplayPush {
    this.#fail();
    return 'gap';
  }

  #fail(): void {
    this.#state = 'failed';
    this.#events = NOTHING_HELD;
    this.#frames = NOTHING_HELD;
  }
}
