import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { type HubMember, UserHub } from '../../../packages/server/src/gateway/user-hub.js';
import { type Logger, silentLogger } from '../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { captureLog } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';

class Member implements HubMember {
  readonly seqs: number[] = [];
  constructor(
    readonly userId: string,
    readonly writes = true,
  ) {}
  deliver(event: StoredEvent, frame: Buffer): boolean {
    expect(JSON.parse(frame.toString())).toMatchObject({ seq: event.seq });
    this.seqs.push(event.seq);
    return this.writes;
  }
}

function setup(options: { now?: () => number; log?: Logger; engineNow?: () => number } = {}) {
  const engine = new DelegatingEngine(new MemoryEngine({ now: options.engineNow ?? Date.now }));
  // What the hub does with the subscriptions it gets back: how often it ends one, and whether ending
  // one fails (the engine's Unsubscribe is no engine method, so the double cannot fail it itself).
  const unsubscribes = { count: 0, fail: false };
  engine.intercept('subscribe', async (next, userId, listener) => {
    const stop = await next(userId, listener);
    return async () => {
      unsubscribes.count++;
      if (unsubscribes.fail) throw new Error('unsubscribe failed');
      await stop();
    };
  });
  const metrics = new Metrics();
  const hub = new UserHub<Member>({
    engine,
    log: options.log ?? silentLogger(),
    metrics,
    now: options.now ?? Date.now,
  });
  const value = (name: string) => metricValue(metrics, name);
  const publish = (userId: string) => engine.append(userId, { type: 'notification', data: {} });
  return { engine, unsubscribes, metrics, hub, value, publish };
}

describe('UserHub', () => {
  it('holds one engine subscription per user: on the first member, until the last one leaves', async () => {
    const { engine, unsubscribes, hub, value } = setup();
    const [a, b, c] = [new Member('u1'), new Member('u1'), new Member('u2')];
    await hub.join(a);
    await hub.join(b);
    await hub.join(c);
    expect(engine.calls.subscribe).toBe(2);
    expect([hub.userCount, hub.memberCount, await value('agentcast_users')]).toEqual([2, 3, 2]);
    expect(hub.membersOf('u1')).toEqual([a, b]);
    expect([...hub.members()]).toEqual([a, b, c]);
    hub.leave(a);
    hub.leave(a); // idempotent
    expect([hub.userCount, hub.memberCount, unsubscribes.count]).toEqual([2, 2, 0]);
    hub.leave(b);
    await expect.poll(() => unsubscribes.count).toBe(1);
    expect([hub.userCount, hub.memberCount, await value('agentcast_users')]).toEqual([1, 1, 1]);
    expect(hub.membersOf('u1')).toEqual([]);
    hub.leave(new Member('nobody')); // never joined
    expect(hub.memberCount).toBe(1);
  });

  it('keeps delivering to exactly the members as a user goes from one member to three and back', async () => {
    const { hub, publish } = setup();
    const [a, b, c] = [new Member('u1'), new Member('u1'), new Member('u1')];
    await hub.join(a); // one member: held without a Set
    await publish('u1');
    await hub.join(b);
    await hub.join(c);
    hub.leave(new Member('u1')); // never joined: nothing changes
    await publish('u1');
    hub.leave(a);
    hub.leave(c); // back to one member
    hub.leave(a); // no longer a member
    await publish('u1');
    expect([hub.memberCount, hub.membersOf('u1'), [...hub.members()]]).toEqual([1, [b], [b]]);
    await hub.join(a);
    await publish('u1');
    expect([a.seqs, b.seqs, c.seqs]).toEqual([[1, 2, 4], [2, 3, 4], [2]]);
  });

  it("hands every event of a user to all of that user's members and to no one else", async () => {
    const { hub, publish } = setup();
    const [a, b, other] = [new Member('u1'), new Member('u1'), new Member('u2')];
    for (const m of [a, b, other]) await hub.join(m);
    await publish('u1');
    await publish('u1');
    await publish('u2');
    expect([a.seqs, b.seqs, other.seqs]).toEqual([[1, 2], [1, 2], [1]]);
  });

  it('counts as delivered only the frames its members actually wrote', async () => {
    const { hub, publish, value } = setup();
    await hub.join(new Member('u1', true));
    await hub.join(new Member('u1', false)); // e.g. still replaying, or a duplicate
    await publish('u1');
    await publish('u1');
    expect(await value('agentcast_events_delivered_total')).toBe(2);
    await hub.join(new Member('u2', false));
    await publish('u2');
    expect(await value('agentcast_events_delivered_total')).toBe(2);
  });

  it('times one event in eight for the publish->send histogram', async () => {
    const { hub, publish, metrics } = setup();
    await hub.join(new Member('u1'));
    const count = async () =>
      (await metrics.publishToSend.get()).values.find(
        (v) => v.metricName === 'agentcast_publish_to_send_seconds_count',
      )?.value;
    for (let i = 0; i < 7; i++) await publish('u1');
    expect(await count()).toBe(0);
    await publish('u1');
    expect(await count()).toBe(1);
    for (let i = 0; i < 8; i++) await publish('u1');
    expect(await count()).toBe(2);
  });

  it('reports a failed subscribe to the joiner, forgets the user, and subscribes afresh on the next join', async () => {
    const { engine, hub, publish } = setup();
    engine.fail('subscribe', new Error('subscribe failed'), { calls: [1] });
    const first = new Member('u1');
    await expect(hub.join(first)).rejects.toThrow('subscribe failed');
    expect([hub.userCount, hub.memberCount]).toEqual([0, 0]);
    const second = new Member('u1');
    await hub.join(second);
    expect(engine.calls.subscribe).toBe(2);
    await publish('u1');
    expect([first.seqs, second.seqs]).toEqual([[], [1]]);
  });

  it('observes the time from the event being stored to it being handed out, in seconds', async () => {
    const storedAt = 1_700_000_000_000;
    const { hub, metrics, publish } = setup({ engineNow: () => storedAt, now: () => storedAt + 250 });
    await hub.join(new Member('u1'));
    for (let i = 0; i < 8; i++) await publish('u1');
    const sum = (await metrics.publishToSend.get()).values.find(
      (v) => v.metricName === 'agentcast_publish_to_send_seconds_sum',
    )?.value;
    expect(sum).toBe(0.25);
  });

  it('rejects every member joining while the subscribe fails, leaving no member counted', async () => {
    const { engine, hub } = setup();
    engine.fail('subscribe', new Error('subscribe failed'), { calls: [1] });
    const joins = [hub.join(new Member('u1')), hub.join(new Member('u1'))];
    const results = await Promise.allSettled(joins);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect([hub.userCount, hub.memberCount, engine.calls.subscribe]).toEqual([0, 0, 1]);
  });

  it('logs a failed unsubscribe with the user, and forgets the user all the same', async () => {
    const { log, lines } = captureLog();
    const { unsubscribes, hub } = setup({ log });
    const member = new Member('u1');
    await hub.join(member);
    unsubscribes.fail = true;
    hub.leave(member);
    expect(hub.userCount).toBe(0);
    // The failure is the line with an err: a warning naming the user and the engine's error.
    await expect
      .poll(() => lines.find((l) => l.err !== undefined))
      .toMatchObject({ level: 40, user_id: 'u1', err: { message: 'unsubscribe failed' } });
  });
});
