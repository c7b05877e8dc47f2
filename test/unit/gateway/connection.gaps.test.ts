import { afterEach, describe, expect, it } from 'vitest';
import type {
  EventListener,
  HistoryQuery,
  HistoryResult,
  Unsubscribe,
} from '../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { AgentcastError, AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { gate, type Hold } from '../../helpers/deferred.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';
import { eventsOf, eventWithSeq } from '../../property/support/frame-wait.js';

/**
 * Connection (docs/protocol.md §2, §4, §5) where the engine misbehaves at an exact point: a join refused by
 * an engine outage or failing unexpectedly closes with 1011 and leaves nothing behind; a replay that more
 * live events overtake than it may hold closes with 4013; a gap in the live stream closes with 1011 rather
 * than skipping an event, and the resume that follows fills it.
 */

class FaultyEngine extends DelegatingEngine {
  slotError: Error | undefined;
  subscribeError: Error | undefined;
  /** Events with these seqs are not handed to listeners (a lost pub/sub message). */
  readonly dropLive = new Set<number>();
  /** While set, history calls `reached` and waits for `until`. */
  historyGate: Hold | undefined;

  constructor() {
    super(new MemoryEngine());
  }
  override acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    return this.slotError
      ? Promise.reject(this.slotError)
      : super.acquireConnectionSlot(userId, connectionId, limit);
  }
  override subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    if (this.subscribeError) return Promise.reject(this.subscribeError);
    return super.subscribe(userId, (event: StoredEvent, frame: string) => {
      if (!this.dropLive.has(event.seq)) listener(event, frame);
    });
  }
  override async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    const gate = this.historyGate;
    if (gate !== undefined) {
      gate.reached();
      await gate.until;
    }
    return super.history(userId, query);
  }
}

describe('Connection under engine faults', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.each([
    [
      'an engine outage',
      new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'down'),
      CloseReason.EngineUnavailable,
    ],
    ['an unexpected engine error', new Error('boom'), CloseReason.Internal],
  ])('closes a join refused by %s with 1011, and the next join succeeds', async (_name, error, reason) => {
    const engine = new FaultyEngine();
    h = await startGateway({}, { engine });
    engine.slotError = error;
    const refused = h.open(await h.token('u1'));
    expect(await refused.closure()).toEqual({ code: CloseCode.InternalError, reason });
    expect(refused.frames).toEqual([]);
    engine.slotError = undefined;
    const client = await h.connect('u1');
    expect(client.frames[0]).toMatchObject({ type: 'welcome' });
  });

  it('closes with 1011 when subscribing fails, drops the failed subscription, and subscribes afresh next time', async () => {
    const engine = new FaultyEngine();
    h = await startGateway({}, { engine });
    engine.subscribeError = new Error('subscribe failed');
    const refused = h.open(await h.token('u1'));
    expect(await refused.closure()).toEqual({ code: CloseCode.InternalError, reason: CloseReason.Internal });
    expect(h.gateway.stats()).toMatchObject({ users: 0 });
    engine.subscribeError = undefined;
    const client = await h.connect('u1');
    await h.gateway.publish('u1', { type: 'notification', data: {} });
    await eventWithSeq(client, 1, 'an event through the fresh subscription');
  });

  it('closes with 4013 when more live events arrive during the replay than history_size allows', async () => {
    const engine = new FaultyEngine();
    h = await startGateway({ historySize: 5 }, { engine });
    const history = gate();
    engine.historyGate = history;
    const client = h.open(await h.token('u1'), '?since=0');
    await history.wasReached;
    // Subscribed, history held: every publish now is a live event the replay must hold.
    for (let i = 0; i < 6; i++) await h.gateway.publish('u1', { type: 'notification', data: { i } });
    history.open();
    expect(await client.closure()).toEqual({
      code: CloseCode.SlowConsumer,
      reason: CloseReason.ReplayOverflow,
    });
    // Nothing was written, so nothing counts as delivered.
    expect(await metricValue(h.gateway.metrics, 'agentcast_events_delivered_total')).toBe(0);
  });

  it('closes with 1011 on a gap in the live stream instead of skipping the event, and the resume fills it', async () => {
    const engine = new FaultyEngine();
    h = await startGateway({}, { engine });
    const client = await h.connect('u1');
    const epoch = String(client.frames[0]?.data?.epoch);
    engine.dropLive.add(2);
    for (let i = 0; i < 3; i++) await h.gateway.publish('u1', { type: 'notification', data: { i } });
    expect(await client.closure()).toEqual({ code: CloseCode.InternalError, reason: CloseReason.LiveGap });
    expect(eventsOf(client).map((f) => f.seq)).toEqual([1]);
    expect(await metricValue(h.gateway.metrics, 'agentcast_events_delivered_total')).toBe(1);
    engine.dropLive.clear();
    const resumed = await h.connect('u1', { query: `?since=1&epoch=${epoch}` });
    await eventWithSeq(resumed, 3, 'the resumed events');
    expect(eventsOf(resumed).map((f) => f.seq)).toEqual([2, 3]);
  });
});
