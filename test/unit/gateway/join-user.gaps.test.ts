import { afterEach, describe, expect, it } from 'vitest';
import type {
  EventListener,
  HistoryQuery,
  HistoryResult,
  Unsubscribe,
} from '../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { gate, type Hold } from '../../helpers/deferred.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { Client, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';
import { eventsOf, eventWithSeq } from '../../property/support/frame-wait.js';

/**
 * joinUser (docs/protocol.md §4) on the paths the memory engine never takes by itself: a history read in
 * several pages, a history that resets between two pages, and a connection that goes away while it is
 * subscribing or reading history. Faults are injected at exact points by a DelegatingEngine.
 */

/** Pages history by `pageSize`, optionally answers reset from the `resetOnCall`-th read, and can hold reads. */
class PagingEngine extends DelegatingEngine {
  pageSize = Number.POSITIVE_INFINITY;
  resetOnCall = Number.POSITIVE_INFINITY;
  calls = 0;
  /** While set, subscribe or history waits for it. */
  hold: (Hold & { readonly on: 'subscribe' | 'history' }) | undefined;

  constructor() {
    super(new MemoryEngine());
  }

  override async subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    const hold = this.hold;
    if (hold?.on === 'subscribe') {
      hold.reached();
      await hold.until;
    }
    return super.subscribe(userId, listener);
  }

  override async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    this.calls++;
    const hold = this.hold;
    if (hold?.on === 'history') {
      hold.reached();
      await hold.until;
    }
    const result = await super.history(userId, { ...query, limit: Math.min(query.limit, this.pageSize) });
    if (this.calls >= this.resetOnCall) return { kind: 'reset', head: result.head, reason: 'expired' };
    return result;
  }
}

describe('joinUser', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function publish(count: number): Promise<void> {
    const events = Array.from({ length: count }, (_, n) => ({
      user_id: 'u1',
      type: 'notification',
      data: { n },
    }));
    expect((await (h as Harness).publish({ events })).status).toBe(202);
  }

  it('replays a history read in several pages exactly, then goes live', async () => {
    const engine = new PagingEngine();
    h = await startGateway({}, { engine });
    await publish(10);
    const epoch = (await engine.head('u1')).epoch;
    engine.pageSize = 3;
    const client = await h.connect('u1', { query: `?since=1&epoch=${epoch}` });
    expect(client.frames[0]?.data).toMatchObject({ resume: 'ok', seq: 10 });
    await publish(1);
    await eventWithSeq(client, 11, 'the live event after the pages');
    expect(eventsOf(client).map((f) => f.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('closes with 1011 when the history resets between two pages, having sent only the exact first page', async () => {
    const engine = new PagingEngine();
    h = await startGateway({}, { engine });
    await publish(10);
    const epoch = (await engine.head('u1')).epoch;
    engine.pageSize = 3;
    engine.calls = 0;
    engine.resetOnCall = 2;
    const client = Client.open(`${h.wsUrl}?since=0&epoch=${epoch}`, {
      headers: { Authorization: `Bearer ${await h.token('u1')}` },
    });
    expect(await client.closure()).toEqual({
      code: CloseCode.InternalError,
      reason: CloseReason.HistoryChanged,
    });
    // What did arrive was exact: the first page, in order.
    expect(eventsOf(client).map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it.each(['subscribe', 'history'] as const)(
    'lets a connection that closes while waiting on %s go without a welcome, freeing its slot',
    async (on) => {
      const engine = new PagingEngine();
      h = await startGateway({ maxConnectionsPerUser: 1 }, { engine });
      const held = gate();
      await publish(3);
      engine.hold = { on, ...held };
      const client = Client.open(`${h.wsUrl}?since=0`, {
        headers: { Authorization: `Bearer ${await h.token('u1')}` },
      });
      await held.wasReached;
      client.ws.terminate();
      // The gateway has seen the close while the engine call is still pending.
      await expect.poll(() => h?.gateway.stats().connections).toBe(0);
      engine.hold = undefined;
      held.open();
      expect(client.frames).toEqual([]);
      // Nothing more is read or counted for a connection that is gone: no history after a held
      // subscribe, no replay after a held history read.
      await expect.poll(() => h?.gateway.stats().users).toBe(0);
      expect(engine.calls).toBe(on === 'subscribe' ? 0 : 1);
      expect(await metricValue(h.gateway.metrics, 'agentcast_events_delivered_total')).toBe(0);
      // The slot and the hub entry are gone: the one allowed connection can be opened again.
      const again = await h.connect('u1');
      expect(again.frames[0]).toMatchObject({ type: 'welcome' });
      expect(h.gateway.stats()).toMatchObject({ connections: 1, authenticated_connections: 1, users: 1 });
    },
  );
});
