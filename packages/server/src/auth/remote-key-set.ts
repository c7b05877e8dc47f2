import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type RemoteJWKSet,
} from 'jose';

/** Options of {@link RemoteKeySet}: `--jwks-url` and its timings. */
export interface RemoteKeySetOptions {
  readonly url: string;
  /** `--jwks-timeout-ms`: one fetch may take this long. */
  readonly timeoutMs: number;
  /** `--jwks-cooldown-ms`: least time between fetches caused by a token with an unknown `kid`. */
  readonly cooldownMs: number;
  /** `--jwks-cache-max-age-s` in ms: keys older than this are fetched again before use. */
  readonly cacheMaxAgeMs: number;
  /** Told of every failed fetch (the gateway logs it at warn); never of a token's own fault. */
  readonly onFetchFailed?: ((error: unknown) => void) | undefined;
  /** Told once, when the first fetch succeeded (the gateway logs it; /readyz turns 200). */
  readonly onLoaded?: (() => void) | undefined;
}

/** The key set could not be fetched and no earlier copy is held: the token cannot be checked now. */
export class KeysUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the JSON Web Key Set could not be fetched', { cause });
    this.name = 'KeysUnavailableError';
  }
}

/** First retry of a failed first load; doubled after each failure up to `max(cooldown, this)`. */
const FIRST_RETRY_MS = 500;
/** Never wait longer than this between two attempts of the first load. */
const MAX_RETRY_MS = 30_000;

/** jose error codes thrown while fetching a key set, as opposed to while matching a key in it. */
const FETCH_ERROR_CODES: ReadonlySet<string> = new Set([
  'ERR_JOSE_GENERIC', // not 200 OK, or not JSON
  'ERR_JWKS_TIMEOUT',
  'ERR_JWKS_INVALID', // JSON, but not a key set
]);

/**
 * An identity provider's JSON Web Key Set fetched over HTTP(S) (`--jwks-url`; Auth0, Clerk, Cognito,
 * Supabase and Keycloak publish one and rotate keys in it), through jose's `createRemoteJWKSet`: the set
 * is cached for `cacheMaxAgeMs`, fetched again when a token names a `kid` it lacks (at most once per
 * `cooldownMs`), and each fetch is bounded by `timeoutMs`. So a key rotated in after start is accepted
 * without a restart.
 *
 * Two things jose leaves to the caller:
 * - the first load is started by {@link start} and retried with a backoff until it succeeds; until then
 *   {@link loaded} is false (the gateway answers /readyz 503) and every token is refused as
 *   `keys_unavailable`, never as invalid;
 * - once loaded, a set past its age whose refetch fails is still used (stale if error): an outage of the
 *   provider must not log every user out. A refetch is then tried again after `cooldownMs` at the earliest.
 */
export class RemoteKeySet {
  readonly #remote: RemoteJWKSet;
  readonly #options: RemoteKeySetOptions;
  /** When a fetch last failed (ms since the epoch), to space refetches of a stale set. */
  #failedAtMs = Number.NEGATIVE_INFINITY;
  #loaded = false;
  #lastError: unknown;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RemoteKeySetOptions) {
    this.#options = options;
    this.#remote = createRemoteJWKSet(new URL(options.url), {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs,
    });
  }

  /** True once a key set has been fetched; it stays true (a stale set is used when a refetch fails). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Why the first load has not succeeded yet: the last fetch error's message (it may name the host). */
  get lastError(): string | undefined {
    if (this.#loaded || this.#lastError === undefined) return undefined;
    return this.#lastError instanceof Error ? this.#lastError.message : String(this.#lastError);
  }

  /** Starts the first load; failures are reported and retried with a backoff until {@link close}. */
  start(): void {
    if (this.#loaded || this.#retry !== undefined || this.#closed) return;
    void this.#attempt(FIRST_RETRY_MS);
  }

  /** Stops retrying the first load. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  /** The key for a token (jose's `JWTVerifyGetKey`); throws {@link KeysUnavailableError} when none can be had. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const held = this.#remote.jwks();
    if (
      held !== undefined &&
      !this.#remote.fresh &&
      Date.now() - this.#failedAtMs < this.#options.cooldownMs
    ) {
      // Stale, and the provider failed recently: use what is held rather than wait on it again.
      return createLocalJWKSet(held)(header, token);
    }
    try {
      const key = await this.#remote(header, token);
      this.#markLoaded();
      return key;
    } catch (error) {
      if (!isFetchError(error)) throw error; // the token's fault: no key for its kid, an unsupported alg…
      this.#fetchFailed(error);
      if (held === undefined) throw new KeysUnavailableError(error);
      return createLocalJWKSet(held)(header, token);
    }
  };

  async #attempt(delayMs: number): Promise<void> {
    this.#retry = undefined;
    try {
      await this.#remote.reload();
      this.#markLoaded();
    } catch (error) {
      this.#fetchFailed(error);
      if (this.#loaded || this.#closed) return;
      const ceiling = Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, this.#options.cooldownMs));
      this.#retry = setTimeout(() => void this.#attempt(Math.min(delayMs * 2, ceiling)), delayMs).unref();
    }
  }

  #markLoaded(): void {
    if (this.#loaded) return;
    this.#loaded = true;
    this.#lastError = undefined;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#options.onLoaded?.();
  }

  #fetchFailed(error: unknown): void {
    this.#failedAtMs = Date.now();
    this.#lastError = error;
    this.#options.onFetchFailed?.(error);
  }
}

/** A failure to fetch the set (network, timeout, status, body), not to find a key for a token in it. */
function isFetchError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? FETCH_ERROR_CODES.has(code) : true;
}
