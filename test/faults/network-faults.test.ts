import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../packages/server/src/observability/logger.js';
import { CloseCode } from '../../packages/server/src/protocol/close-codes.js';
import { CloseLog } from '../helpers/close-log.js';
import { Client, type Harness, startGateway } from '../helpers/gateway-harness.js';
import { RawWsReader } from '../helpers/raw-ws.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventsOf, eventWithSeq } from '../property/support/frame-wait.js';

/**
 * Network faults between a user and a real gateway, judged by what the user sees (docs/protocol.md §4–§6):
 * a stalled path delivers everything once it flows again; a path cut during a stall loses nothing after
 * a resume; a silent (half-open) peer is dropped by the heartbeat and its connection slot comes back; a
 * reader that stops reading is closed with 4013 and loses nothing after a resume. Cuts during a stream
 * and server restarts are covered by test/integration/client/ (the SDK through the same proxy).
 */

/** ws reports 1006 when a connection ends without a closing handshake. */
const ABNORMAL_CLOSURE = 1006;
const HEARTBEAT_MS = 100;

describe('network faults', () => {
  let h: Harness | undefined;
  let proxy: TcpProxy | undefined;
  const clients: Client[] = [];
  const raw: RawWsReader[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const r of raw.splice(0)) r.socket.destroy();
    await proxy?.close();
    proxy = undefined;
    await h?.close();
    h = undefined;
  });

  async function openVia(url: string, userId: string, query = ''): Promise<Client> {
    const g = h as Harness;
    const client = Client.open(`${url}${query}`, {
      headers: { Authorization: `Bearer ${await g.token(userId)}` },
    });
    clients.push(client);
    await client.next('welcome');
    return client;
  }

  async function publish(userId: string, from: number, count: number, pad = ''): Promise<void> {
    const events = Array.from({ length: count }, (_, i) => ({
      user_id: userId,
      type: 'notification',
      data: { n: from + i, pad },
    }));
    expect((await (h as Harness).publish({ events })).status).toBe(202);
  }

  const seqs = (client: Client): number[] => eventsOf(client).map((f) => f.seq as number);
  const range = (from: number, to: number): number[] =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i);

  describe('a stalled path', () => {
    it('delivers every event held during a stall, in order, once the path flows again', async () => {
      h = await startGateway();
      proxy = await TcpProxy.start({ targetPort: h.port });
      const client = await openVia(proxy.wsUrl, 'u1');
      await publish('u1', 1, 5);
      await eventWithSeq(client, 5, 'events before the stall');
      proxy.stall('down');
      await publish('u1', 6, 40);
      await proxy.waitForHeld('down', 40 * 60);
      // Nothing got through while stalled: the user really saw a stall.
      expect(seqs(client)).toEqual(range(1, 5));
      proxy.unstall('down');
      await eventWithSeq(client, 45, 'events after the stall');
      expect(seqs(client)).toEqual(range(1, 45));
      expect(client.closeCode).toBeUndefined();
    });

    it('loses nothing when the path is cut during a stall: the resume replays what was held and dropped', async () => {
      h = await startGateway();
      proxy = await TcpProxy.start({ targetPort: h.port });
      const client = await openVia(proxy.wsUrl, 'u1');
      const epoch = String(client.frames[0]?.data?.epoch);
      await publish('u1', 1, 10);
      await eventWithSeq(client, 10, 'events before the stall');
      proxy.stall('down');
      await publish('u1', 11, 20);
      await proxy.waitForHeld('down', 20 * 60);
      expect(proxy.cutAll()).toBe(1);
      expect(await client.closedWith()).toBe(ABNORMAL_CLOSURE);
      const last = seqs(client).at(-1) as number;
      expect(last).toBe(10);
      proxy.unstall('down');
      await publish('u1', 31, 5);
      const resumed = await openVia(proxy.wsUrl, 'u1', `?since=${last}&epoch=${epoch}`);
      expect(resumed.frames[0]?.data).toMatchObject({ resume: 'ok', seq: 35 });
      await eventWithSeq(resumed, 35, 'the resumed rest');
      expect([...seqs(client), ...seqs(resumed)]).toEqual(range(1, 35));
      expect(eventsOf(resumed).map((f) => (f.data as { n: number }).n)).toEqual(range(11, 35));
    });
  });

  describe('a half-open peer', () => {
    it('is terminated by the heartbeat and its connection slots come back, while a live connection stays', async () => {
      const limit = 3;
      h = await startGateway({ heartbeatMs: HEARTBEAT_MS, maxConnectionsPerUser: limit });
      proxy = await TcpProxy.start({ targetPort: h.port });
      const live = await openVia(h.wsUrl, 'u1');
      const dead = [await openVia(proxy.wsUrl, 'u1'), await openVia(proxy.wsUrl, 'u1')];
      expect(h.gateway.stats()).toMatchObject({ connections: 3, authenticated_connections: 3 });
      // The network drops everything silently both ways: no FIN, no RST, no pong.
      proxy.stall('down');
      proxy.stall('up');
      // §6: two unanswered pings and the server drops the peer; the proxy then ends its client side.
      for (const client of dead) expect(await client.closedWith(5000)).toBe(ABNORMAL_CLOSURE);
      expect(h.gateway.stats()).toMatchObject({ connections: 1, authenticated_connections: 1, users: 1 });
      // The slots are free again: the user can open up to the limit anew, and no further.
      const fresh = [await openVia(h.wsUrl, 'u1'), await openVia(h.wsUrl, 'u1')];
      const over = Client.open(h.wsUrl, { headers: { Authorization: `Bearer ${await h.token('u1')}` } });
      clients.push(over);
      expect(await over.closedWith()).toBe(CloseCode.TooManyConnections);
      // The live connection was never disturbed and still receives events, as do the fresh ones.
      await publish('u1', 1, 3);
      for (const client of [live, ...fresh]) {
        await eventWithSeq(client, 3, 'events after the dead peers went');
        expect(client.closeCode).toBeUndefined();
      }
    });
  });

  describe('a reader that stops reading', () => {
    const PAD = 'x'.repeat(16 * 1024);

    it('is closed with 4013 and, resumed from the last event it read, has every event exactly once', async () => {
      const log = new CloseLog();
      h = await startGateway(
        { maxBufferedBytes: 65_536 },
        { log: createLogger({ level: 'info', destination: log }) },
      );
      const healthy = await openVia(h.wsUrl, 'u1');
      const reader = await RawWsReader.open(h.port, '/ws', {
        Authorization: `Bearer ${await h.token('u1')}`,
      });
      raw.push(reader);
      reader.pause();
      // One event per publish, so each is written in its own tick; bounded at ~64 MiB in all.
      let published = 0;
      while (!log.seen(CloseCode.SlowConsumer) && published < 4000) {
        await publish('u1', published + 1, 1, PAD);
        published++;
      }
      await log.whenClosing(CloseCode.SlowConsumer);
      await reader.readToEnd();
      expect(reader.closeCode()).toBe(CloseCode.SlowConsumer);
      const [welcome, ...events] = reader.messages();
      // The reader may have joined after the first publishes: its stream starts after the welcome's seq.
      expect(welcome).toMatchObject({ type: 'welcome', data: { resume: 'none' } });
      const data = welcome?.data as { epoch: string; seq: number };
      const read = events.map((e) => e.seq as number);
      const last = read.at(-1) ?? data.seq;
      expect(read).toEqual(range(data.seq + 1, last));
      // §5: it resumes and nothing is lost.
      await publish('u1', published + 1, 2);
      published += 2;
      const resumed = await openVia(h.wsUrl, 'u1', `?since=${last}&epoch=${data.epoch}`);
      expect(resumed.frames[0]?.data).toMatchObject({ resume: 'ok' });
      await eventWithSeq(resumed, published, 'the resumed rest');
      expect([...read, ...seqs(resumed)]).toEqual(range(data.seq + 1, published));
      // The other connection of the same user kept reading and got everything.
      await eventWithSeq(healthy, published, 'the healthy connection');
      expect(seqs(healthy)).toEqual(range(1, published));
      expect(healthy.closeCode).toBeUndefined();
    });
  });
});
