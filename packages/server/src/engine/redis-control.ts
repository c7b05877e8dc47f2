import type { Logger } from '../observability/logger.js';
import type { CancelListener, CancelReason, DisconnectListener, UserDisconnect } from './engine.js';
import type { PubSubConnection } from './redis-fanout.js';
import type { RedisKeys } from './redis-keys.js';

/** A message on a control channel, as the Lua scripts publish it. */
type ControlMessage =
  | {
      readonly type: 'cancel';
      readonly userId: string;
      readonly runId: string;
      readonly reason: CancelReason;
    }
  | ({ readonly type: 'disconnect' } & UserDisconnect);

type ControlListener = (message: ControlMessage) => void;

/** One control channel with local listeners. */
interface HeldChannel {
  /** Copy-on-write: a delivery in progress keeps the array it started with. */
  listeners: readonly ControlListener[];
  /** Settles once Redis confirmed a SUBSCRIBE of the channel (now, or at the next reconnect). */
  readonly subscribed: Promise<void>;
  readonly confirm: () => void;
}

/**
 * The control channels this process listens to (docs/redis.md, "Runs"): `<prefix>node:<id>` of each node
 * it serves, carrying the cancel requests lua/request-cancel.lua publishes for runs the node owns, and
 * `<prefix>users:disconnect`, the one channel every node listens to, carrying the user disconnects
 * lua/disconnect-user.lua publishes. They share the engine's one subscriber connection with the user
 * channels of RedisFanout: one subscription per channel, whatever the number of its listeners,
 * subscribed again after every reconnect.
 *
 * Delivery is at most once, as pub/sub is: a request published while the subscriber is disconnected is
 * lost (the caller was told `ack`; the user may press Stop again, docs/agents.md).
 */
export class RedisControl {
  readonly #connection: PubSubConnection;
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  /** channel -> channel held. */
  readonly #channels = new Map<string, HeldChannel>();

  constructor(options: {
    readonly connection: PubSubConnection;
    readonly keys: RedisKeys;
    readonly logger: Logger;
  }) {
    this.#connection = options.connection;
    this.#keys = options.keys;
    this.#logger = options.logger;
  }

  /** Control channels subscribed (nodes served, plus the disconnect channel once listened to). */
  get nodeCount(): number {
    return this.#channels.size;
  }

  /**
   * Adds a listener for `node`'s cancel requests at once. The first one of a node subscribes its channel
   * now if the connection takes commands, and in any case at every (re)connect ({@link resubscribeAll}).
   * Resolves once the channel is subscribed (while Redis is unreachable: once it is back).
   */
  listen(node: string, listener: CancelListener): Promise<() => Promise<void>> {
    return this.#listen(this.#keys.control(node), (message) => {
      if (message.type === 'cancel') listener(message.userId, message.runId, message.reason);
    });
  }

  /** Adds a listener for every user disconnect, on the channel all nodes share; as {@link listen}. */
  listenDisconnects(listener: DisconnectListener): Promise<() => Promise<void>> {
    return this.#listen(this.#keys.disconnects, (message) => {
      if (message.type !== 'disconnect') return;
      const { type: _type, ...request } = message;
      listener(request);
    });
  }

  async #listen(channel: string, listener: ControlListener): Promise<() => Promise<void>> {
    let held = this.#channels.get(channel);
    if (held === undefined) {
      let confirm: () => void = () => undefined;
      const subscribed = new Promise<void>((resolve) => {
        confirm = resolve;
      });
      held = { listeners: [], subscribed, confirm };
      this.#channels.set(channel, held);
      // Refused while disconnected (no offline queue): resubscribeAll subscribes it once connected.
      this.#connection.subscribe(channel).then(held.confirm, () => undefined);
    }
    // A wrapper, so the same function added twice is removed once per call.
    const entry: ControlListener = (message) => listener(message);
    held.listeners = [...held.listeners, entry];
    const owner = held;
    await owner.subscribed;
    return async () => {
      if (!owner.listeners.includes(entry)) return;
      owner.listeners = owner.listeners.filter((l) => l !== entry);
      if (owner.listeners.length > 0 || this.#channels.get(channel) !== owner) return;
      this.#channels.delete(channel);
      try {
        await this.#connection.unsubscribe(channel);
      } catch {
        // A dropped connection took the subscription with it; resubscribeAll no longer restores it.
      }
    };
  }

  /**
   * A message from the subscriber connection: true when `channel` is a control channel of this
   * process (then it was handled here), false for any other channel (the fan-out's).
   */
  onMessage(channel: string, message: string): boolean {
    const held = this.#channels.get(channel);
    if (held === undefined)
      return channel.startsWith(this.#keys.controlPrefix) || channel === this.#keys.disconnects;
    const request = parseControlMessage(message);
    if (request === undefined) {
      // Something other than our Lua scripts wrote to our channel: an operator must look.
      this.#logger.error({ channel }, 'unreadable message on a node control channel');
      return true;
    }
    for (const listener of held.listeners) {
      try {
        listener(request);
      } catch (error) {
        const fields = request.type === 'cancel' ? { run_id: request.runId } : {};
        this.#logger.error(
          { err: error, user_id: request.userId, ...fields },
          `${request.type} listener threw`,
        );
      }
    }
    return true;
  }

  /** Subscribes every held control channel again: the subscriber connection is ready after a (re)connect. */
  async resubscribeAll(): Promise<void> {
    const held = [...this.#channels.values()];
    if (held.length === 0) return;
    await this.#connection.subscribe(...this.#channels.keys());
    for (const node of held) node.confirm();
  }

  /** Forgets every listener (engine closing); a listen() still waiting for its subscription resolves. */
  clear(): void {
    for (const held of this.#channels.values()) {
      held.listeners = [];
      held.confirm();
    }
    this.#channels.clear();
  }
}

/**
 * lua/request-cancel.lua's message, JSON {type: "cancel", user_id, run_id} (start-run.lua's interrupt adds
 * `reason: "interrupted"`), or lua/disconnect-user.lua's,
 * JSON {type: "disconnect", user_id, reason?, revoke_before?}.
 */
function parseControlMessage(message: string): ControlMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  const { type, user_id: userId } = fields;
  if (typeof userId !== 'string') return undefined;
  if (type === 'cancel') {
    const reason: CancelReason = fields.reason === 'interrupted' ? 'interrupted' : 'cancel';
    return typeof fields.run_id === 'string' ? { type, userId, runId: fields.run_id, reason } : undefined;
  }
  if (type !== 'disconnect') return undefined;
  const { reason, revoke_before: revokeBefore } = fields;
  if (reason !== undefined && typeof reason !== 'string') return undefined;
  if (revokeBefore !== undefined && typeof revokeBefore !== 'number') return undefined;
  return { type, userId, reason, revokeBefore };
}
