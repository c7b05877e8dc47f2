import type { Logger } from '../observability/logger.js';
import type { StoredEvent } from '../protocol/events.js';
import type { EventListener } from './engine.js';
import type { RedisKeys } from './redis-keys.js';
import { parseStoredFrame } from './stored-frame.js';

/** The subscriber side of one Redis connection in subscriber mode (ioredis satisfies it). */
export interface PubSubConnection {
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
}

/** A user's log position: events at or before it (same epoch) are not delivered to a new listener. */
export interface FanoutFloor {
  readonly epoch: string;
  readonly seq: number;
}

/** Options for {@link RedisFanout}. */
export interface RedisFanoutOptions {
  readonly connection: PubSubConnection;
  readonly keys: RedisKeys;
  readonly logger: Logger;
  /**
   * Redis Cluster only: reads the user's head from the master that owns it, once the subscription is
   * confirmed. A classic PUBLISH reaches a subscriber on another node over the cluster bus, later than
   * its append returned, so neither a confirmed SUBSCRIBE nor a PING on the subscriber connection proves
   * that earlier events have all arrived. A head read after SUBSCRIBE does: an event with a higher seq
   * was appended after it, hence published after the subscription existed; anything at or below it is
   * not delivered to this listener (its reader gets it from history). Absent on one Redis, where the
   * SUBSCRIBE reply and PING order the connection.
   */
  readonly readFloor?: (userId: string) => Promise<FanoutFloor>;
  /**
   * A live event skipped seqs after `from` (same epoch): pub/sub is at most once, so a frame was lost (a
   * subscriber dropped and came back between two publishes). The user's live events are held from here;
   * the engine reads what is missing from history, delivers it, and calls `endCatchUp` (also when the read
   * fails or history no longer has it: then the gap flows on and the connections resume, docs/protocol.md §4).
   */
  readonly onGap?: (from: FanoutPosition) => void;
}

/** Where a held user's delivery stands: the last event handed to local listeners. */
export interface FanoutPosition {
  readonly userId: string;
  readonly epoch: string;
  readonly seq: number;
}

/** `pending → live → removed` (or `pending → removed` when subscribing failed). */
interface Subscription {
  readonly listener: EventListener;
  state: 'pending' | 'live' | 'removed';
  /** Events at or before this position (same epoch) predate the listener (cluster only). */
  floor: FanoutFloor | undefined;
}

/** One user with local listeners: one Redis channel subscription, whatever their number. */
interface HeldUser {
  readonly channel: string;
  /** Copy-on-write: a delivery in progress keeps the array it started with. */
  subscriptions: readonly Subscription[];
  /** Settles when Redis answered the SUBSCRIBE; later listeners of the user wait on it too. */
  subscribed: Promise<unknown>;
  /** The last event delivered (0 before any), so a replayed copy is never delivered twice. */
  lastEpoch: string;
  lastSeq: number;
}

/** Re-subscribing many users after a reconnect is sent in chunks of this many channels. */
const RESUBSCRIBE_CHUNK = 500;
/** Live events held for one user while its catch-up read is pending; past it they flow (and a gap may close connections). */
const MAX_HELD_DURING_CATCH_UP = 10_000;

/** Whether `event` is at or before `floor` in the same epoch (then the listener must not get it). */
function predates(event: StoredEvent, floor: FanoutFloor | undefined): boolean {
  return floor !== undefined && event.epoch === floor.epoch && event.seq <= floor.seq;
}

/**
 * Fan-out from Redis pub/sub to the listeners of this node (docs/architecture.md, "Engines"): one subscriber
 * connection per node, subscribed only to users with local listeners, reference counted (SUBSCRIBE on the
 * first, UNSUBSCRIBE on the last). Each frame is parsed once per node and handed to every listener.
 */
