import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryResult } from '../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import { CloseCode, CloseReason } from '../../packages/server/src/protocol/close-codes.js';
import { gate } from '../helpers/deferred.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { Client, type Harness, startGateway } from '../helpers/gateway-harness.js';
import { metricValue } from '../helpers/metric-value.js';
import { eventsOf, eventWithSeq } from '../property/support/frame-wait.js';

/**
 * Resume (docs/protocol.md §4) through a real gateway: the replay after `since`, the resume outcomes, where
 * since and epoch come from, and the paths the memory engine never takes by itself, with faults injected
 * at exact points by a DelegatingEngine: races between replay and live events, a history read in pages,
 * a history that resets between two pages, and a connection that goes away while it joins.
 */

async function publishMany(h: Harness, user: string, from: number, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => ({
    user_id: user,
    type: 'notification',
    data: { n: from + i },
  }));
  const res = await h.publish({ events });
  expect(res.status).toBe(202);
}

describe('resume (docs/protocol.md §4)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('replays everything after since, then live events, with no gap and no duplicate', async () => {
    h = await startGateway();
    const first = await h.connect('u1');
    await publishMany(h, 'u1', 1, 30);
    const seen = await first.events(30);
    const epoch = (first.frames[0]?.data as { epoch: string } | undefined)?.epoch;
    // Disconnect mid-stream: the client saw up to seq 12 when it dropped.
    first.ws.terminate();
    await publishMany(h, 'u1', 31, 20);
    const again = await h.connect('u1', { query: `?since=12&epoch=${epoch}` });
    expect(again.frames[0]).toMatchObject({ type: 'welcome', data: { resume: 'ok', seq: 50, epoch } });
    await publishMany(h, 'u1', 51, 10);
    const replayed = await again.events(48);
    expect(replayed.map((f) => f.seq)).toEqual(Array.from({ length: 48 }, (_, i) => i + 13));
    expect(
      seen
        .slice(0, 12)
        .concat(replayed)
        .map((f) => (f.data as { n: number }).n),
    ).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('stays exact while events are published concurrently with the replay', async () => {
    h = await startGateway({ historySize: 5000 });
    await publishMany(h, 'u1', 1, 500);
    const epoch = (await h.gateway.engine.head('u1')).epoch;
    const token = await h.token('u1');
    // Publish 500 more while the client resumes from seq 100.
    const client = Client.open(`${h.wsUrl}?since=100&epoch=${epoch}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const publishing = (async () => {
      for (let i = 0; i < 50; i++) await publishMany(h, 'u1', 501 + i * 10, 10);
    })();
    await publishing;
    expect(await client.next('welcome')).toMatchObject({ data: { resume: 'ok' } });
    const events = await client.events(900);
    expect(events.map((f) => f.seq)).toEqual(Array.from({ length: 900 }, (_, i) => i + 101));
  });

  it.each([
    ['an unknown epoch', 5, 'e_not-the-epoch', 'reset'],
    ['a since beyond the latest seq', 99, undefined, 'reset'],
    ['a since older than the history kept', 1, undefined, 'reset'],
    ['the latest seq', 20, undefined, 'ok'],
  ])('answers %s with the matching resume outcome', async (_name, since, epochOverride, expected) => {
    h = await startGateway({ historySize: 10 });
    await publishMany(h, 'u1', 1, 20);
    const epoch = epochOverride ?? (await h.gateway.engine.head('u1')).epoch;
    const client = await h.connect('u1', { query: `?since=${since}&epoch=${epoch}` });
    expect(client.frames[0]).toMatchObject({ type: 'welcome', data: { resume: expected, seq: 20 } });
    // After a reset nothing is replayed; live events continue from the head.
    await publishMany(h, 'u1', 21, 1);
    const [next] = await client.events(1);
    expect(next?.seq).toBe(21);
  });

  it('takes since and epoch from the auth frame', async () => {
    h = await startGateway();
    await publishMany(h, 'u1', 1, 5);
    const { epoch } = await h.gateway.engine.head('u1');
    const client = Client.open(h.wsUrl);
    await client.opened();
    client.send({ type: 'auth', token: await h.token('u1'), since: 3, epoch });
    expect(await client.next('welcome')).toMatchObject({ data: { resume: 'ok', seq: 5 } });
    expect((await client.events(2)).map((f) => f.seq)).toEqual([4, 5]);
  });

  it('says resume "none" and replays nothing without since', async () => {
    h = await startGateway();
    await publishMany(h, 'u1', 1, 5);
    const client = await h.connect('u1');
    expect(client.frames[0]).toMatchObject({ type: 'welcome', data: { resume: 'none', seq: 5 } });
    await publishMany(h, 'u1', 6, 1);
    expect((await client.events(1)).map((f) => f.seq)).toEqual([6]);
  });
});

describe('resume races, made deterministic with an engine that publishes inside history()', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it.each([
    ['before the history is read (events in history and buffer)', 'before'],
    ['after the history is read (events only in the buffer)', 'after'],
  ] as const)('is exact when events are stored %s', async (_name, when) => {
    const engine = new MemoryEngine({ historySize: 100, historyTtlMs: 60_000 });
    let inject = false;
    const publishFive = async (userId: string) => {
      for (let i = 0; i < 5; i++) await engine.append(userId, { type: 'notification', data: { raced: i } });
    };
    const racing = new DelegatingEngine(engine);
    racing.intercept('history', async (next, userId, query) => {
      const injecting = inject;
      inject = false;
      if (injecting && when === 'before') await publishFive(userId);
      const result = await next(userId, query);
      if (injecting && when === 'after') await publishFive(userId);
      return result;
    });
    h = await startGateway({}, { engine: racing });
    for (let i = 0; i < 10; i++) await engine.append('u1', { type: 'notification', data: { i } });
    const { epoch } = await engine.head('u1');
    inject = true;
    const client = await h.connect('u1', { query: `?since=4&epoch=${epoch}` });
    await engine.append('u1', { type: 'notification', data: { last: true } });
    const events = await client.events(12);
    expect(events.map((f) => f.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 5));
    await engine.close();
  });
});

describe('resume request sources', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('uses the query since/epoch when the auth frame carries none', async () => {
    h = await startGateway();
    await publishMany(h, 'u1', 1, 5);
    const { epoch } = await h.gateway.engine.head('u1');
    const client = Client.open(`${h.wsUrl}?since=2&epoch=${epoch}`);
    await client.opened();
    client.send({ type: 'auth', token: await h.token('u1') });
    expect(await client.next('welcome')).toMatchObject({ data: { resume: 'ok', seq: 5 } });
    expect((await client.events(3)).map((f) => f.seq)).toEqual([3, 4, 5]);
  });

  it('lets the auth frame since/epoch win over the query', async () => {
    h = await startGateway();
    await publishMany(h, 'u1', 1, 5);
    const { epoch } = await h.gateway.engine.head('u1');
    const client = Client.open(`${h.wsUrl}?since=1&epoch=${epoch}`);
    await client.opened();
    client.send({ type: 'auth', token: await h.token('u1'), since: 4, epoch });
    expect(await client.next('welcome')).toMatchObject({ data: { resume: 'ok' } });
    expect((await client.events(1)).map((f) => f.seq)).toEqual([5]);
  });
});

describe('joining without a resume', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('reads only the head, never the history, for a connection that asks no resume', async () => {
    const counting = new DelegatingEngine();
    h = await startGateway({}, { engine: counting });
    await publishMany(h, 'u1', 1, 50);
    const client = await h.connect('u1');
    expect(client.frames[0]).toMatchObject({ data: { resume: 'none', seq: 50 } });
    expect(counting.calls.history).toBe(0);
    await counting.close();
  });
});

describe('resume from a history read in pages', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  /**
   * Answers every history read with at most `pageSize` events, as an engine that pages does; from the
   * `resetFrom`-th read on (counted from now), with a reset instead.
   */
  function pageHistory(engine: DelegatingEngine, pageSize: number, resetFrom = Number.POSITIVE_INFINITY) {
    let reads = 0;
    engine.intercept('history', async (next, userId, query): Promise<HistoryResult> => {
      reads += 1;
      const result = await next(userId, { ...query, limit: Math.min(query.limit, pageSize) });
      return reads >= resetFrom ? { kind: 'reset', head: result.head, reason: 'expired' } : result;
    });
  }

  it('replays a history read in several pages exactly, then goes live', async () => {
    const engine = new DelegatingEngine();
    h = await startGateway({}, { engine });
    await publishMany(h, 'u1', 1, 10);
    const epoch = (await engine.head('u1')).epoch;
    pageHistory(engine, 3);
    const client = await h.connect('u1', { query: `?since=1&epoch=${epoch}` });
    expect(client.frames[0]?.data).toMatchObject({ resume: 'ok', seq: 10 });
    await publishMany(h, 'u1', 11, 1);
    await eventWithSeq(client, 11, 'the live event after the pages');
    expect(eventsOf(client).map((f) => f.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('closes with 1011 when the history resets between two pages, having sent only the exact first page', async () => {
    const engine = new DelegatingEngine();
    h = await startGateway({}, { engine });
    await publishMany(h, 'u1', 1, 10);
    const epoch = (await engine.head('u1')).epoch;
    pageHistory(engine, 3, 2);
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
});

describe('a connection that goes away while it joins', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it.each(['subscribe', 'history'] as const)(
    'goes without a welcome when it closes while waiting on %s, freeing its slot',
    async (on) => {
      const engine = new DelegatingEngine();
      h = await startGateway({ maxConnectionsPerUser: 1 }, { engine });
      const held = gate();
      await publishMany(h, 'u1', 1, 3);
      const release = engine.hold(on, held);
      const client = Client.open(`${h.wsUrl}?since=0`, {
        headers: { Authorization: `Bearer ${await h.token('u1')}` },
      });
      await held.wasReached;
      client.ws.terminate();
      // The gateway has seen the close while the engine call is still pending.
      await expect.poll(() => h.gateway.stats().connections).toBe(0);
      release();
      held.open();
      expect(client.frames).toEqual([]);
      // Nothing more is read or counted for a connection that is gone: no history after a held
      // subscribe, no replay after a held history read.
      await expect.poll(() => h.gateway.stats().users).toBe(0);
      expect(engine.calls.history).toBe(on === 'subscribe' ? 0 : 1);
      expect(await metricValue(h.gateway.metrics, 'agentcast_events_delivered_total')).toBe(0);
      // The slot and the hub entry are gone: the one allowed connection can be opened again.
      const again = await h.connect('u1');
      expect(again.frames[0]).toMatchObject({ type: 'welcome' });
      expect(h.gateway.stats()).toMatchObject({ connections: 1, authenticated_connections: 1, users: 1 });
    },
  );
});
