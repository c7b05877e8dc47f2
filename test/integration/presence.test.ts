import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type AgentcastClient, connect } from '../../packages/client/src/index.js';
import { type Client, type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';

/**
 * GET /v1/users/:user_id/presence and delivery receipts (docs/protocol.md D, "Presence"; B, "Delivery
 * receipts") through a real gateway on the memory engine: every connection of the user with the seq
 * delivered to it and the seq its client reported seen, raw `seen` frames and the SDK's own.
 */

const auth = { Authorization: `Bearer ${TEST_API_KEY}` };
/** Presence is reported by a once-a-second sweep: allow a few of them on a loaded machine. */
const WAIT = { timeout: 5_000, interval: 50 } as const;

interface Presence {
  readonly user_id: string;
  readonly connections: number;
  readonly nodes: readonly { readonly server_id: string; readonly connections: number }[];
  readonly devices: readonly {
    readonly conn_id: string;
    readonly server_id: string;
    readonly transport: string;
    readonly connected_at: string;
    readonly delivered_seq: number;
    readonly seen_seq: number;
  }[];
}

let h: Harness | undefined;
let sdk: AgentcastClient | undefined;
afterEach(async () => {
  await sdk?.close();
  sdk = undefined;
  await h?.close();
  h = undefined;
});

async function presence(harness: Harness, user: string): Promise<Presence> {
  const res = await fetch(`${harness.httpUrl}/v1/users/${encodeURIComponent(user)}/presence`, {
    headers: auth,
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Presence;
}

function connectionId(client: Client): string {
  const welcome = client.frames.find((f) => f.type === 'welcome');
  if (welcome === undefined) throw new Error('no welcome yet');
  return (welcome.data as { connection_id: string }).connection_id;
}

async function publish(harness: Harness, user: string, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, n) => ({
    user_id: user,
    type: 'notification',
    data: { n },
  }));
  expect((await harness.publish({ events })).status).toBe(202);
}

describe('GET /v1/users/:user_id/presence', () => {
  it('lists every connection of the user and nobody else’s, per node and per device', async () => {
    h = await startGateway({ serverId: 'node-a' });
    const before = Date.now();
    const phone = await h.connect('alice');
    const laptop = await h.connect('alice');
    await h.connect('bob');
    const body = await presence(h, 'alice');
    expect(body).toMatchObject({
      user_id: 'alice',
      connections: 2,
      nodes: [{ server_id: 'node-a', connections: 2 }],
    });
    expect(body.devices.map((d) => d.conn_id).sort()).toEqual(
      [connectionId(phone), connectionId(laptop)].sort(),
    );
    for (const device of body.devices) {
      expect(device).toMatchObject({
        server_id: 'node-a',
        transport: 'websocket',
        delivered_seq: 0,
        seen_seq: 0,
      });
      expect(Date.parse(device.connected_at)).toBeGreaterThanOrEqual(before - 1000);
    }
    expect(await presence(h, 'carol')).toEqual({ user_id: 'carol', connections: 0, nodes: [], devices: [] });
  });

  it('reports the seq delivered to each connection and the seq its client reported seen', async () => {
    h = await startGateway();
    const reader = await h.connect('alice');
    const idle = await h.connect('alice');
    await publish(h, 'alice', 3);
    await reader.events(3);
    await idle.events(3);
    reader.send({ type: 'seen', seq: 2 });
    const harness = h;
    await vi.waitFor(async () => {
      const devices = (await presence(harness, 'alice')).devices;
      expect(devices.find((d) => d.conn_id === connectionId(reader))).toMatchObject({
        delivered_seq: 3,
        seen_seq: 2,
      });
      expect(devices.find((d) => d.conn_id === connectionId(idle))).toMatchObject({
        delivered_seq: 3,
        seen_seq: 0,
      });
    }, WAIT);
    // A seen beyond what was delivered counts as what was delivered; going back changes nothing.
    reader.send({ type: 'seen', seq: 99 });
    reader.send({ type: 'seen', seq: 1 });
    await vi.waitFor(async () => {
      const devices = (await presence(harness, 'alice')).devices;
      expect(devices.find((d) => d.conn_id === connectionId(reader))?.seen_seq).toBe(3);
    }, WAIT);
    // A seen frame is never answered.
    reader.send({ type: 'ping', id: 'after' });
    await reader.next('pong');
    expect(
      reader.frames.filter((f) => f.type !== 'welcome' && f.type !== 'pong' && f.seq === undefined),
    ).toEqual([]);
  });

  it('drops a connection from presence once it closed', async () => {
    h = await startGateway();
    const a = await h.connect('alice');
    await h.connect('alice');
    a.ws.close();
    await a.closedWith();
    const harness = h;
    await vi.waitFor(async () => expect((await presence(harness, 'alice')).connections).toBe(1), WAIT);
  });

  it('answers a malformed seen frame with INVALID_MESSAGE', async () => {
    h = await startGateway();
    const client = await h.connect('alice');
    client.send({ type: 'seen', seq: -1 });
    expect(await client.next('error')).toMatchObject({ data: { code: 'INVALID_MESSAGE' } });
  });

  it('answers 401 without the API key, 405 to POST and 400 to a user id over 128 characters', async () => {
    h = await startGateway();
    expect((await fetch(`${h.httpUrl}/v1/users/alice/presence`)).status).toBe(401);
    const post = await fetch(`${h.httpUrl}/v1/users/alice/presence`, { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const long = await fetch(`${h.httpUrl}/v1/users/${'u'.repeat(129)}/presence`, { headers: auth });
    expect(long.status).toBe(400);
  });
});

describe('delivery receipts from the SDK', () => {
  it('reports the last seq handed to the application, coalesced, so presence shows it seen', async () => {
    h = await startGateway();
    const token = await h.token('alice');
    const seen: number[] = [];
    const harness = h;
    sdk = connect({
      url: h.wsUrl,
      getToken: () => token,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    sdk.on('*', (event) => seen.push(event.seq));
    await vi.waitFor(async () => expect((await presence(harness, 'alice')).connections).toBe(1), WAIT);
    await publish(h, 'alice', 5);
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5]), WAIT);
    await vi.waitFor(async () => {
      expect((await presence(harness, 'alice')).devices[0]).toMatchObject({ delivered_seq: 5, seen_seq: 5 });
    }, WAIT);
  });
});
