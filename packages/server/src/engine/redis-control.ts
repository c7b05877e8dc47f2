import type { Logger } from '../observability/logger.js';
import type { CancelListener } from './engine.js';
import type { PubSubConnection } from './redis-fanout.js';
import type { RedisKeys } from './redis-keys.js';

/** One node's control channel with local listeners. */
interface HeldNode {
  /** Copy-on-write: a delivery in progress keeps the array it started with. */
  listeners: readonly CancelListener[];
  /** Settles once Redis confirmed a SUBSCRIBE of the channel (now, or at the next reconnect). */
  readonly subscribed: Promise<void>;
  readonly confirm: () => void;
}

/**
 * The control channels of the nodes this process serves (docs/redis.md, "Runs"): `<prefix>node:<id>`,
 * carrying the cancel requests lua/request-cancel.lua publishes for runs the node owns. They share the
 * engine's one subscriber connection with the user channels of RedisFanout: one channel subscription
 * per node, whatever the number of its listeners, subscribed again after every reconnect.
 *
 * Delivery is at most once, as pub/sub is: a request published while the subscriber is disconnected is
 * lost (the caller was told `ack`; the user may press Stop again, docs/agents.md).
 */
export class RedisControl {
  readonly #connection: PubSubConnection;
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  /** channel -> node held. */
  readonly #channels = new Map<string, HeldNode>();

  constructor(options: {
    readonly connection: PubSubConnection;
    readonly keys: RedisKeys;
    readonly logger: Logger;
  }) {
    this.#connection = options.connection;
    this.#keys = options.keys;
    this.#logger = options.logger;
  }

  /** Nodes with at least one listener (= control channels subscribed). */
  get nodeCount(): number {
    return this.#channels.size;
  }

  /**
   * Adds a listener for `node`'s cancel requests at once. The first one of a node subscribes its channel
   * now if the connection takes commands, and in any case at every (re)connect ({@link resubscribeAll}).
   * Resolves once the channel is subscribed (while Redis is unreachable: once it is back).
   */
  async listen(node: string, listener: CancelListener): Promise<() => Promise<void>> {
    const channel = this.#keys.control(node);
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
    const entry: CancelListener = (userId, runId) => listener(userId, runId);
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
    if (held === undefined) return channel.startsWith(this.#keys.controlPrefix);
    const request = parseCancelRequest(message);
    if (request === undefined) {
      // Something other than lua/request-cancel.lua wrote to our channel: an operator must look.
      this.#logger.error({ channel }, 'unreadable message on a node control channel');
      return true;
    }
    for (const listener of held.listeners) {
      try {
        listener(request.userId, request.runId);
      } catch (error) {
        this.#logger.error(
          { err: error, user_id: request.userId, run_id: request.runId },
          'cancel listener threw',
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

/** lua/request-cancel.lua's message: JSON {type: "cancel", user_id, run_id}. */
function parseCancelRequest(message: string): { userId: string; runId: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { type, user_id: userId, run_id: runId } = parsed as Record<string, unknown>;
  if (type !== 'cancel' || typeof userId !== 'string' || typeof runId !== 'string') return undefined;
  return { userId, runId };
}
