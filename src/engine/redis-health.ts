import type { Logger } from '../observability/logger.js';
import type { EngineHealth } from './engine.js';

/** The two connections the Redis engine needs: commands, and the node's one pub/sub subscriber. */
export type RedisConnectionRole = 'command' | 'subscriber';

/**
 * The Redis engine's health (PROTOCOL.md §8 /readyz): ok only while both connections are ready.
 * `connecting → ok ⇄ down` (or `connecting → down`). Listeners hear every flip of `ok`, and the log says once that Redis is
 * down and once that it is back (STYLE.md §14: a degraded dependency is `warn`), never once per request.
 * No I/O: the engine feeds it connection events.
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

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#current = { ok: false, reason: 'connecting to redis' };
  }

  /** Health right now. */
  get current(): EngineHealth {
    return this.#current;
  }

  /** A connection is ready (and, for commands, its scripts are loaded). */
  up(role: RedisConnectionRole): void {
    this.#down.delete(role);
    if (this.#down.size > 0 || this.#current.ok) return;
    this.#current = { ok: true };
    this.#reported = false;
    this.#logger.info(this.#wasUp ? 'redis reachable again' : 'redis connected');
    this.#wasUp = true;
    this.#emit();
  }

  /** A connection was lost or failed; the reason of the first loss of an outage is reported. */
  down(role: RedisConnectionRole, reason: string): void {
    this.#down.add(role);
    if (this.#reported) return;
    const wasOk = this.#current.ok;
    this.#current = { ok: false, reason: `redis unreachable: ${reason}` };
    this.#reported = true;
    this.#logger.warn({ reason }, 'redis unreachable');
    if (wasOk) this.#emit();
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
