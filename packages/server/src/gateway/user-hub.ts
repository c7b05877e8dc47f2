import type { Engine, Unsubscribe } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
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

/**
 * One user's members on this node and its engine subscription, kept small (docs/architecture.md, "Hot
 * path"): most users hold one connection, so the only member is held directly and a Set exists only from
 * the second on; once the engine subscribed, the entry keeps the unsubscribe function, not the promise.
 */
class UserEntry<M extends HubMember> {
  #members: M | Set<M> | undefined = undefined;
  /** Pending while the engine subscribes; the unsubscribe function once it did. */
  subscription: Promise<Unsubscribe> | Unsubscribe;

  /** `subscribe` starts the engine subscription whose listener hands events to this entry. */
  constructor(subscribe: (entry: UserEntry<M>) => Promise<Unsubscribe>) {
    this.subscription = subscribe(this);
  }

  get size(): number {
    const members = this.#members;
    return members === undefined ? 0 : members instanceof Set ? members.size : 1;
  }

  add(member: M): void {
    const members = this.#members;
    if (members === undefined) this.#members = member;
    else if (members instanceof Set) members.add(member);
    else this.#members = new Set([members, member]);
  }

  /** True when `member` was one. */
  delete(member: M): boolean {
    const members = this.#members;
    if (members instanceof Set) {
      if (!members.delete(member)) return false;
      if (members.size === 1) this.#members = members.values().next().value;
      return true;
    }
    if (members !== member) return false;
    this.#members = undefined;
    return true;
  }

  /** Every member, without a copy. */
  *values(): IterableIterator<M> {
    const members = this.#members;
    if (members instanceof Set) yield* members;
    else if (members !== undefined) yield members;
  }

  /** A copy, safe to iterate while members join or leave. */
  list(): M[] {
    const members = this.#members;
    return members === undefined ? [] : members instanceof Set ? [...members] : [members];
  }

  /** Hands one event to every member; returns how many wrote it. */
  deliver(event: StoredEvent, bytes: Buffer): number {
    const members = this.#members;
    if (members === undefined) return 0;
    if (!(members instanceof Set)) return members.deliver(event, bytes) ? 1 : 0;
    let written = 0;
    for (const m of members) if (m.deliver(event, bytes)) written++;
    return written;
  }
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
  #members = 0;
  #sampled = 0;

  constructor(options: {
    readonly engine: Engine;
    readonly log: Logger;
    readonly metrics: Metrics;
    readonly now: () => number;
  }) {
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
    const { userId } = member;
    let entry = this.#users.get(userId);
    if (entry === undefined) {
      entry = this.#subscribe(userId);
      this.#users.set(userId, entry);
      this.#metrics.users.set(this.#users.size);
    }
    entry.add(member);
    this.#members++;
    const { subscription } = entry;
    if (typeof subscription === 'function') return;
    try {
      await subscription;
    } catch (err) {
      // The entry may already be gone from the map (dropped when the subscribe failed), so undo this
      // member's bookkeeping on the entry itself rather than through leave().
      if (entry.delete(member)) this.#members--;
      this.#dropIfCurrent(userId, entry);
      throw err;
    }
  }

  /** Subscribes to the engine for a new entry; its listener holds the entry and the hub, nothing else. */
  #subscribe(userId: string): UserEntry<M> {
    const entry = new UserEntry<M>((self) =>
      this.#engine.subscribe(userId, (event, frame) => this.#fanOut(self, event, frame)),
    );
    (entry.subscription as Promise<Unsubscribe>).then(
      (unsubscribe) => {
        entry.subscription = unsubscribe;
      },
      // A failed subscribe is reported to every joiner by their await; drop the entry so the next
      // join tries again instead of waiting on a dead promise.
      () => this.#dropIfCurrent(userId, entry),
    );
    return entry;
  }

  #fanOut(entry: UserEntry<M>, event: StoredEvent, frame: string): void {
    const written = entry.deliver(event, Buffer.from(frame));
    if (written > 0) this.#metrics.eventsDelivered.inc(written);
    // Sampled (1 event in LATENCY_SAMPLE_EVERY): a histogram observation per event costs more
    // than the rest of the fan-out of a small event.
    if (++this.#sampled % LATENCY_SAMPLE_EVERY !== 0) return;
    this.#metrics.publishToSend.observe((this.#now() - Date.parse(event.ts)) / 1000);
  }

  /** Removes a member; the user's subscription ends with its last member. Idempotent. */
  leave(member: M): void {
    const entry = this.#users.get(member.userId);
    if (entry === undefined || !entry.delete(member)) return;
    this.#members--;
    if (entry.size > 0) return;
    this.#dropIfCurrent(member.userId, entry);
    Promise.resolve(entry.subscription)
      .then(
        (unsubscribe) => unsubscribe(),
        () => undefined, // the subscribe failure was already reported to the joiner
      )
      .catch((err: unknown) => this.#log.warn({ err, user_id: member.userId }, 'unsubscribe failed'));
  }

  #dropIfCurrent(userId: string, entry: UserEntry<M>): void {
    if (this.#users.get(userId) !== entry) return;
    this.#users.delete(userId);
    this.#metrics.users.set(this.#users.size);
  }

  /** Members of one user on this node (a copy). */
  membersOf(userId: string): M[] {
    return this.#users.get(userId)?.list() ?? [];
  }

  /** Every member, for sweeps (heartbeat, token expiry, drain). */
  *members(): IterableIterator<M> {
    for (const entry of this.#users.values()) yield* entry.values();
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
