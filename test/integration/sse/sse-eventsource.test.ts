import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

/** Events published in all, in batches, with the stream cut after some of the batches. */
const EVENTS = 400;
const BATCH = 10;
const CUTS = 6;
const WAIT = { timeout: 15_000, interval: 5 } as const;

describe('a client nobody here wrote: the eventsource package (docs/protocol.md H)', () => {
  let gateway: Harness | undefined;
  let proxy: TcpProxy | undefined;
  let source: EventSource | undefined;

  afterEach(async () => {
    source?.close();
    await proxy?.close();
    await gateway?.close();
  });

  it('gets every event exactly once, in order, through a proxy that cuts the stream while events are published, by its own reconnects with Last-Event-ID', async () => {
    gateway = await startGateway({ sseRetryMs: 20 });
    const g = gateway;
    proxy = await TcpProxy.start({ targetPort: g.port });
    const token = await g.token('u1');
    const seqs: number[] = [];
    const resumes: string[] = [];
    const lastEventIds: (string | null)[] = [];
    source = new EventSource(`http://127.0.0.1:${proxy.port}/v1/events`, {
      // Node's EventSource may set headers through its fetch; the browser's uses a ticket instead.
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        lastEventIds.push(headers.get('last-event-id'));
        headers.set('Authorization', `Bearer ${token}`);
        return fetch(url, { ...init, headers });
      },
    });
    source.onmessage = (message) => {
      const frame = JSON.parse(message.data) as { type: string; seq?: number; data?: { resume?: string } };
      if (typeof frame.seq === 'number') seqs.push(frame.seq);
      else if (frame.type === 'welcome') resumes.push(frame.data?.resume ?? '');
    };
    await vi.waitFor(() => expect(resumes).toHaveLength(1), WAIT);
    const batches = EVENTS / BATCH;
    // Cut after evenly spread batches, while that batch is still in flight to the client.
    const cutAt = new Set(
      Array.from({ length: CUTS }, (_, i) => Math.floor(((i + 1) * batches) / (CUTS + 1))),
    );
    let cuts = 0;
    for (let b = 0; b < batches; b += 1) {
      const batch = Array.from({ length: BATCH }, (_, i) => ({
        user_id: 'u1',
        type: 'notification',
        data: { n: b * BATCH + i + 1 },
      }));
      const cut = cutAt.has(b);
      if (cut) {
        // The stream of the last reconnect is open (its welcome arrived) before it is cut in turn.
        await vi.waitFor(() => expect(resumes).toHaveLength(cuts + 1), WAIT);
        proxy.stall('down');
      }
      expect((await g.publish({ events: batch })).status).toBe(202);
      if (cut) {
        // The batch's bytes are held by the proxy and lost with the cut: only a resume can bring them.
        await proxy.waitForHeld('down');
        expect(proxy.cutAll()).toBe(1);
        proxy.unstall('down');
        cuts += 1;
      }
    }
    await vi.waitFor(() => expect(seqs.length).toBeGreaterThanOrEqual(EVENTS), WAIT);
    expect(cuts).toBe(CUTS);
    expect(seqs).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    // Every reconnect resumed from the id EventSource kept, and the gateway filled the gap exactly.
    expect(resumes).toEqual(['none', ...Array.from({ length: CUTS }, () => 'ok')]);
    expect(lastEventIds[0]).toBeNull();
    for (const id of lastEventIds.slice(1)) expect(id).toMatch(/^e_[\w-]+:\d+$/);
    expect(proxy.connections).toBe(CUTS + 1);
  });
});
