import { beforeEach, describe, expect, it } from 'vitest';
import { Client, type Harness } from '../../helpers/gateway-harness.js';
import { REDIS_URL, requireRedis } from '../../helpers/redis-fixture.js';
import { useTwoNodes } from './two-nodes.js';

// Issue #7: disconnect from node A, reconnect to node B with since/epoch, nothing missed
// (docs/protocol.md §4).
const available = await requireRedis(REDIS_URL, 'redis-nodes resume-across-nodes');

const note = (n: number) => ({ user_id: 'alice', type: 'notification', data: { n } });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(!available)('resume on the other node', () => {
  const nodes = useTwoNodes('resume-across-nodes');
  let nodeA: Harness;
  let nodeB: Harness;
  beforeEach(() => {
    ({ nodeA, nodeB } = nodes.current());
  });

  /** Connects alice to node A, publishes 1..5 and returns the epoch once she saw them. */
  async function sawFiveOnA(): Promise<{ client: Client; epoch: string }> {
    const client = await nodeA.connect('alice');
    expect((await nodeA.publish({ events: range(1, 5).map(note) })).status).toBe(202);
    const events = await client.events(5);
    expect(events.map((e) => e.seq)).toEqual(range(1, 5));
    return { client, epoch: events[4]?.epoch as string };
  }

  it('replays what was published on either node while away, then goes live, when since/epoch are query parameters', async () => {
    const { client, epoch } = await sawFiveOnA();
    client.ws.close(1000);
    await client.closedWith();
    for (const n of range(6, 15)) {
      expect((await (n % 2 === 0 ? nodeA : nodeB).publish(note(n))).status).toBe(202);
    }

    const resumed = await nodeB.connect('alice', { query: `?since=5&epoch=${encodeURIComponent(epoch)}` });
    expect(resumed.frames[0]).toMatchObject({
      type: 'welcome',
      data: { server_id: 'node-b', epoch, seq: 15, resume: 'ok' },
    });
    expect((await nodeA.publish({ events: range(16, 20).map(note) })).status).toBe(202);
    const events = await resumed.events(15);
    expect(events.map((e) => [e.seq, e.data?.n, e.epoch])).toEqual(range(6, 20).map((n) => [n, n, epoch]));
  });

  it('misses nothing when events keep being published on node A during the replay on node B (auth frame since/epoch)', async () => {
    const { client, epoch } = await sawFiveOnA();
    client.ws.close(1000);
    await client.closedWith();
    expect((await nodeA.publish({ events: range(6, 50).map(note) })).status).toBe(202);

    // The token goes in the auth frame with since/epoch (docs/protocol.md §2, §4) while publishing continues.
    const publishing = (async () => {
      for (const n of range(51, 150)) expect((await nodeA.publish(note(n))).status).toBe(202);
    })();
    const resumed = Client.open(nodeB.wsUrl);
    await resumed.opened();
    resumed.send({ type: 'auth', token: await nodeB.token('alice'), since: 5, epoch });
    const welcome = await resumed.next('welcome');
    expect(welcome.data).toMatchObject({ server_id: 'node-b', epoch, resume: 'ok' });
    await publishing;
    const events = await resumed.events(145);
    expect(events.map((e) => e.seq)).toEqual(range(6, 150));
    expect(events.map((e) => e.data?.n)).toEqual(range(6, 150));
    resumed.ws.terminate();
  });

  it('answers reset on node B for an epoch no node ever issued, and replays nothing', async () => {
    const { client } = await sawFiveOnA();
    client.ws.close(1000);
    await client.closedWith();
    const resumed = await nodeB.connect('alice', { query: '?since=3&epoch=e_not-this-one' });
    expect(resumed.frames[0]).toMatchObject({ type: 'welcome', data: { seq: 5, resume: 'reset' } });
    expect((await nodeB.publish(note(6))).status).toBe(202);
    const events = await resumed.events(1);
    expect(events.map((e) => e.seq)).toEqual([6]);
  });
});
