import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, CloseReason } from '../../packages/server/src/protocol/close-codes.js';
import { nowS, signHs256 } from '../helpers/auth-tokens.js';
import { type Harness, startGateway, TEST_API_KEY, TEST_SECRET } from '../helpers/gateway-harness.js';
import { SseStream } from '../helpers/sse-stream.js';

/**
 * POST /v1/users/:user_id/disconnect (docs/protocol.md D, "Disconnecting a user") through a real gateway
 * on the memory engine: the user's connections close with 4010, nobody else's; with `revoke_before` the
 * user's older tokens are refused with 4001 on connect and on refresh, newer ones are welcome.
 */

const auth = { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function disconnect(
  harness: Harness,
  user: string,
  body?: unknown,
  headers: Record<string, string> = auth,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${harness.httpUrl}/v1/users/${encodeURIComponent(user)}/disconnect`, {
    method: 'POST',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

/** A token of `user` issued at `iat` (unix seconds), valid for an hour. */
function tokenIssuedAt(user: string, iat: number | undefined): Promise<string> {
  return signHs256(TEST_SECRET, { sub: user, exp: nowS() + 3600, ...(iat === undefined ? {} : { iat }) });
}

describe('POST /v1/users/:user_id/disconnect', () => {
  it('closes every connection of the user with 4010 and nobody else’s, answering 202', async () => {
    h = await startGateway();
    const alice1 = await h.connect('alice');
    const alice2 = await h.connect('alice');
    const bob = await h.connect('bob');
    expect(await disconnect(h, 'alice')).toEqual({
      status: 202,
      body: { user_id: 'alice', status: 'disconnecting' },
    });
    for (const client of [alice1, alice2]) {
      expect(await client.closure()).toEqual({
        code: CloseCode.DisconnectedByServer,
        reason: CloseReason.Disconnected,
      });
    }
    // Bob is untouched, and Alice may come straight back: no revocation was asked.
    bob.send({ type: 'ping', id: 'p' });
    expect(await bob.next('pong')).toMatchObject({ id: 'p' });
    await h.connect('alice');
  });

  it('uses the reason given as the close reason', async () => {
    h = await startGateway();
    const alice = await h.connect('alice');
    expect((await disconnect(h, 'alice', { reason: 'account suspended' })).status).toBe(202);
    expect(await alice.closure()).toEqual({ code: 4010, reason: 'account suspended' });
  });

  it('with revoke_before refuses the user’s tokens issued before it (4001), on connect and on refresh', async () => {
    h = await startGateway();
    const before = nowS() - 10;
    const open = h.open(await tokenIssuedAt('alice', before - 60));
    await open.next('welcome');
    const survivor = h.open(await tokenIssuedAt('alice', before));
    await survivor.next('welcome');
    expect(await disconnect(h, 'alice', { revoke_before: before })).toEqual({
      status: 202,
      body: { user_id: 'alice', status: 'disconnecting', revoke_before: before },
    });
    expect((await open.closure()).code).toBe(4010);
    expect((await survivor.closure()).code).toBe(4010);
    const refused = { code: CloseCode.Unauthorized, reason: CloseReason.TokenRevoked };
    // Issued before revoke_before, or with no iat at all: refused.
    for (const iat of [before - 1, undefined]) {
      const client = h.open(await tokenIssuedAt('alice', iat));
      expect(await client.closure()).toEqual(refused);
    }
    // Issued at or after it: welcome. Another user's old token: welcome.
    const fresh = h.open(await tokenIssuedAt('alice', before));
    await fresh.next('welcome');
    await h.open(await tokenIssuedAt('bob', before - 60)).next('welcome');
    // A refresh with an old token on the fresh connection is refused the same way.
    fresh.send({ type: 'auth', token: await tokenIssuedAt('alice', before - 5) });
    expect(await fresh.closure()).toEqual(refused);
  });

  it('refuses a revoked token on every way in: an SSE stream and the user’s HTTP routes too (the session core)', async () => {
    h = await startGateway();
    const before = nowS() - 10;
    await disconnect(h, 'alice', { revoke_before: before });
    const old = await tokenIssuedAt('alice', before - 60);
    const stream = await SseStream.open(`${h.httpUrl}/v1/events`, { Authorization: `Bearer ${old}` });
    expect(stream.status).toBe(401);
    expect(await stream.json()).toEqual({
      error: { code: 'UNAUTHORIZED', message: CloseReason.TokenRevoked },
    });
    const runs = await fetch(`${h.httpUrl}/v1/runs`, { headers: { Authorization: `Bearer ${old}` } });
    expect([runs.status, await runs.json()]).toEqual([
      401,
      { error: { code: 'UNAUTHORIZED', message: 'token revoked' } },
    ]);
    const message = await fetch(`${h.httpUrl}/v1/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${old}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: 'm1', text: 'hi' }),
    });
    expect(message.status).toBe(401);
    expect(((await message.json()) as { error: { message: string } }).error.message).toMatch(
      /^revoked token/,
    );
    // A token issued after the revocation still gets in everywhere.
    const fresh = await tokenIssuedAt('alice', before);
    const ok = await SseStream.open(`${h.httpUrl}/v1/events`, { Authorization: `Bearer ${fresh}` });
    expect(ok.status).toBe(200);
    ok.close();
    expect(
      (await fetch(`${h.httpUrl}/v1/runs`, { headers: { Authorization: `Bearer ${fresh}` } })).status,
    ).toBe(200);
  });

  it('never moves a revocation back: an older revoke_before keeps the newer one', async () => {
    h = await startGateway();
    const newer = nowS() - 10;
    await disconnect(h, 'alice', { revoke_before: newer });
    await disconnect(h, 'alice', { revoke_before: newer - 100 });
    const client = h.open(await tokenIssuedAt('alice', newer - 50));
    expect((await client.closure()).code).toBe(CloseCode.Unauthorized);
  });

  it.each([
    ['a body that is not JSON', '{', 400, 'INVALID_JSON', 'body is not valid JSON'],
    [
      'a JSON array',
      '[]',
      400,
      'INVALID_MESSAGE',
      'body: must be a JSON object {"reason"?, "revoke_before"?}',
    ],
    ['an unknown field', { why: 'x' }, 400, 'INVALID_MESSAGE', 'why: unknown field'],
    [
      'an empty reason',
      { reason: '' },
      400,
      'INVALID_MESSAGE',
      'reason: must be a string of 1..123 bytes of UTF-8',
    ],
    [
      'a reason over 123 bytes',
      { reason: 'é'.repeat(62) },
      400,
      'INVALID_MESSAGE',
      'reason: must be a string of 1..123 bytes of UTF-8',
    ],
    [
      'a negative revoke_before',
      { revoke_before: -1 },
      400,
      'INVALID_MESSAGE',
      'revoke_before: must be a non-negative integer (unix seconds)',
    ],
    [
      'a revoke_before in milliseconds as a string',
      { revoke_before: '1700000000' },
      400,
      'INVALID_MESSAGE',
      'revoke_before: must be a non-negative integer (unix seconds)',
    ],
  ])('answers %s with %i %s, closing nothing', async (_name, body, status, code, message) => {
    h = await startGateway();
    const alice = await h.connect('alice');
    expect(await disconnect(h, 'alice', body)).toEqual({ status, body: { error: { code, message } } });
    alice.send({ type: 'ping', id: 'still-open' });
    expect(await alice.next('pong')).toMatchObject({ id: 'still-open' });
  });

  it('answers 401 without the API key, 405 to GET and 400 to a user id over 128 characters', async () => {
    h = await startGateway();
    expect((await disconnect(h, 'alice', {}, { Authorization: 'Bearer wrong' })).status).toBe(401);
    const get = await fetch(`${h.httpUrl}/v1/users/alice/disconnect`, { headers: auth });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await disconnect(h, 'u'.repeat(129))).status).toBe(400);
  });
});
