import type { JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { Config } from '../../packages/server/src/config/config.js';
import { CloseCode, CloseReason } from '../../packages/server/src/protocol/close-codes.js';
import {
  claimsFor,
  expSoon,
  generateSigningKey,
  nowS,
  type SigningKey,
  signHs256,
  signWithKey,
  swapPayload,
  TempDir,
  unsignedToken,
} from '../helpers/auth-tokens.js';
import { Client, type Harness, startGateway, TEST_SECRET } from '../helpers/gateway-harness.js';

/**
 * docs/protocol.md §2 against a real gateway: where a token may come from, which tokens are refused and with
 * which close code, the auth frame, refresh, and the close at expiry. Every refusal is followed by proof
 * that the gateway still serves everyone else.
 */

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'agentcast';
const FAST_AUTH_TIMEOUT_MS = 100;

let rsKey: SigningKey;
let otherRsKey: SigningKey;
let esKey: SigningKey;
let strayEsKey: SigningKey;
const dir = new TempDir();
/** Gateway overrides for each way of verifying tokens. */
let keyConfigs: Record<KeyConfig, Partial<Config>>;
type KeyConfig = 'hs' | 'hsIssAud' | 'rsPem' | 'esPem' | 'jwks';

beforeAll(async () => {
  rsKey = generateSigningKey('RS256');
  otherRsKey = generateSigningKey('RS256');
  esKey = generateSigningKey('ES256');
  strayEsKey = generateSigningKey('ES256');
  const jwks = { keys: [await rsKey.publicJwk(), await esKey.publicJwk()] };
  keyConfigs = {
    hs: {},
    hsIssAud: { jwtIssuer: ISSUER, jwtAudience: AUDIENCE },
    rsPem: { jwtSecret: undefined, jwtPublicKey: dir.write('rs256.pem', rsKey.publicKeyPem) },
    esPem: { jwtSecret: undefined, jwtPublicKey: dir.write('es256.pem', esKey.publicKeyPem) },
    jwks: { jwtSecret: undefined, jwks: dir.write('jwks.json', JSON.stringify(jwks)) },
  };
});
afterAll(() => dir.remove());

/** A token the gateway configured with `config` accepts. */
function validToken(config: KeyConfig, sub: string, ttlS = 3600): Promise<string> {
  const claims = claimsFor(sub, ttlS);
  switch (config) {
    case 'hs':
      return signHs256(TEST_SECRET, claims);
    case 'hsIssAud':
      return signHs256(TEST_SECRET, { ...claims, iss: ISSUER, aud: AUDIENCE });
    case 'rsPem':
      return signWithKey(rsKey, claims);
    case 'esPem':
    case 'jwks':
      return signWithKey(esKey, claims);
  }
}

describe('authentication (docs/protocol.md §2)', () => {
  let h: Harness | undefined;
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await h?.close();
    h = undefined;
  });

  async function start(overrides: Partial<Config> = {}): Promise<Harness> {
    h = await startGateway(overrides);
    return h;
  }

  function open(url: string, options: WebSocket.ClientOptions & { protocols?: string[] } = {}): Client {
    const client = Client.open(url, options);
    clients.push(client);
    return client;
  }

  function openWithToken(gateway: Harness, token: string): Client {
    return open(gateway.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
  }

  /** The gateway still serves: a fresh connection of another user gets its welcome and then a published event. */
  async function expectStillServing(gateway: Harness, token: string, userId: string): Promise<void> {
    const client = openWithToken(gateway, token);
    expect(await client.next('welcome')).toMatchObject({ data: { user_id: userId } });
    expect(
      (await gateway.publish({ user_id: userId, type: 'notification', data: { ok: true } })).status,
    ).toBe(202);
    const [event] = await client.events(1);
    expect(event).toMatchObject({ type: 'notification', data: { ok: true } });
  }

  /** Resolves on the first protocol ping that arrives at or after `atMs`: a way to let time pass without sleeping. */
  function pingAtOrAfter(ws: WebSocket, atMs: number, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.off('ping', onPing);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for a ping after ${new Date(atMs).toISOString()}`,
          ),
        );
      }, timeoutMs);
      const onPing = (): void => {
        if (Date.now() < atMs) return;
        clearTimeout(timer);
        ws.off('ping', onPing);
        resolve();
      };
      ws.on('ping', onPing);
    });
  }

  describe('token sources', () => {
    type Source = {
      readonly name: string;
      readonly allowQueryToken: boolean;
      readonly open: (gateway: Harness, token: string) => Client;
      readonly outcome: 'welcome' | typeof CloseCode.AuthTimeout;
    };
    const sources: Source[] = [
      {
        name: 'an Authorization: Bearer header',
        allowQueryToken: false,
        open: (g, t) => open(g.wsUrl, { headers: { Authorization: `Bearer ${t}` } }),
        outcome: 'welcome',
      },
      {
        name: 'a lower-case "bearer" scheme',
        allowQueryToken: false,
        open: (g, t) => open(g.wsUrl, { headers: { Authorization: `bearer ${t}` } }),
        outcome: 'welcome',
      },
      {
        name: 'a bearer.<jwt> subprotocol offered with agentcast.v1',
        allowQueryToken: false,
        open: (g, t) => open(g.wsUrl, { protocols: ['agentcast.v1', `bearer.${t}`] }),
        outcome: 'welcome',
      },
      {
        name: '?token= when allow_query_token is on',
        allowQueryToken: true,
        open: (g, t) => open(`${g.wsUrl}?token=${t}`),
        outcome: 'welcome',
      },
      {
        name: '?token= when allow_query_token is off (ignored: no auth frame follows)',
        allowQueryToken: false,
        open: (g, t) => open(`${g.wsUrl}?token=${t}`),
        outcome: CloseCode.AuthTimeout,
      },
      {
        name: 'an Authorization: Basic header (ignored)',
        allowQueryToken: true,
        open: (g, t) => open(g.wsUrl, { headers: { Authorization: `Basic ${t}` } }),
        outcome: CloseCode.AuthTimeout,
      },
      {
        name: 'Authorization: Bearer with no token (ignored)',
        allowQueryToken: true,
        open: (g) => open(g.wsUrl, { headers: { Authorization: 'Bearer ' } }),
        outcome: CloseCode.AuthTimeout,
      },
      {
        name: 'an empty bearer. subprotocol (ignored)',
        allowQueryToken: true,
        open: (g) => open(g.wsUrl, { protocols: ['agentcast.v1', 'bearer.'] }),
        outcome: CloseCode.AuthTimeout,
      },
    ];

    it.each(sources)('with $name: $outcome', async ({ allowQueryToken, open: openWith, outcome }) => {
      const g = await start({ allowQueryToken, authTimeoutMs: FAST_AUTH_TIMEOUT_MS });
      const client = openWith(g, await g.token('u1'));
      if (outcome === 'welcome') {
        const welcome = await client.next('welcome');
        expect(welcome.data).toMatchObject({ user_id: 'u1', seq: 0, resume: 'none', heartbeat_ms: 25_000 });
        expect(welcome.data?.connection_id).toMatch(/^c_/);
        expect(client.frames).toHaveLength(1);
      } else {
        expect(await client.closure()).toEqual({ code: outcome, reason: CloseReason.AuthTimeout });
        expect(client.frames).toEqual([]);
      }
      await expectStillServing(g, await g.token('bystander'), 'bystander');
    });

    it('selects agentcast.v1 and never echoes the bearer.<jwt> subprotocol', async () => {
      const g = await start();
      const client = open(g.wsUrl, { protocols: ['agentcast.v1', `bearer.${await g.token('u1')}`] });
      await client.next('welcome');
      expect(client.ws.protocol).toBe('agentcast.v1');
    });

    it('prefers the Authorization header over the subprotocol, and the subprotocol over ?token=', async () => {
      const g = await start({ allowQueryToken: true });
      const all = open(`${g.wsUrl}?token=${await g.token('from-query')}`, {
        headers: { Authorization: `Bearer ${await g.token('from-header')}` },
        protocols: ['agentcast.v1', `bearer.${await g.token('from-subprotocol')}`],
      });
      expect(await all.next('welcome')).toMatchObject({ data: { user_id: 'from-header' } });
      const noHeader = open(`${g.wsUrl}?token=${await g.token('from-query')}`, {
        protocols: ['agentcast.v1', `bearer.${await g.token('from-subprotocol')}`],
      });
      expect(await noHeader.next('welcome')).toMatchObject({ data: { user_id: 'from-subprotocol' } });
    });

    it('authenticates with an auth frame and resumes from its since and epoch', async () => {
      const g = await start();
      const published = await g.publish({
        events: [1, 2, 3].map((n) => ({ user_id: 'u1', type: 'notification', data: { n } })),
      });
      expect(published.status).toBe(202);
      const { results } = published.json as { results: { seq: number; epoch: string }[] };
      const epoch = results[0]?.epoch;
      const client = open(g.wsUrl);
      await client.opened();
      client.send({ type: 'auth', token: await g.token('u1'), since: 1, epoch });
      expect(await client.next('welcome')).toMatchObject({
        data: { user_id: 'u1', seq: 3, epoch, resume: 'ok' },
      });
      const events = await client.events(2);
      expect(events.map((e) => [e.seq, e.data?.n])).toEqual([
        [2, 2],
        [3, 3],
      ]);
    });

    it('answers resume "reset" to an auth frame naming an unknown epoch, and replays nothing', async () => {
      const g = await start();
      await g.publish({ user_id: 'u1', type: 'notification', data: {} });
      const client = open(g.wsUrl);
      await client.opened();
      client.send({ type: 'auth', token: await g.token('u1'), since: 1, epoch: 'e_not_this_one' });
      expect(await client.next('welcome')).toMatchObject({ data: { seq: 1, resume: 'reset' } });
      client.send({ type: 'ping', id: 'after-welcome' });
      expect(await client.next()).toMatchObject({ type: 'pong', id: 'after-welcome' });
    });
  });

  describe('refused tokens', () => {
    type Refusal = {
      readonly name: string;
      readonly config: KeyConfig;
      readonly token: () => Promise<string> | string;
      readonly code: typeof CloseCode.Unauthorized | typeof CloseCode.TokenExpired;
    };
    const hs = (claims: JWTPayload) => signHs256(TEST_SECRET, claims);
    const refusals: Refusal[] = [
      {
        name: 'a signature made with another secret',
        config: 'hs',
        token: () => signHs256('another-secret-that-is-long-enough!!', claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'a payload swapped under a valid signature',
        config: 'hs',
        token: async () => swapPayload(await hs(claimsFor('u1')), claimsFor('admin')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'alg: none',
        config: 'hs',
        token: () => unsignedToken(claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'an expired token',
        config: 'hs',
        token: () => hs({ sub: 'u1', exp: nowS() - 60 }),
        code: CloseCode.TokenExpired,
      },
      { name: 'no sub', config: 'hs', token: () => hs({ exp: nowS() + 60 }), code: CloseCode.Unauthorized },
      { name: 'an empty sub', config: 'hs', token: () => hs(claimsFor('')), code: CloseCode.Unauthorized },
      {
        name: 'a sub of 129 characters',
        config: 'hs',
        token: () => hs(claimsFor('u'.repeat(129))),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'a numeric sub',
        config: 'hs',
        token: () => hs({ sub: 42 as unknown as string, exp: nowS() + 60 }),
        code: CloseCode.Unauthorized,
      },
      { name: 'no exp', config: 'hs', token: () => hs({ sub: 'u1' }), code: CloseCode.Unauthorized },
      {
        name: 'a string exp',
        config: 'hs',
        token: () => hs({ sub: 'u1', exp: String(nowS() + 60) as unknown as number }),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'an nbf in the future',
        config: 'hs',
        token: () => hs({ ...claimsFor('u1'), nbf: nowS() + 600 }),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'text that is not a JWT',
        config: 'hs',
        token: () => 'not-a-jwt',
        code: CloseCode.Unauthorized,
      },
      {
        name: 'an RS256 token on an HS256 gateway',
        config: 'hs',
        token: () => signWithKey(rsKey, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'a wrong iss',
        config: 'hsIssAud',
        token: () => hs({ ...claimsFor('u1'), iss: 'https://evil.example', aud: AUDIENCE }),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'a wrong aud',
        config: 'hsIssAud',
        token: () => hs({ ...claimsFor('u1'), iss: ISSUER, aud: 'someone-else' }),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'no iss or aud when both are configured',
        config: 'hsIssAud',
        token: () => hs(claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'HS256 signed with the RS256 public key PEM as secret (HS/RS confusion)',
        config: 'rsPem',
        token: () => signHs256(rsKey.publicKeyPem, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'RS256 signed by another key',
        config: 'rsPem',
        token: () => signWithKey(otherRsKey, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'an ES256 token on an RS256 public key',
        config: 'rsPem',
        token: () => signWithKey(esKey, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'alg: none on an RS256 public key',
        config: 'rsPem',
        token: () => unsignedToken(claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'an expired RS256 token',
        config: 'rsPem',
        token: () => signWithKey(rsKey, { sub: 'u1', exp: nowS() - 60 }),
        code: CloseCode.TokenExpired,
      },
      {
        name: 'a key the JWKS does not hold',
        config: 'jwks',
        token: () => signWithKey(strayEsKey, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
      {
        name: 'HS256 on a JWKS gateway',
        config: 'jwks',
        token: () => signHs256(TEST_SECRET, claimsFor('u1')),
        code: CloseCode.Unauthorized,
      },
    ];

    it.each(refusals)('closes with $code for $name ($config) before any welcome', async (refusal) => {
      const g = await start(keyConfigs[refusal.config]);
      const client = openWithToken(g, await refusal.token());
      expect(await client.closure()).toEqual({
        code: refusal.code,
        reason: refusal.code === CloseCode.TokenExpired ? CloseReason.TokenExpired : CloseReason.InvalidToken,
      });
      expect(client.frames).toEqual([]);
      await expectStillServing(g, await validToken(refusal.config, 'bystander'), 'bystander');
    });

    it('counts refused tokens by reason in /metrics', async () => {
      const g = await start();
      const forged = openWithToken(g, unsignedToken(claimsFor('u1')));
      const expired = openWithToken(g, await signHs256(TEST_SECRET, { sub: 'u1', exp: nowS() - 60 }));
      expect([await forged.closedWith(), await expired.closedWith()]).toEqual([4001, 4002]);
      const metrics = await (await fetch(`${g.httpUrl}/metrics`)).text();
      expect(metrics).toContain('agentcast_auth_failures_total{reason="wrong_algorithm"} 1');
      expect(metrics).toContain('agentcast_auth_failures_total{reason="expired"} 1');
    });
  });

  describe('accepted keys', () => {
    const accepted: { name: string; config: KeyConfig; token: () => Promise<string> }[] = [
      {
        name: 'RS256 with --jwt-public-key',
        config: 'rsPem',
        token: () => signWithKey(rsKey, claimsFor('u1')),
      },
      {
        name: 'ES256 with --jwt-public-key',
        config: 'esPem',
        token: () => signWithKey(esKey, claimsFor('u1')),
      },
      { name: 'RS256 from a JWKS file', config: 'jwks', token: () => signWithKey(rsKey, claimsFor('u1')) },
      { name: 'ES256 from a JWKS file', config: 'jwks', token: () => signWithKey(esKey, claimsFor('u1')) },
      {
        name: 'the configured iss and aud',
        config: 'hsIssAud',
        token: () => signHs256(TEST_SECRET, { ...claimsFor('u1'), iss: ISSUER, aud: AUDIENCE }),
      },
      {
        name: 'an aud array that includes the configured one',
        config: 'hsIssAud',
        token: () => signHs256(TEST_SECRET, { ...claimsFor('u1'), iss: ISSUER, aud: ['other', AUDIENCE] }),
      },
    ];

    it.each(accepted)('welcomes a token signed with $name', async ({ config, token }) => {
      const g = await start(keyConfigs[config]);
      const client = openWithToken(g, await token());
      expect(await client.next('welcome')).toMatchObject({ data: { user_id: 'u1' } });
    });

    it('welcomes a sub of exactly 128 characters', async () => {
      const g = await start();
      const sub = 'u'.repeat(128);
      const client = openWithToken(g, await signHs256(TEST_SECRET, claimsFor(sub)));
      expect(await client.next('welcome')).toMatchObject({ data: { user_id: sub } });
    });
  });

  describe('before authentication', () => {
    const frames: { name: string; frame: string | Buffer; reason?: string }[] = [
      { name: 'a ping frame', frame: JSON.stringify({ type: 'ping', id: 'p1' }) },
      {
        name: 'a user_message frame',
        frame: JSON.stringify({ type: 'user_message', id: 'm1', data: { text: 'hi' } }),
      },
      { name: 'malformed JSON', frame: '{"type":"auth","token":' },
      { name: 'a frame of an unknown type', frame: JSON.stringify({ type: 'subscribe', channel: '*' }) },
      { name: 'an auth frame with an empty token', frame: JSON.stringify({ type: 'auth', token: '' }) },
      {
        name: 'an auth frame with a forged token',
        frame: JSON.stringify({ type: 'auth', token: 'a.b.c' }),
        reason: CloseReason.InvalidToken,
      },
      { name: 'a binary frame', frame: Buffer.from(JSON.stringify({ type: 'auth', token: 'x' })) },
    ];

    it.each(frames)('closes with 4001 when the first frame is $name', async ({ frame, reason }) => {
      const g = await start();
      const client = open(g.wsUrl);
      await client.opened();
      client.ws.send(frame);
      expect(await client.closure()).toEqual({
        code: CloseCode.Unauthorized,
        reason: reason ?? CloseReason.AuthenticateFirst,
      });
      expect(client.frames).toEqual([]);
      await expectStillServing(g, await g.token('bystander'), 'bystander');
    });

    it('closes with 4003 when no auth frame arrives within auth_timeout_ms', async () => {
      const g = await start({ authTimeoutMs: FAST_AUTH_TIMEOUT_MS });
      const openedAt = Date.now();
      const client = open(g.wsUrl);
      expect(await client.closure()).toEqual({
        code: CloseCode.AuthTimeout,
        reason: CloseReason.AuthTimeout,
      });
      expect(Date.now() - openedAt).toBeGreaterThanOrEqual(FAST_AUTH_TIMEOUT_MS - 5);
      expect(client.frames).toEqual([]);
      await expectStillServing(g, await g.token('bystander'), 'bystander');
    });

    it('does not close with 4003 once the auth frame has been accepted', async () => {
      // Long enough for the auth frame to arrive on a loaded machine: the point is what happens after it.
      const authTimeoutMs = 400;
      const g = await start({ authTimeoutMs, heartbeatMs: 100 });
      const token = await g.token('u1');
      const client = open(g.wsUrl);
      await client.opened();
      client.send({ type: 'auth', token });
      await client.next('welcome');
      await pingAtOrAfter(client.ws, Date.now() + 3 * authTimeoutMs);
      client.send({ type: 'ping', id: 'still-here' });
      expect(await client.next('pong')).toMatchObject({ id: 'still-here' });
    });
  });

  describe('token refresh and expiry', () => {
    it('answers a refresh with the same sub with auth_ok and keeps the connection', async () => {
      const g = await start();
      const client = await g.connect('u1');
      client.send({ type: 'auth', token: await g.token('u1', 7200) });
      expect(await client.next()).toEqual({ type: 'auth_ok' });
      client.send({ type: 'ping', id: 1 });
      expect(await client.next()).toMatchObject({ type: 'pong', id: 1 });
    });

    const refusedRefreshes: {
      name: string;
      token: () => Promise<string> | string;
      code: number;
      reason: string;
    }[] = [
      {
        name: 'another sub',
        token: () => signHs256(TEST_SECRET, claimsFor('u2')),
        code: CloseCode.Unauthorized,
        reason: CloseReason.RefreshOtherUser,
      },
      {
        name: 'a forged signature',
        token: () => signHs256('not-the-gateway-secret-at-all!!!!', claimsFor('u1')),
        code: CloseCode.Unauthorized,
        reason: CloseReason.RefreshRefused,
      },
      {
        name: 'alg: none',
        token: () => unsignedToken(claimsFor('u1')),
        code: CloseCode.Unauthorized,
        reason: CloseReason.RefreshRefused,
      },
      {
        name: 'an expired token',
        token: () => signHs256(TEST_SECRET, { sub: 'u1', exp: nowS() - 60 }),
        code: CloseCode.TokenExpired,
        reason: CloseReason.RefreshRefused,
      },
    ];

    it.each(refusedRefreshes)(
      'closes with $code when a refresh carries $name',
      async ({ token, code, reason }) => {
        const g = await start();
        const bystander = await g.connect('bystander');
        const client = await g.connect('u1');
        client.send({ type: 'auth', token: await token() });
        expect(await client.closure()).toEqual({ code, reason });
        expect(client.frames.map((f) => f.type)).toEqual(['welcome']);
        await g.publish({ user_id: 'bystander', type: 'notification', data: {} });
        expect(await bystander.events(1)).toHaveLength(1);
      },
    );

    it('closes with 4002 when the token expires while connected', async () => {
      const g = await start({ heartbeatMs: 100 });
      const exp = expSoon();
      const bystander = await g.connect('bystander');
      const client = openWithToken(g, await signHs256(TEST_SECRET, { sub: 'u1', exp }));
      await client.next('welcome');
      expect(await client.closure(4000)).toEqual({
        code: CloseCode.TokenExpired,
        reason: CloseReason.TokenExpired,
      });
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
      expect(bystander.closeCode).toBeUndefined();
    });

    it('keeps a connection open past its old expiry when a fresh token arrived in time', async () => {
      const g = await start({ heartbeatMs: 100 });
      const exp = expSoon();
      const client = openWithToken(g, await signHs256(TEST_SECRET, { sub: 'u1', exp }));
      await client.next('welcome');
      client.send({ type: 'auth', token: await g.token('u1') });
      expect(await client.next()).toEqual({ type: 'auth_ok' });
      // Several expiry sweeps (every heartbeat_ms here) run after the old exp before this resolves.
      await pingAtOrAfter(client.ws, exp * 1000 + 300);
      expect(client.closeCode).toBeUndefined();
      client.send({ type: 'ping', id: 'after-old-exp' });
      expect(await client.next('pong')).toMatchObject({ id: 'after-old-exp' });
    });
  });
});
