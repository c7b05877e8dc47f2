import { afterEach, describe, expect, it } from 'vitest';
import { type Client, type Harness, startGateway } from '../helpers/gateway-harness.js';

// Issue 13 #6: three users publishing large events took a memory-engine process to 4 GB and V8 killed
// it. Histories are now bounded in bytes, per user (--history-max-bytes) and for the whole process
// (--history-memory-bytes); this drives both through HTTP with small budgets.

const MEMORY_BUDGET = 64 * 1024;
const PER_USER_BUDGET = 32 * 1024;
const USERS = ['u1', 'u2', 'u3'] as const;
const EVENTS_PER_USER = 90;
const BATCH = 15;
/** About 1.1 KB of frame per event: 3 × 90 of them are over 4 times the process budget. */
const PAD = 'x'.repeat(1000);

/** The value of a gauge as GET /metrics serves it. */
async function gauge(h: Harness, name: string): Promise<number> {
  const text = await (await fetch(`${h.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('history byte budgets through the gateway (memory engine)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('keeps the process’s history within --history-memory-bytes while live delivery goes on; an old resume is reset', async () => {
    h = await startGateway({ historyMemoryBytes: MEMORY_BUDGET, historyMaxBytes: PER_USER_BUDGET });
    const live = new Map<string, Client>();
    for (const user of USERS) live.set(user, await h.connect(user));
    expect(await gauge(h, 'agentcast_history_bytes')).toBe(0);

    let published = 0;
    let highest = 0;
    for (let from = 1; from <= EVENTS_PER_USER; from += BATCH) {
      const events = USERS.flatMap((user) =>
        Array.from({ length: BATCH }, (_, i) => ({
          user_id: user,
          type: 'notification',
          data: { n: from + i, pad: PAD },
        })),
      );
      const res = await h.publish({ events });
      expect(res.status).toBe(202);
      published += events.length;
      const held = await gauge(h, 'agentcast_history_bytes');
      highest = Math.max(highest, held);
      // (a) never over the process budget, measured after every batch.
      expect(held).toBeLessThanOrEqual(MEMORY_BUDGET);
    }
    expect(published).toBe(USERS.length * EVENTS_PER_USER);
    // The budget is used, not emptied: within one event of full.
    expect(highest).toBeGreaterThan(MEMORY_BUDGET - 2 * PAD.length);

    // (c) every connection got every one of its user's events live, in order, and nobody else's.
    for (const [user, client] of live) {
      const events = await client.events(EVENTS_PER_USER);
      expect(events.map((f) => f.seq)).toEqual(Array.from({ length: EVENTS_PER_USER }, (_, i) => i + 1));
      expect(events.map((f) => (f.data as { n: number }).n)).toEqual(
        Array.from({ length: EVENTS_PER_USER }, (_, i) => i + 1),
      );
      expect(client.closeCode, user).toBeUndefined();
    }

    for (const user of USERS) {
      const { epoch } = await h.gateway.engine.head(user);
      // (b) the start of the history was evicted: a resume from seq 0 cannot be served.
      const fromStart = await h.connect(user, { query: `?since=0&epoch=${epoch}` });
      expect(fromStart.frames[0]).toMatchObject({
        type: 'welcome',
        data: { resume: 'reset', seq: EVENTS_PER_USER, epoch },
      });
      // A resume from near the head still replays exactly what was missed.
      const recent = await h.connect(user, { query: `?since=${EVENTS_PER_USER - 2}&epoch=${epoch}` });
      expect(recent.frames[0]).toMatchObject({ type: 'welcome', data: { resume: 'ok' } });
      expect((await recent.events(2)).map((f) => f.seq)).toEqual([EVENTS_PER_USER - 1, EVENTS_PER_USER]);
    }

    // Live delivery after all this: one more event reaches every connection of its user.
    await h.publish({ user_id: 'u2', type: 'notification', data: { n: 'after' } });
    const [after] = (await (live.get('u2') as Client).events(EVENTS_PER_USER + 1)).slice(-1);
    expect(after).toMatchObject({ seq: EVENTS_PER_USER + 1, data: { n: 'after' } });
    expect(await gauge(h, 'agentcast_history_bytes')).toBeLessThanOrEqual(MEMORY_BUDGET);
  });

  it('bounds one user by --history-max-bytes while other users keep their history', async () => {
    h = await startGateway({ historyMaxBytes: 8 * 1024 });
    const events = Array.from({ length: 40 }, (_, i) => ({
      user_id: 'heavy',
      type: 'notification',
      data: { n: i + 1, pad: PAD },
    }));
    expect(
      (await h.publish({ events: [...events, { user_id: 'light', type: 'notification', data: {} }] })).status,
    ).toBe(202);
    const held = await gauge(h, 'agentcast_history_bytes');
    expect(held).toBeLessThanOrEqual(8 * 1024 + 200);
    const heavy = await h.gateway.engine.head('heavy');
    const reset = await h.connect('heavy', { query: `?since=0&epoch=${heavy.epoch}` });
    expect(reset.frames[0]).toMatchObject({ data: { resume: 'reset' } });
    const light = await h.gateway.engine.head('light');
    const ok = await h.connect('light', { query: `?since=0&epoch=${light.epoch}` });
    expect(ok.frames[0]).toMatchObject({ data: { resume: 'ok', seq: 1 } });
    expect((await ok.events(1)).map((f) => f.seq)).toEqual([1]);
  });
});
