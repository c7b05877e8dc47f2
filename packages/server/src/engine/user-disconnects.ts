import type { Logger } from '../observability/logger.js';
import type { DisconnectListener, Unsubscribe, UserDisconnect } from './engine.js';

/** A stored revocation: tokens issued before `before` (unix s) are refused until `expiresAtMs`. */
interface Revocation {
  readonly before: number;
  readonly expiresAtMs: number;
}

/**
 * The in-memory engine's side of {@link Engine.disconnectUser}: per-user token revocations with a time
 * to live, and the listeners of every node (the process is every node there is). No I/O and no timer:
 * time comes in as an argument, and the engine's sweep calls {@link sweep}.
 */
export class UserDisconnects {
  readonly #revocations = new Map<string, Revocation>();
  readonly #listeners = new Set<DisconnectListener>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Stores the revocation (never moving it back), then tells every listener on the next tick. */
  disconnect(request: UserDisconnect, ttlMs: number, nowMs: number): void {
    if (request.revokeBefore !== undefined) {
      const held = this.revokedBefore(request.userId, nowMs);
      this.#revocations.set(request.userId, {
        before: Math.max(held ?? request.revokeBefore, request.revokeBefore),
        expiresAtMs: nowMs + ttlMs,
      });
    }
    const listeners = [...this.#listeners];
    // As a published message arrives: after the caller's await, never inside it.
    queueMicrotask(() => {
      for (const listener of listeners) {
        try {
          listener(request);
        } catch (error) {
          this.#logger.error({ err: error, user_id: request.userId }, 'disconnect listener threw');
        }
      }
    });
  }

  /** Adds a listener; the returned function removes it. */
  listen(listener: DisconnectListener): Unsubscribe {
    // A wrapper, so the same function added twice is removed once per call.
    const entry: DisconnectListener = (request) => listener(request);
    this.#listeners.add(entry);
    return async () => {
      this.#listeners.delete(entry);
    };
  }

  /** The user's revocation still in force at `nowMs`, if any. */
  revokedBefore(userId: string, nowMs: number): number | undefined {
    const held = this.#revocations.get(userId);
    if (held === undefined) return undefined;
    if (held.expiresAtMs > nowMs) return held.before;
    this.#revocations.delete(userId);
    return undefined;
  }

  /** Forgets expired revocations. */
  sweep(nowMs: number): void {
    for (const [userId, held] of this.#revocations)
      if (held.expiresAtMs <= nowMs) this.#revocations.delete(userId);
  }

  clear(): void {
    this.#revocations.clear();
    this.#listeners.clear();
  }
}
