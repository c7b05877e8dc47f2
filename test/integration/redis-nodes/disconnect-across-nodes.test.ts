import { describe, expect, it } from 'vitest';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { nowS, signHs256 } from '../../helpers/auth-tokens.js';
import { Client, TEST_API_KEY, TEST_SECRET } from '../../helpers/gateway-harness.js';
import { useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 19, log a user out everywhere: POST /v1/users/:user_id/disconnect on node A closes the user's
// connections on node A and node B with 4010, and its revoke_before refuses the user's older tokens on
// both nodes (docs/protocol.md D, "Disconnecting a user"). Two gateway processes (`node dist/cli.js
// serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes disconnect-across-nodes');

describe.skipIf(!available)('disconnecting a user across two gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({ keyPrefix: 'disconnect-test:' });

  async function disconnect(node: GatewayProcess, user: string, body: unknown) {
    const res = await fetch(`http://127.0.0.1:${node.port}/v1/users/${user}/disconnect`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  }

  /** Connects `user` to `node` with a token issued at `iat`; resolves with the welcome or the close. */
  async function attempt(node: GatewayProcess, user: string, iat: number): Promise<string> {
    const token = await signHs256(TEST_SECRET, { sub: user, iat, exp: nowS() + 3600 });
    const client = Client.open(`ws://127.0.0.1:${node.port}/ws`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    try {
      await client.next('welcome');
      return 'welcome';
    } catch {
      return `${client.closeCode} ${client.closeReason}`;
    } finally {
      client.ws.terminate();
    }
  }

  it('closes the user’s connections on both nodes with 4010 and refuses older tokens on both', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    const bob = await connect(b, 'bob');
    const revokeBefore = nowS() - 5;
    expect(await disconnect(a, 'alice', { revoke_before: revokeBefore })).toEqual({
      status: 202,
      body: { user_id: 'alice', status: 'disconnecting', revoke_before: revokeBefore },
    });
    const disconnected = { code: CloseCode.DisconnectedByServer, reason: CloseReason.Disconnected };
    expect(await onA.closure()).toEqual(disconnected);
    expect(await onB.closure()).toEqual(disconnected);
    bob.send({ type: 'ping', id: 'p' });
    expect(await bob.next('pong')).toMatchObject({ id: 'p' });
    const revoked = `${CloseCode.Unauthorized} ${CloseReason.TokenRevoked}`;
    for (const node of [a, b]) {
      expect(await attempt(node, 'alice', revokeBefore - 1)).toBe(revoked);
      expect(await attempt(node, 'alice', revokeBefore)).toBe('welcome');
    }
  });
});