export class RedisFanout {
  readonly #connection: PubSubConnection;
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  readonly #readFloor: ((userId: string) => Promise<FanoutFloor>) | undefined;
  readonly #onGap: ((from: FanoutPosition) => void) | undefined;
  readonly #users = new Map<string, HeldUser>();
  /** channel → user id, for incoming messages. */
  readonly #channels = new Map<string, string>();
  /**
   * Users whose catch-up read after a reconnect has not been merged yet, with the live events that
   * arrived meanwhile. Holding them keeps order: a live seq k+2 must not overtake a missed k+1 that the
   * catch-up is about to deliver (the connection would see a gap and have to reconnect).
   */
  readonly #catchingUp = new Map<string, Array<readonly [StoredEvent, string]>>();

  constructor(options: RedisFanoutOptions) {
    this.#connection = options.connection;
    this.#keys = options.keys;
    this.#logger = options.logger;
    this.#readFloor = options.readFloor;
    this.#onGap = options.onGap;
  }

  /** Users with at least one local listener (= channels subscribed). */
  get userCount(): number {
    return this.#users.size;
  }

  /**
   * Adds a listener; resolves once Redis confirmed the user's channel subscription, so every event
   * published after that reaches it. Rejects (with the Redis error) when the subscription failed.
   */
  async subscribe(userId: string, listener: EventListener): Promise<() => Promise<void>> {
    let held = this.#users.get(userId);
    const joining = held !== undefined;
    if (held === undefined) {
      const channel = this.#keys.channel(userId);
      held = {
        channel,
        subscriptions: [],
        subscribed: this.#connection.subscribe(channel),
        lastEpoch: '',
        lastSeq: 0,
      };
      this.#users.set(userId, held);
      this.#channels.set(channel, userId);
    }
    const subscription: Subscription = { listener, state: 'pending', floor: undefined };
    // Counted before the await, so a concurrent last unsubscribe cannot drop the channel under us.
    held.subscriptions = [...held.subscriptions, subscription];
    try {
      await held.subscribed;
    } catch (error) {
      // Never subscribed: only the local bookkeeping is undone (no UNSUBSCRIBE to send).
      this.#remove(userId, held, subscription);
      throw error;
    }
    try {
      if (this.#readFloor !== undefined) subscription.floor = await this.#readFloor(userId);
      // Joining a channel already subscribed: frames of events appended before this call may still be on
      // their way. A PING answered on the same connection comes after them, so once it is back, what
      // arrives was published after subscribe() was called.
      else if (joining) await this.#connection.ping();
    } catch (error) {
      // Subscribed, but this listener cannot start: leave the channel too if it was the last one.
      await this.#unsubscribe(userId, held, subscription);
      throw error;
    }
    if (subscription.state === 'pending') subscription.state = 'live';
    const owner = held;
    return () => this.#unsubscribe(userId, owner, subscription);
  }

  /** A message from the subscriber connection. */
  onMessage(channel: string, frame: string): void {
    const userId = this.#channels.get(channel);
    if (userId === undefined) return; // a late message for a user just unsubscribed
    const event = parseStoredFrame(frame);
    if (event === undefined) {
      // Something other than the append script wrote to our channel: an operator must look.
      this.#logger.error({ channel }, 'unreadable frame on a user channel');
      return;
    }
    const pending = this.#catchingUp.get(userId);
    if (pending !== undefined) {
      if (pending.length < MAX_HELD_DURING_CATCH_UP) {
        pending.push([event, frame]);
        return;
      }
      this.endCatchUp(userId);
    }
    const held = this.#users.get(userId);
    if (held === undefined) return;
    if (
      this.#onGap !== undefined &&
      held.lastSeq > 0 &&
      event.epoch === held.lastEpoch &&
      event.seq > held.lastSeq + 1
    ) {
      this.#catchingUp.set(userId, [[event, frame]]);
      this.#onGap({ userId, epoch: held.lastEpoch, seq: held.lastSeq });
      return;
    }
    this.#deliverTo(userId, held, event, frame);
  }

  /** The catch-up read of `userId` was delivered (or cannot be): release its held live events, in order. */
  endCatchUp(userId: string): void {
    const pending = this.#catchingUp.get(userId);
    if (pending === undefined) return;
    this.#catchingUp.delete(userId);
    for (const [event, frame] of pending) this.deliver(userId, event, frame);
  }

  /**
   * Hands one event to the user's local listeners, unless it was delivered already (same epoch, seq not
   * past the last one): a catch-up read after a reconnect may overlap live messages. Never reorders: an
   * older event arriving after a newer one is dropped, and the connection's ReplayBuffer sees the gap.
   */
  deliver(userId: string, event: StoredEvent, frame: string): void {
    const held = this.#users.get(userId);
    if (held !== undefined) this.#deliverTo(userId, held, event, frame);
  }

  #deliverTo(userId: string, held: HeldUser, event: StoredEvent, frame: string): void {
    if (event.epoch === held.lastEpoch && event.seq <= held.lastSeq) return;
    held.lastEpoch = event.epoch;
    held.lastSeq = event.seq;
    for (const subscription of held.subscriptions) {
      if (subscription.state !== 'live' || predates(event, subscription.floor)) continue;
      try {
        subscription.listener(event, frame);
      } catch (error) {
        // A listener is gateway code; its bug must not cost other connections their events.
        this.#logger.error({ err: error, user_id: userId, seq: event.seq }, 'event listener threw');
      }
    }
  }

