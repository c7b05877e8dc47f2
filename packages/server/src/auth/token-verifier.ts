import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { ID_MAX_LENGTH, isWellFormed } from '../protocol/events.js';
import { KeysUnavailableError, RemoteKeySet, type RemoteKeySetOptions } from './remote-key-set.js';

/** A verified token: who it is for and when it stops being valid. */
export interface VerifiedToken {
  readonly userId: string;
  /** `exp` in milliseconds since the epoch. */
  readonly expiresAtMs: number;
  /** `iat` in seconds since the epoch, when the token has one (a revocation compares it, docs/protocol.md D). */
  readonly issuedAtS?: number | undefined;
}

/**
 * Why a token was refused: `expired` closes with 4002, `keys_unavailable` (the `--jwks-url` key set could
 * not be fetched: not the token's fault) with 1011, everything else with 4001 (docs/protocol.md §2, A).
 */
export type TokenRejection =
  | 'expired'
  | 'keys_unavailable'
  | 'invalid_signature'
  | 'invalid_claims'
  | 'malformed'
  | 'wrong_algorithm';

export type TokenVerification =
  | { readonly ok: true; readonly token: VerifiedToken }
  | {
      readonly ok: false;
      readonly reason: TokenRejection;
      /** For `invalid_claims`, the claim that failed (`iss`, `aud`, `sub`, `nbf`…), when known. */
      readonly claim?: string;
    };

/** Where the verification key comes from: exactly one of the four. */
export type TokenKeySource =
  | { readonly kind: 'secret'; readonly secret: string }
  | { readonly kind: 'publicKey'; readonly pem: string }
  | { readonly kind: 'jwks'; readonly jwks: JSONWebKeySet }
  | ({ readonly kind: 'remoteJwks' } & RemoteKeySetOptions);

/** Options for {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  readonly key: TokenKeySource;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

/**
 * Verifies client JWTs (docs/protocol.md §2) with jose. The accepted algorithms are fixed by the key kind,
 * never read from the token: HS256 for a secret, RS256 or ES256 for public keys. That rules out
 * `alg: none` and HS/RS confusion (an RS public key used as an HMAC secret).
 */
export class TokenVerifier {
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #issuer: string | undefined;
  readonly #audience: string | undefined;
  /** The `--jwks-url` key set; undefined for the other key sources, which are loaded at construction. */
  readonly keySet: RemoteKeySet | undefined;

  constructor(options: TokenVerifierOptions) {
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    const { key } = options;
    if (key.kind === 'secret') {
      if (key.secret.length === 0) throw new TypeError('TokenVerifier: the JWT secret must not be empty');
      this.#key = new TextEncoder().encode(key.secret);
      this.#algorithms = ['HS256'];
    } else if (key.kind === 'publicKey') {
      const publicKey = createPublicKey(key.pem);
      this.#key = publicKey;
      this.#algorithms = publicKey.asymmetricKeyType === 'ec' ? ['ES256'] : ['RS256'];
    } else if (key.kind === 'jwks') {
      this.#key = createLocalJWKSet(key.jwks);
      this.#algorithms = ['RS256', 'ES256'];
    } else {
      this.keySet = new RemoteKeySet(key);
      this.#key = this.keySet.getKey;
      this.#algorithms = ['RS256', 'ES256'];
    }
  }

  /**
   * Verifies signature, `exp` (required), `sub` (1..128 chars, well-formed UTF-16: a lone surrogate would
   * share Redis keys with the user whose id has U+FFFD there) and, when configured, `iss` and `aud`.
   */
  async verify(token: string): Promise<TokenVerification> {
    try {
      const { payload } = await jwtVerify(token, this.#key as Uint8Array, {
        algorithms: this.#algorithms,
        issuer: this.#issuer,
        audience: this.#audience,
        requiredClaims: ['exp', 'sub'],
      });
      const sub = payload.sub;
      if (
        typeof sub !== 'string' ||
        sub.length === 0 ||
        sub.length > ID_MAX_LENGTH ||
        !isWellFormed(sub) ||
        typeof payload.exp !== 'number'
      ) {
        return {
          ok: false,
          reason: 'invalid_claims',
          claim: typeof payload.exp !== 'number' ? 'exp' : 'sub',
        };
      }
      return {
        ok: true,
        token: { userId: sub, expiresAtMs: payload.exp * 1000, issuedAtS: payload.iat },
      };
    } catch (err) {
      const claim = err instanceof errors.JWTClaimValidationFailed ? err.claim : undefined;
      return { ok: false, reason: rejectionOf(err), ...(claim === undefined ? {} : { claim }) };
    }
  }
}

