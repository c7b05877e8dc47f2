import type { Logger } from '../observability/logger.js';
import type { EngineHealth } from './engine.js';

/** The two connections the Redis engine needs: commands, and the node's one pub/sub subscriber. */
export type RedisConnectionRole = 'command' | 'subscriber';

/**
 * The Redis engine's health (docs/protocol.md §8 /readyz): ok only while both connections are ready and
 * Redis answers commands. `connecting → ok ⇄ down` (or `connecting → down`), and `ok ⇄ stalled` when a
 * command got no reply in time although its connection is up (issue 13: a Redis frozen by a slow
 * command, `DEBUG SLEEP`, a fork): stalled until a command is answered again. Listeners hear every flip of
 * `ok`, and the log says once that Redis is down (or stalled) and once that it is back (a degraded
 * dependency is `warn`: docs/architecture.md, "Style"), never once per request. No I/O: the engine feeds it
 * connection events and command outcomes.
 */
export class RedisHealth {
  readonly #logger: Logger;
  /** Connections not ready. */
  readonly #down = new Set<RedisConnectionRole>(['command', 'subscriber']);
  readonly #listeners = new Set<(health: EngineHealth) => void>();
  #current: EngineHealth;
  #wasUp = false;
  /** Whether this outage was logged (once per outage, including a failed first connect). */
  #reported = false;
  /** Why commands are stalled (a command timed out on a ready connection); undefined when they are not. */
  #stall: string | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#current = { ok: false, reason: 'connecting to redis' };
  }

  /** Health right now. */
  get current(): EngineHealth {
    return this.#current;
  }

  /** Whether commands are stalled: a command timed out and none has been answered since. */
  get stalled(): boolean {
    return this.#stall !== undefined;
  }

  /** A connection is ready (and, for commands, its scripts are loaded: Redis answers again). */
  up(role: RedisConnectionRole): void {
    this.#down.delete(role);
    if (this.#down.size > 0 || this.#current.ok) return;
    this.#stall = undefined;
    this.#current = { ok: true };
    this.#reported = false;
    this.#logger.info(this.#wasUp ? 'redis reachable again' : 'redis connected');
    this.#wasUp = true;
    this.#emit();
  }

  /** A connection was lost or failed; the reason of the first loss of an outage is reported. */
  down(role: RedisConnectionRole, reason: string): void {
    this.#down.add(role);
    // An outage supersedes a stall: the connection's comeback (scripts loaded) proves Redis answers.
    this.#stall = undefined;
    if (this.#reported) return;
    const wasOk = this.#current.ok;
    this.#current = { ok: false, reason: `redis unreachable: ${reason}` };
    this.#reported = true;
    this.#logger.warn({ reason }, 'redis unreachable');
    if (wasOk) this.#emit();
  }

  /**
   * A command got no reply within the command timeout although its connection is up: not ok until a
   * command is answered ({@link answered}). Ignored while a connection is down (that outage is the news).
   */
  timedOut(reason: string): void {
    if (this.#down.size > 0 || this.#stall !== undefined) return;
    this.#stall = reason;
    this.#current = { ok: false, reason: `redis not answering: ${reason}` };
    this.#logger.warn({ reason }, 'redis not answering');
    this.#emit();
  }

  /** A command was answered: a stall (if any) is over. */
  answered(): void {
    if (this.#stall === undefined) return;
    this.#stall = undefined;
    if (this.#down.size > 0) return;
    this.#current = { ok: true };
    this.#logger.info('redis answering again');
    this.#emit();
  }

  /** Calls `listener` on every flip of `ok`; returns the remover. */
  onChange(listener: (health: EngineHealth) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#current);
      } catch (error) {
        // A listener is gateway code; its bug must not stop the others hearing the change.
        this.#logger.error({ err: error }, 'health listener threw');
      }
    }
  }
}
