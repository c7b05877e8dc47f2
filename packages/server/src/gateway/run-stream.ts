import type { RunSnapshot } from '@agentcast/client';
import type { Engine, Unsubscribe } from '../engine/engine.js';
import { ReplayBuffer, type ReplayOutcome, type ReplayPosition } from '../engine/replay-buffer.js';
import { TERMINAL_STATUSES } from '../engine/run-snapshot.js';
import { EventType, type StoredEvent } from '../protocol/events.js';

/**
 * Where a follower starts reading a run (docs/protocol.md F, §4):
 * - `start`: the run so far as its snapshot, then each later event;
 * - `after`: the run's events after this position of the user's stream (from history), then live; when
 *   history can no longer serve it (§4 would answer `reset`), the snapshot instead, with reason `reset`;
 * - `first`: every event of the run from its first one (its snapshot's `first_seq`, from history), then
 *   live, so what the sink gets is a function of the run's events alone, however late it starts; when
 *   history no longer holds the run's start, the snapshot instead, with reason `reset`.
 */
export type RunStreamFrom =
  | { readonly kind: 'start' }
  | { readonly kind: 'first' }
  | { readonly kind: 'after'; readonly epoch: string; readonly seq: number };

/** How a follow ended: see {@link RunStreamSink.end}. */
export type RunStreamEnd = 'ended' | 'lost' | 'closed';

/** What an edge does with one run's stream: encodes it into its protocol's frames. */
export interface RunStreamSink {
  /**
   * The run folded up to `snapshot.last_seq`: `start` from kind `start`, `reset` when `after` or `first` could
   * not be served exactly. Not called for a run with no stored event yet (a `pending` follow of a run just started).
   */
  snapshot(snapshot: RunSnapshot, reason: 'start' | 'reset'): void;
  /** Each event of the run after what was given, once, in seq order (its `agent_completed` last). */
  event(event: StoredEvent): void;
  /**
   * Called exactly once: `ended` after the run's `agent_completed` was given (by {@link event} or in a
   * terminal snapshot); `lost` when the stream could not stay exact (a gap in the live stream, history that
   * changed under the read, too many events held while reading, the engine failing), so the client should
   * resume from the last id it has; `closed` after {@link RunFollow} `close()` or {@link RunStreams.closeAll}.
   */
  end(reason: RunStreamEnd): void;
}

/** The answer to {@link RunFollower.follow}. */
export type RunFollow =
  | { readonly ok: true; close(): void }
  | { readonly ok: false; readonly code: 'NOT_FOUND' | 'UNAVAILABLE' };

/** A subscription to one user's stream, taken before a run is looked up or started (§4). */
export interface RunFollower {
  /**
   * Starts giving `runId` to `sink` from `from`. `NOT_FOUND`: no stored event of such a run of this user;
   * with `pending: true` (a run this caller just started, whose first event may not be stored yet) the run
   * is waited for instead. A follower follows one run; a second call is refused (`NOT_FOUND`).
   */
  follow(
    runId: string,
    from: RunStreamFrom,
    sink: RunStreamSink,
    options?: { readonly pending?: boolean },
  ): Promise<RunFollow>;
  /** Leaves the user's stream (without calling the sink). Idempotent. */
  close(): void;
}

/** Options of {@link RunStreams}. */
export interface RunStreamsOptions {
  readonly engine: Pick<Engine, 'subscribe' | 'head' | 'history' | 'runSnapshot' | 'runSnapshots'>;
  /** Events of a page of history, and most live events held while one is read (`--history-size`). */
  readonly historySize: number;
}

/**
 * The one place an edge follows a single run of a user (docs/architecture.md, "Edges"): the AG-UI and AI
 * SDK endpoints stream a run through it, so none of them decides what a resume replays. Subscribe first,
 * then read (head and snapshot, or history), and hand over the held and live events after what was read:
 * each of the run's events once, in order, none missing (the ReplayBuffer's rule, §4 and F).
 */
export class RunStreams {
  readonly #options: RunStreamsOptions;
  readonly #open = new Set<UserRunFollower>();

