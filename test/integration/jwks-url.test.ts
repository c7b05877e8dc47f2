import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../packages/server/src/config/config.js';
import { CloseCode, CloseReason } from '../../packages/server/src/protocol/close-codes.js';
import { claimsFor, generateSigningKey, type SigningKey, signWithKey } from '../helpers/auth-tokens.js';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';
import { captureLog } from '../helpers/log-capture.js';

/**
 * `--jwks-url` (docs/protocol.md D, "Keys from a JWKS URL") against a real gateway and a real HTTP server
 * that serves the key set: keys rotated in after start are accepted without a restart, and an
 * unreachable key set at start is a warning and /readyz 503 until it loads, never a crash.
 */

/** A JSON Web Key Set over HTTP whose answer a test changes; every request is counted and announced. */
class JwksServer {
  readonly server: Server;
  keys: JWK[] = [];
  /** Answered instead of the keys while set (e.g. 503: the identity provider is down). */
  failWith: number | undefined;
  requests = 0;

  constructor() {
    this.server = createServer((_req, res) => {
      this.requests++;
      if (this.failWith !== undefined) {
        res.writeHead(this.failWith).end();
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
      }
      this.server.emit('served');
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  /** Resolves after the next request has been answered. */
  nextRequest(): Promise<unknown> {
    return once(this.server, 'served');
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}

let keyA: SigningKey;
let keyB: SigningKey;
beforeAll(() => {
  keyA = generateSigningKey('RS256');
  keyB = generateSigningKey('ES256');
});

let h: Harness | undefined;
let jwks: JwksServer | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await h?.close();
  h = undefined;
  jwks?.close();
  jwks = undefined;
});

/** Opens a connection with `token` and returns the first thing that happens: its welcome or its close. */
async function outcome(harness: Harness, token: string): Promise<string> {
  const client = harness.open(token);
  try {
    await client.next('welcome');
    client.ws.close();
    return 'welcome';
  } catch {
    return `closed ${client.closeCode} ${client.closeReason}`;
  }
}

/** A gateway verifying tokens with `--jwks-url`, once its first fetch of the set is done. */
async function startLoaded(overrides: Partial<Config>): Promise<Harness> {
  const { log, waitFor } = captureLog('info');
  const harness = await startGateway({ jwtSecret: undefined, ...overrides }, { log });
  await waitFor((l) => l.msg === 'JSON Web Key Set loaded');
  return harness;
}

async function readyz(harness: Harness): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${harness.httpUrl}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe('--jwks-url', () => {
  it('accepts a token signed by a key rotated into the set after start, without a restart', async () => {
    jwks = new JwksServer();
    jwks.keys = [await keyA.publicJwk()];
    h = await startLoaded({ jwksUrl: await jwks.listen(), jwksCooldownMs: 0 });
    expect(await outcome(h, await signWithKey(keyA, claimsFor('u1')))).toBe('welcome');
    // Rotation: the provider publishes B beside A, then signs with B.
    jwks.keys = [await keyA.publicJwk(), await keyB.publicJwk()];
    const before = jwks.requests;
    expect(await outcome(h, await signWithKey(keyB, claimsFor('u2')))).toBe('welcome');
    expect(jwks.requests).toBe(before + 1); // the unknown kid made the gateway fetch the set again
    // A key the set never held is still refused, with 4001 like any bad signature.
    const stray = generateSigningKey('RS256');
    expect(await outcome(h, await signWithKey(stray, claimsFor('u3')))).toBe(
      `closed ${CloseCode.Unauthorized} ${CloseReason.InvalidToken}`,
    );
  });

  it('fetches again for an unknown kid at most once per --jwks-cooldown-ms', async () => {
    jwks = new JwksServer();
    jwks.keys = [await keyA.publicJwk()];
    h = await startLoaded({ jwksUrl: await jwks.listen(), jwksCooldownMs: 600_000 });
    jwks.keys = [await keyA.publicJwk(), await keyB.publicJwk()];
    const before = jwks.requests;
    // Within the cooldown, B's kid is unknown and the set is not fetched again: 4001.
    expect(await outcome(h, await signWithKey(keyB, claimsFor('u1')))).toBe(
      `closed ${CloseCode.Unauthorized} ${CloseReason.InvalidToken}`,
    );
    expect(jwks.requests).toBe(before);
    expect(await outcome(h, await signWithKey(keyA, claimsFor('u1')))).toBe('welcome');
  });

  it('starts with an unreachable key set: a warning, /readyz 503 and 1011 until it loads, then serves', async () => {
    jwks = new JwksServer();
    jwks.failWith = 503;
    const url = await jwks.listen();
    const { log, lines, waitFor } = captureLog('info');
    const failed = jwks.nextRequest();
    h = await startGateway({ jwtSecret: undefined, jwksUrl: url, jwksCooldownMs: 0 }, { log });
    await failed;
    expect(await readyz(h)).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'keys_unavailable' },
    });
    const warning = lines.find((l) => l.level === 40 && l.jwks_url === url);
    expect(warning).toBeDefined();
    expect(JSON.stringify(lines)).not.toContain('BEGIN'); // no key material, no token
    // A client is told to retry later (1011), not that its token is bad (4001).
    expect(await outcome(h, await signWithKey(keyA, claimsFor('u1')))).toBe(
      `closed ${CloseCode.InternalError} ${CloseReason.KeysUnavailable}`,
    );
    // The identity provider comes back: the retry loads the set, and the gateway turns ready.
    jwks.keys = [await keyA.publicJwk()];
    jwks.failWith = undefined;
    await waitFor((l) => l.msg === 'JSON Web Key Set loaded', 10_000);
    expect(await readyz(h)).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await outcome(h, await signWithKey(keyA, claimsFor('u1')))).toBe('welcome');
  });

  it('keeps using the keys it holds when a refetch of a stale set fails (the provider is down)', async () => {
    jwks = new JwksServer();
    jwks.keys = [await keyA.publicJwk()];
    h = await startLoaded({ jwksUrl: await jwks.listen(), jwksCooldownMs: 60_000, jwksCacheMaxAgeS: 1 });
    jwks.failWith = 500;
    // Only the clock is faked: two seconds on, the set is past its max age (1 s).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2000);
    const token = await signWithKey(keyA, claimsFor('u1', 3600));
    expect(await outcome(h, token)).toBe('welcome');
    expect(jwks.requests).toBe(2); // the stale set was fetched again, and that failed
    // Within the cooldown the failed provider is not asked again for every token.
    expect(await outcome(h, token)).toBe('welcome');
    expect(jwks.requests).toBe(2);
    expect(await readyz(h)).toEqual({ status: 200, body: { status: 'ready' } });
  });
});
