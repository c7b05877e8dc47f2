import { decodeJwtExp } from './decode-jwt-exp.js';

/**
 * The longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days); browsers and Node run longer ones
 * at once, which would turn a long-lived token into a refresh loop.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** Options of {@link TokenSource}. */
export interface TokenSourceOptions {
  readonly getToken: () => string | Promise<string>;
  /** Treat a token as stale this long before its `exp`. */
  readonly refreshBeforeExpiryMs: number;
  readonly now: () => number;
}

/**
 * The app's token, cached between connections and replaced when the server refuses it or when it is
 * about to expire (docs/protocol.md §2). Knows nothing about sockets.
 */
export class TokenSource {
  readonly #options: TokenSourceOptions;
  #token: string | undefined;

  constructor(options: TokenSourceOptions) {
    this.#options = options;
  }

  /** The cached token while it has more than `refreshBeforeExpiryMs` left, else a fresh one. */
  async current(): Promise<string> {
    const cached = this.#token;
    if (cached !== undefined && this.#msLeft(cached) > this.#options.refreshBeforeExpiryMs) return cached;
    return this.fresh();
  }

  /** A new token from `getToken()`, which becomes the cached one. */
  async fresh(): Promise<string> {
    const token = await this.#options.getToken();
    if (typeof token !== 'string' || token === '')
      throw new TypeError('getToken() must return a non-empty string');
    this.#token = token;
    return token;
  }

  /** Forgets the cached token: the server refused it. */
  invalidate(): void {
    this.#token = undefined;
  }

  /**
   * When to refresh the cached token: `refreshBeforeExpiryMs` before it expires, but never sooner than
   * half its remaining lifetime, so a token that lives less than `refreshBeforeExpiryMs` cannot cause a
   * refresh loop. Undefined when there is nothing to refresh (no token, no `exp`, already expired:
   * the server will close with 4002 and the reconnect fetches a new one). Capped at
   * {@link MAX_TIMER_DELAY_MS}: a token valid for months is refreshed after about 24.8 days.
   */
  refreshDelay(): number | undefined {
    if (this.#token === undefined) return undefined;
    const left = this.#msLeft(this.#token);
    if (left <= 0 || left === Number.POSITIVE_INFINITY) return undefined;
    return Math.min(MAX_TIMER_DELAY_MS, Math.max(left - this.#options.refreshBeforeExpiryMs, left / 2));
  }

  #msLeft(token: string): number {
    const exp = decodeJwtExp(token);
    return exp === undefined ? Number.POSITIVE_INFINITY : exp * 1000 - this.#options.now();
  }
}
