import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { Client, type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * docs/protocol.md §6, liveness: the server pings every heartbeat_ms and drops a connection that answered
 * none of the last two pings. Time passes by awaiting the server's own pings, never by sleeping.
 */

const HEARTBEAT_MS = 100;
/** ws reports 1006 when the connection ends without a closing handshake, as a terminate does. */
const ABNORMAL_CLOSURE = 1006;

/** Resolves once `ws` has received `count` protocol pings from now; the timeout names what was awaited. */
function pings(ws: WebSocket, count: number, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      ws.off('ping', onPing);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} pings, saw ${seen}`));
    }, timeoutMs);
    const onPing = (): void => {
      if (++seen < count) return;
      clearTimeout(timer);
      ws.off('ping', onPing);
      resolve();
    };
    ws.on('ping', onPing);
  });
}

describe('heartbeat (docs/protocol.md §6)', () => {
  let h: Harness | undefined;
  const opened: Client[] = [];

  afterEach(async () => {
    for (const client of opened.splice(0)) client.ws.terminate();
    await h?.close();
    h = undefined;
  });

  async function openSilent(g: Harness, userId: string): Promise<Client> {
    const client = Client.open(g.wsUrl, {
      headers: { Authorization: `Bearer ${await g.token(userId)}` },
      autoPong: false,
    });
    opened.push(client);
    await client.next('welcome');
    return client;
  }

  it('announces heartbeat_ms in the welcome frame', async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const client = await h.connect('u1');
    expect(client.frames[0]).toMatchObject({ type: 'welcome', data: { heartbeat_ms: HEARTBEAT_MS } });
  });

  it('terminates a connection that answers none of two pings, and keeps the others', async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const healthy = await h.connect('healthy');
    const silent = await openSilent(h, 'silent');
    let pingsSeen = 0;
    silent.ws.on('ping', () => pingsSeen++);
    expect(await silent.closedWith(3000)).toBe(ABNORMAL_CLOSURE);
    expect(pingsSeen).toBeGreaterThanOrEqual(2);
    expect(healthy.closeCode).toBeUndefined();
    await h.publish({ user_id: 'healthy', type: 'notification', data: {} });
    expect(await healthy.events(1)).toHaveLength(1);
  });

  it('keeps a connection that answers pings open across several intervals', async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const client = await h.connect('u1');
    await pings(client.ws, 5);
    expect(client.closeCode).toBeUndefined();
    client.send({ type: 'ping', id: 'after-five' });
    expect(await client.next('pong')).toMatchObject({ id: 'after-five' });
  });

  it('keeps a peer that answers every other ping open (never two unanswered in a row)', async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const client = await openSilent(h, 'u1');
    let received = 0;
    client.ws.on('ping', () => {
      // Answer only the second ping of each pair: never two unanswered in a row.
      if (++received % 2 === 0) client.ws.pong();
    });
    await pings(client.ws, 6);
    expect(client.closeCode).toBeUndefined();
    client.send({ type: 'ping', id: 'alive' });
    expect(await client.next('pong')).toMatchObject({ id: 'alive' });
  });

  it("answers the client's own WebSocket pings with pongs, and stays open", async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const client = await h.connect('u1');
    // The ping reaches the server's ConnectionSocket as an event its Connection does not take; ws answers it.
    const pong = new Promise<string>((resolve) => client.ws.once('pong', (data) => resolve(data.toString())));
    client.ws.ping('are-you-there');
    expect(await pong).toBe('are-you-there');
    client.send({ type: 'ping', id: 'still-open' });
    expect(await client.next('pong')).toMatchObject({ id: 'still-open' });
  });

  it('does not count frame-level pings as answers to protocol pings', async () => {
    h = await startGateway({ heartbeatMs: HEARTBEAT_MS });
    const client = await openSilent(h, 'u1');
    // The client keeps talking (JSON pings), but never answers the protocol pings.
    client.ws.on('ping', () => client.send({ type: 'ping' }));
    expect(await client.closedWith(3000)).toBe(ABNORMAL_CLOSURE);
  });
});
