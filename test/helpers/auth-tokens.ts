import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, type JWK, type JWTPayload, SignJWT } from 'jose';

/**
 * Token factories for auth tests (docs/protocol.md §2): HS256, RS256 and ES256 tokens with exactly the claims
 * a test asks for (no `sub` or `exp` is added behind its back), plus the hostile shapes the gateway must
 * refuse: `alg: none`, a payload swapped under a valid signature, HS256 signed with a public key.
 */

/** The current time in whole seconds, as JWT `exp` counts it. */
export function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

/** Claims of a valid token for `sub`, expiring in `ttlS` seconds. */
export function claimsFor(sub: string, ttlS = 3600): JWTPayload {
  return { sub, exp: nowS() + ttlS };
}

/**
 * An `exp` (whole seconds) between 0.4 and 1.4 s from now: far enough ahead that the handshake finishes
 * before it, close enough that a test awaiting the expiry stays short.
 */
export function expSoon(): number {
  const nowMs = Date.now();
  const next = Math.ceil(nowMs / 1000);
  return next * 1000 - nowMs >= 400 ? next : next + 1;
}

/** Signs `claims` with HS256 and `secret` (any string, including a PEM public key for the confusion attack). */
export function signHs256(secret: string, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret));
}

/** An asymmetric key pair for RS256 or ES256 tokens. */
export interface SigningKey {
  readonly alg: 'RS256' | 'ES256';
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** SPKI PEM, what `--jwt-public-key` reads. */
  readonly publicKeyPem: string;
  /** The public key as a JWK with `kid`, `alg` and `use`, for a JWKS file. */
  publicJwk(): Promise<JWK>;
}

/** Generates a fresh RS256 (RSA 2048) or ES256 (P-256) key pair. */
export function generateSigningKey(alg: 'RS256' | 'ES256'): SigningKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `k_${randomBytes(6).toString('hex')}`;
  return {
    alg,
    kid,
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: async () => ({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }),
  };
}

/** Signs `claims` with `key`; the header carries the key's `kid` so a JWKS can find it. */
export function signWithKey(key: SigningKey, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsecured JWT (`alg: none`, empty signature), the classic "accept anything" attack. */
export function unsignedToken(claims: JWTPayload): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
}

/** Keeps the header and signature of `token` and swaps in another payload (e.g. another `sub`). */
export function swapPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${base64url(claims)}.${signature}`;
}

/** A private temporary directory for key and JWKS files; `remove()` deletes it. */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'agentcast-auth-'));

  /** Writes `text` to `name` inside the directory and returns the file's path. */
  write(name: string, text: string): string {
    const file = join(this.path, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