function rejectionOf(err: unknown): TokenRejection {
  if (err instanceof KeysUnavailableError) return 'keys_unavailable';
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return 'invalid_claims';
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return 'wrong_algorithm';
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return 'invalid_signature';
  }
  return 'malformed';
}

/** jose's own defaults, for callers that give no `--jwks-*` timing (the config always does). */
const JWKS_DEFAULTS = { timeoutMs: 5000, cooldownMs: 30_000, cacheMaxAgeS: 600 } as const;

/**
 * Reads the key material named by the config into a {@link TokenKeySource}, refusing at start-up what
 * could never verify a token (AC_ERR_CONFIG_INVALID, the flag and file named): a file that is not a PEM
 * public key, a key that is neither RSA nor EC P-256, a key set without one usable RS256/ES256 key.
 * Otherwise the gateway would start and then refuse every client with 4001.
 */
export function readTokenKeySource(options: {
  readonly jwtSecret?: string | undefined;
  readonly jwtPublicKey?: string | undefined;
  readonly jwks?: string | undefined;
  readonly jwksUrl?: string | undefined;
  readonly jwksTimeoutMs?: number;
  readonly jwksCooldownMs?: number;
  readonly jwksCacheMaxAgeS?: number;
}): TokenKeySource | undefined {
  if (options.jwtSecret !== undefined) return { kind: 'secret', secret: options.jwtSecret };
  if (options.jwksUrl !== undefined) {
    // Fetched later (RemoteKeySet.start): an unreachable URL is not a configuration error.
    return {
      kind: 'remoteJwks',
      url: options.jwksUrl,
      timeoutMs: options.jwksTimeoutMs ?? JWKS_DEFAULTS.timeoutMs,
      cooldownMs: options.jwksCooldownMs ?? JWKS_DEFAULTS.cooldownMs,
      cacheMaxAgeMs: (options.jwksCacheMaxAgeS ?? JWKS_DEFAULTS.cacheMaxAgeS) * 1000,
    };
  }
  if (options.jwtPublicKey !== undefined) {
    const path = options.jwtPublicKey;
    return { kind: 'publicKey', pem: checked(`--jwt-public-key "${path}"`, () => readPublicKey(path)) };
  }
  if (options.jwks !== undefined) {
    const path = options.jwks;
    return { kind: 'jwks', jwks: checked(`--jwks "${path}"`, () => readKeySet(path)) };
  }
  return undefined;
}

/** Runs `read`, turning what it throws into AC_ERR_CONFIG_INVALID for `where` (no stack, no OpenSSL text). */
function checked<T>(where: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new AgentcastError(
      AgentcastErrorCode.ConfigInvalid,
      `invalid configuration:\n  - ${where}: ${err instanceof KeyFileError ? err.message : `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`}`,
      { cause: err },
    );
  }
}

/** A key file that was read but holds no usable key; its message is for the operator. */
class KeyFileError extends Error {}

function readPublicKey(path: string): string {
  const pem = readFileSync(path, 'utf8');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new KeyFileError('not a PEM public key; expected "-----BEGIN PUBLIC KEY-----" (SPKI)', {
      cause: err,
    });
  }
  if (!isUsableKey(key)) {
    throw new KeyFileError('the key is neither RSA nor EC P-256; RS256 and ES256 tokens need one of them');
  }
  return pem;
}

function readKeySet(path: string): JSONWebKeySet {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new KeyFileError('not JSON; expected a JSON Web Key Set {"keys":[…]}', { cause: err });
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(keys)) {
    throw new KeyFileError('not a JSON Web Key Set; it needs a "keys" array');
  }
  if (!keys.some(isUsableJwk)) {
    throw new KeyFileError(
      `none of its ${keys.length} keys can verify RS256 or ES256 tokens; it needs an RSA or EC P-256 public key (use "sig", alg RS256/ES256 or none)`,
    );
  }
  return parsed as JSONWebKeySet;
}

/** What jose's key set would pick for an RS256 or ES256 token: a public RSA or EC P-256 signing key. */
function isUsableJwk(jwk: unknown): boolean {
  if (typeof jwk !== 'object' || jwk === null) return false;
  const { use, alg } = jwk as { use?: unknown; alg?: unknown };
  if (use !== undefined && use !== 'sig') return false;
  if (alg !== undefined && alg !== 'RS256' && alg !== 'ES256') return false;
  try {
    return isUsableKey(createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }));
  } catch {
    // Not a key Node can import (wrong kty, missing members): not usable, which is what we report.
    return false;
  }
}

function isUsableKey(key: KeyObject): boolean {
  if (key.asymmetricKeyType === 'rsa') return true;
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}
