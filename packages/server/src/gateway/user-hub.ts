import type { Engine, Unsubscribe } from '../engine/engine.js';
import { type Few, fewAdd, fewDelete, fewSize, fewValues } from '../engine/few.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { StoredEvent } from '../protocol/events.js';

/** One event in this many is timed for the publish->send latency histogram. */
const LATENCY_SAMPLE_EVERY = 8;

/** What the hub needs from a connection: its user and a way to hand it an event. */
export interface HubMember {
  readonly userId: string;
  /**
   * Receives every event of the member's user, in seq order, with the wire frame as bytes: encoded
   * once per event and shared by every connection (ws writes a Buffer without copying it). True when
   * the frame was written (not held for a replay, not a duplicate).
   */
  deliver(event: StoredEvent, frame: Buffer): boolean;
}

interface UserEntry<M extends HubMember> {
  /**
   * The user's one member, or a Set of them (most users have one connection: no Set for them); a box the
   * subscription's listener shares.
   */
  readonly members: { current: Few<M> | undefined };
  /** Resolves when the engine delivers this user's events to the entry. */
  readonly subscribed: Promise<Unsubscribe>;
}

/** Removes `member` from its entry; whether it was there. */
function removeMember<M extends HubMember>(entry: UserEntry<M>, member: M): boolean {
  const before = fewSize(entry.members.current);
  entry.members.current = fewDelete(entry.members.current, member);
  return fewSize(entry.members.current) < before;
}

/**
 * user -> local connections. Holds one engine subscription per user with connections on this node
 * (subscribe on the first, unsubscribe after the last), and hands every event of a user to all of that
 * user's connections and to no one else (docs/protocol.md §3).
 */
export class UserHub<M extends HubMember = HubMember> {
  readonly #users = new Map<string, UserEntry<M>>();
  readonly #engine: Engine;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #tracing: Tracing | undefined;
  #members = 0;
  #sampled = 0;

  constructor(options: {
    readonly engine: Engine;
    readonly log: Logger;
    readonly metrics: Metrics;
    readonly now: () => number;
    /** With --otel-endpoint: an `agentcast.fanout` span per traced event (docs/deploy.md, "Tracing"). */
    readonly tracing?: Tracing | undefined;
  }) {
    this.#tracing = options.tracing;
    this.#engine = options.engine;
    this.#now = options.now;
    this.#log = options.log;
    this.#metrics = options.metrics;
  }

  /**
   * Adds a member and resolves once the user's events are flowing to it. §4: the member is added
   * before the subscription is confirmed, so it sees every event stored after this resolves; the
   * caller reads history only afterwards.
   */
  async join(member: M): Promise<void> {
    let entry = this.#users.get(member.userId);
    if (entry === undefined) {
      // The listener reads the members when an event comes, so it sees every join and leave.
      const members: { current: Few<M> | undefined } = { current: undefined };
      const subscribed = this.#engine.subscribe(member.userId, (event, frame) => {
        const bytes = Buffer.from(frame);
        const current = members.current;
        let written = 0;
        if (current instanceof Set) {
          for (const m of current) if (m.deliver(event, bytes)) written++;
        } else if (current?.deliver(event, bytes) === true) written++;
        if (written > 0) this.#metrics.eventsDelivered.inc(written);
        if (this.#tracing !== undefined && event.meta !== undefined) this.#traceFanout(event, written);
        // Sampled (1 event in LATENCY_SAMPLE_EVERY): a histogram observation per event costs more
        // than the rest of the fan-out of a small event.
        if (++this.#sampled % LATENCY_SAMPLE_EVERY !== 0) return;
        this.#metrics.publishToSend.observe((this.#now() - Date.parse(event.ts)) / 1000);
      });
      entry = { members, subscribed };
      this.#users.set(member.userId, entry);
      this.#metrics.users.set(this.#users.size);
      // A failed subscribe is reported to every joiner by the await below; drop the entry so the
      // next join tries again instead of waiting on a dead promise.
      subscribed.catch(() => this.#dropIfCurrent(member.userId, entry as UserEntry<M>));
    }
    entry.members.current = fewAdd(entry.members.current, member);
    this.#members++;
    try {
      await entry.subscribed;
    } catch (err) {
      // The entry may already be gone from the map (dropped by the catch above), so undo this
      // member's bookkeeping on the entry itself rather than through leave().
      if (removeMember(entry, member)) this.#members--;
      this.#dropIfCurrent(member.userId, entry);
      throw err;
    }
  }

  /** Removes a member; the user's subscription ends with its last member. Idempotent. */
  leave(member: M): void {
    const entry = this.#users.get(member.userId);
    if (entry === undefined || !removeMember(entry, member)) return;
    this.#members--;
    if (entry.members.current !== undefined) return;
    this.#dropIfCurrent(member.userId, entry);
    entry.subscribed
      .then(
        (unsubscribe) => unsubscribe(),
        () => undefined, // the subscribe failure was already reported to the joiner
      )
      .catch((err: unknown) => this.#log.warn({ err, user_id: member.userId }, 'unsubscribe failed'));
  }

  /** The delivery of one event to this node's sessions of its user, as a span of the event's trace. */
  #traceFanout(event: StoredEvent, written: number): void {
    this.#tracing
      ?.start('agentcast.fanout', event.meta?.traceparent, 'internal', {
        'agentcast.seq': event.seq,
        'agentcast.sessions': written,
        ...(event.run_id !== undefined && { 'agentcast.run_id': event.run_id }),
      })
      .end();
  }

  #dropIfCurrent(userId: string, entry: UserEntry<M>): void {
    if (this.#users.get(userId) !== entry) return;
    this.#users.delete(userId);
    this.#metrics.users.set(this.#users.size);
  }

  /** Members of one user on this node (a copy). */
  membersOf(userId: string): M[] {
    return [...fewValues(this.#users.get(userId)?.members.current)];
  }

  /** Every member, for sweeps (heartbeat, token expiry, drain). */
  *members(): IterableIterator<M> {
    for (const entry of this.#users.values()) yield* fewValues(entry.members.current);
  }

  /** Users with at least one member on this node. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Members on this node. */
  get memberCount(): number {
    return this.#members;
  }
}