  /**
   * Subscribes every held user again: called when the subscriber connection is ready after a (re)connect.
   * A new connection has no subscriptions, and only users held now are subscribed, so nothing leaks.
   */
  async resubscribeAll(): Promise<void> {
    // Users that already had events may have missed some: hold their live events until the engine's
    // catch-up read for them is merged (endCatchUp).
    for (const [userId, held] of this.#users) {
      if (held.lastSeq > 0 && !this.#catchingUp.has(userId)) this.#catchingUp.set(userId, []);
    }
    const channels = [...this.#users.values()].map((held) => held.channel);
    for (let i = 0; i < channels.length; i += RESUBSCRIBE_CHUNK) {
      await this.#connection.subscribe(...channels.slice(i, i + RESUBSCRIBE_CHUNK));
    }
  }

  /** Held users that already received events: where a catch-up read after an outage starts. */
  positions(): FanoutPosition[] {
    const out: FanoutPosition[] = [];
    for (const [userId, held] of this.#users) {
      if (held.lastSeq > 0) out.push({ userId, epoch: held.lastEpoch, seq: held.lastSeq });
    }
    return out;
  }

  /** Forgets every listener (engine closing); their unsubscribe functions become no-ops. */
  clear(): void {
    for (const held of this.#users.values()) {
      for (const subscription of held.subscriptions) subscription.state = 'removed';
    }
    this.#users.clear();
    this.#channels.clear();
    this.#catchingUp.clear();
  }

  async #unsubscribe(userId: string, held: HeldUser, subscription: Subscription): Promise<void> {
    if (!this.#remove(userId, held, subscription)) return;
    try {
      await this.#connection.unsubscribe(held.channel);
    } catch {
      // The connection is down: the subscription died with it, and resubscribeAll will not restore it
      // because the user is no longer held. Safe to drop.
    }
  }

  /** Removes one subscription; true when it was the user's last and the channel should be left. */
  #remove(userId: string, held: HeldUser, subscription: Subscription): boolean {
    if (subscription.state === 'removed') return false;
    subscription.state = 'removed';
    held.subscriptions = held.subscriptions.filter((s) => s !== subscription);
    if (held.subscriptions.length > 0 || this.#users.get(userId) !== held) return false;
    this.#users.delete(userId);
    this.#channels.delete(held.channel);
    this.#catchingUp.delete(userId);
    return true;
  }
}
