import { describe, expect, it, vi } from 'vitest';
import { TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 19, presence: GET /v1/users/:user_id/presence on any node lists the user's connections on every
// node, with the seq delivered to each and the seq its client reported seen (docs/protocol.md D,
// "Presence"). Two gateway processes (`node dist/cli.js serve`; `npm run build` first) on a
// redis-server of this test's own.
const available = await requireRedisServer('redis-nodes presence-across-nodes');

/** Presence is reported by a once-a-second sweep on each node. */
const WAIT = { timeout: 8_000, interval: 100 } as const;

describe.skipIf(!available)('presence across two gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({ keyPrefix: 'presence-test:' });

  async function presence(node: GatewayProcess, user: string) {
    const res = await fetch(`http://127.0.0.1:${node.port}/v1/users/${user}/presence`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      connections: number;
      nodes: { server_id: string; connections: number }[];
      devices: { conn_id: string; server_id: string; delivered_seq: number; seen_seq: number }[];
    };
  }

  it('answers on either node for the connections of both, with delivered and seen seqs', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    await connect(b, 'bob');
    for (const node of [a, b]) {
      const body = await presence(node, 'alice');
      expect(body.connections).toBe(2);
      expect(body.nodes.map((n) => `${n.server_id}:${n.connections}`).sort()).toEqual([
        'node-a:1',
        'node-b:1',
      ]);
    }
    const res = await fetch(`http://127.0.0.1:${a.port}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        events: [1, 2].map((n) => ({ user_id: 'alice', type: 'notification', data: { n } })),
      }),
    });
    expect(res.status).toBe(202);
    await onA.events(2);
    await onB.events(2);
    onB.send({ type: 'seen', seq: 2 });
    await vi.waitFor(async () => {
      const devices = (await presence(a, 'alice')).devices;
      expect(devices.find((d) => d.server_id === 'node-b')).toMatchObject({ delivered_seq: 2, seen_seq: 2 });
      expect(devices.find((d) => d.server_id === 'node-a')).toMatchObject({ delivered_seq: 2, seen_seq: 0 });
    }, WAIT);
    onB.ws.close();
    await onB.closedWith();
    await vi.waitFor(async () => {
      expect((await presence(a, 'alice')).nodes).toEqual([{ server_id: 'node-a', connections: 1 }]);
    }, WAIT);
  });
});