  constructor(options: RunStreamsOptions) {
    this.#options = options;
  }

  /** Followers open now (subscribed, not yet closed or ended). */
  get size(): number {
    return this.#open.size;
  }

  /** Joins `userId`'s stream; resolves once every event stored from now on reaches the follower. */
  async subscribe(userId: string): Promise<RunFollower> {
    const follower = new UserRunFollower(userId, this.#options, (f) => this.#open.delete(f));
    this.#open.add(follower);
    try {
      await follower.start();
    } catch (error) {
      follower.close();
      throw error;
    }
    return follower;
  }

  /** The user's active run (`running` or `waiting`) of `threadId`, the most recently active one, if any. */
  async activeRunOfThread(userId: string, threadId: string): Promise<RunSnapshot | undefined> {
    const runs = await this.#options.engine.runSnapshots(userId, { state: 'active', threadId, limit: 1 });
    return runs[0];
  }

  /** Ends every follow with `closed` (the gateway closing). */
  closeAll(): void {
    for (const follower of [...this.#open]) follower.end('closed');
  }
}

class UserRunFollower implements RunFollower {
  readonly #userId: string;
  readonly #options: RunStreamsOptions;
  readonly #onDone: (follower: UserRunFollower) => void;
  readonly #replay: ReplayBuffer;
  #unsubscribe: Promise<Unsubscribe> | undefined;
  #runId: string | undefined;
  #sink: RunStreamSink | undefined;
  /** Events of the run with seq <= this were in its snapshot. */
  #skipThrough = 0;
  #done = false;
  /** How the stream ended before a follow began (too many events held): told to the follow's sink. */
  #endedEarly: RunStreamEnd | undefined;

  constructor(userId: string, options: RunStreamsOptions, onDone: (follower: UserRunFollower) => void) {
    this.#userId = userId;
    this.#options = options;
    this.#onDone = onDone;
    this.#replay = new ReplayBuffer({ maxBuffered: options.historySize });
  }

  async start(): Promise<void> {
    this.#unsubscribe = this.#options.engine.subscribe(this.#userId, (event) => this.#live(event));
    await this.#unsubscribe;
  }

  async follow(
    runId: string,
    from: RunStreamFrom,
    sink: RunStreamSink,
    options: { readonly pending?: boolean } = {},
  ): Promise<RunFollow> {
    if (this.#runId !== undefined) return { ok: false, code: 'NOT_FOUND' };
    if (this.#done) {
      if (this.#endedEarly === undefined) return { ok: false, code: 'NOT_FOUND' };
      sink.end(this.#endedEarly);
      return { ok: true, close: () => undefined };
    }
    this.#runId = runId;
    let position: ReplayPosition | 'not_found' | 'ended' | 'lost';
    const pending = options.pending === true;
    try {
      if (from.kind === 'after') position = await this.#readAfter(runId, from, sink);
      else if (from.kind === 'first') position = await this.#readFirst(runId, sink, pending);
      else position = await this.#readStart(runId, sink, pending, 'start');
    } catch {
      this.close();
      return { ok: false, code: 'UNAVAILABLE' };
    }
    if (position === 'not_found') {
      this.close();
      return { ok: false, code: 'NOT_FOUND' };
    }
    const follow: RunFollow = { ok: true, close: () => this.end('closed') };
    // From here every end reaches the sink (also an end that came while reading: closeAll).
    this.#sink = sink;
    if (this.#done) {
      sink.end('closed');
      return follow;
    }
    if (position === 'ended' || position === 'lost') this.end(position);
    else this.#handOver(this.#replay.finish(position));
    return follow;
  }

  /** Head first, then the snapshot: every event after the head is on the stream, the rest in the snapshot. */
  async #readStart(
    runId: string,
    sink: RunStreamSink,
    pending: boolean,
    reason: 'start' | 'reset',
  ): Promise<ReplayPosition | 'not_found' | 'ended'> {
    const head = await this.#options.engine.head(this.#userId);
    const snapshot = await this.#options.engine.runSnapshot(this.#userId, runId);
    if (snapshot === undefined) {
      return pending ? { epoch: head.epoch, lastSentSeq: head.seq, complete: true } : 'not_found';
    }
    sink.snapshot(snapshot, reason);
    if (TERMINAL_STATUSES.has(snapshot.status)) return 'ended';
    this.#skipThrough = snapshot.last_seq;
    return { epoch: head.epoch, lastSentSeq: head.seq, complete: true };
  }

  /**
   * The run's events from its first one: history after the seq before it. A run not stored yet (pending)
   * is all live; one whose start history cannot give (another epoch, expired) is its snapshot (`reset`).
   */
  async #readFirst(
    runId: string,
    sink: RunStreamSink,
    pending: boolean,
  ): Promise<ReplayPosition | 'not_found' | 'ended' | 'lost'> {
    const head = await this.#options.engine.head(this.#userId);
    const snapshot = await this.#options.engine.runSnapshot(this.#userId, runId);
    if (snapshot === undefined) {
      return pending ? { epoch: head.epoch, lastSentSeq: head.seq, complete: true } : 'not_found';
    }
    if (snapshot.first_seq === undefined) return this.#readStart(runId, sink, false, 'reset');
    return this.#readAfter(runId, { epoch: snapshot.epoch, seq: snapshot.first_seq - 1 }, sink);
  }

  /** History after the position, page by page, keeping the run's events; a reset falls back to the snapshot. */
  async #readAfter(
    runId: string,
    from: { readonly epoch: string; readonly seq: number },
    sink: RunStreamSink,
  ): Promise<ReplayPosition | 'not_found' | 'ended' | 'lost'> {
    const { engine, historySize } = this.#options;
    const snapshot = await engine.runSnapshot(this.#userId, runId);
    if (snapshot === undefined) return 'not_found';
    // Already over at that position: nothing is left to give.
    if (
      snapshot.epoch === from.epoch &&
      snapshot.last_seq <= from.seq &&
      TERMINAL_STATUSES.has(snapshot.status)
    ) {
      return 'ended';
    }
    let since = from.seq;
    for (;;) {
      const page = await engine.history(this.#userId, { since, epoch: from.epoch, limit: historySize });
      if (page.kind === 'reset') {
        // §4 cannot serve it (expired, another epoch, ahead): the snapshot is the only exact answer.
        // A later page that resets: what was given can no longer be continued exactly.
        return since === from.seq ? this.#readStart(runId, sink, false, 'reset') : 'lost';
      }
      for (const event of page.events) {
        since = event.seq;
        if (event.run_id !== runId) continue;
        sink.event(event);
        if (event.type === EventType.AgentCompleted) return 'ended';
      }
      if (page.complete || page.events.length === 0) {
        return { epoch: page.head.epoch, lastSentSeq: since, complete: page.complete };
      }
    }
  }

  #live(event: StoredEvent): void {
    if (this.#done) return;
    const outcome = this.#replay.push(event, '');
    if (outcome === 'send') this.#give(event);
    else if (outcome === 'overflow' || outcome === 'gap') this.end('lost');
  }

  #handOver(outcome: ReplayOutcome): void {
    if (outcome.kind !== 'ok') {
      this.end('lost');
      return;
    }
    for (const event of outcome.events) {
      if (this.#done) return;
      this.#give(event);
    }
  }

  #give(event: StoredEvent): void {
    const sink = this.#sink;
    if (sink === undefined || event.run_id !== this.#runId || event.seq <= this.#skipThrough) return;
    sink.event(event);
    if (event.type === EventType.AgentCompleted) this.end('ended');
  }

  /** Ends the follow once: tells the sink (when following) and leaves the stream. */
  end(reason: RunStreamEnd): void {
    if (this.#done) return;
    const sink = this.#sink;
    this.close();
    if (sink === undefined) this.#endedEarly = reason;
    else sink.end(reason);
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#onDone(this);
    this.#unsubscribe
      ?.then((stop) => stop())
      .catch(() => {
        // A subscribe that failed has nothing to undo; an unsubscribe that fails ends with the engine.
      });
  }
}
