import { beforeEach, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../packages/server/src/agents/seeded-random.js';
import type { Client, Frame, Harness } from '../../helpers/gateway-harness.js';
import { REDIS_URL, requireRedis } from '../../helpers/redis-fixture.js';
import { useTwoNodes } from './two-nodes.js';

// Issue #7: two gateway nodes on one Redis; a user's connections are spread over both nodes.
const available = await requireRedis(REDIS_URL, 'redis-nodes two-nodes-fanout');

const SEED = 0x7a11;
const USERS = 20;
const EVENTS = 5000;
/** Largest HTTP batch (docs/protocol.md §8 allows 500) and how many batches are in flight at once. */
const MAX_BATCH = 100;
const IN_FLIGHT = 4;

interface Published {
  readonly user_id: string;
  readonly type: 'notification';
  readonly data: { readonly n: number };
}

interface Batch {
  readonly node: Harness;
  readonly events: readonly Published[];
}

/** Runs `work` over `items` with at most `limit` in flight; results keep the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

describe.skipIf(!available)('two gateway nodes on one Redis', () => {
  const nodes = useTwoNodes('two-nodes-fanout');
  let nodeA: Harness;
  let nodeB: Harness;
  beforeEach(() => {
    ({ nodeA, nodeB } = nodes.current());
  });

  it(`delivers ${EVENTS} events published to random nodes to exactly their user's connections on both nodes, in seq order (seed ${SEED})`, async () => {
    const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
    // One connection per user on each node.
    const connections = new Map<string, { readonly onA: Client; readonly onB: Client }>();
    for (const user of users) {
      connections.set(user, { onA: await nodeA.connect(user), onB: await nodeB.connect(user) });
    }
    for (const { onA, onB } of connections.values()) {
      expect([onA.frames[0]?.data?.server_id, onB.frames[0]?.data?.server_id]).toEqual(['node-a', 'node-b']);
      // Both nodes announce the same epoch for the user (stored in Redis, created by the first welcome).
      expect(onA.frames[0]?.data?.epoch).toBe(onB.frames[0]?.data?.epoch);
    }

    const random = new SeededRandom(SEED);
    const batches: Batch[] = [];
    for (let n = 0; n < EVENTS; ) {
      const size = Math.min(random.int(1, MAX_BATCH), EVENTS - n);
      const events: Published[] = [];
      for (let i = 0; i < size; i += 1, n += 1) {
        events.push({ user_id: `user-${random.int(0, USERS - 1)}`, type: 'notification', data: { n } });
      }
      batches.push({ node: random.next() < 0.5 ? nodeA : nodeB, events });
    }
    const replies = await inParallel(batches, IN_FLIGHT, async ({ node, events }) =>
      node.publish({ events }),
    );

    // user -> seq -> the event's n, from the 202 results (answered in the order of the events sent).
    const stored = new Map<string, Map<number, number>>(users.map((u) => [u, new Map()]));
    const epochs = new Set<string>();
    for (const [b, reply] of replies.entries()) {
      expect(reply.status).toBe(202);
      const { results } = reply.json as { results: { seq: number; epoch: string }[] };
      const events = (batches[b] as Batch).events;
      expect(results).toHaveLength(events.length);
      for (const [i, { seq, epoch }] of results.entries()) {
        const event = events[i] as Published;
        const byUser = stored.get(event.user_id) as Map<number, number>;
        expect(byUser.has(seq), `seq ${seq} of ${event.user_id} given twice`).toBe(false);
        byUser.set(seq, event.data.n);
        epochs.add(`${event.user_id} ${epoch}`);
      }
    }
    expect(epochs.size).toBe(USERS); // one epoch per user, whichever node stored the event

    for (const user of users) {
      const byUser = stored.get(user) as Map<number, number>;
      const count = byUser.size;
      // Both nodes agree on seq: the seqs handed out for the user are exactly 1..N.
      expect([...byUser.keys()].sort((x, y) => x - y)).toEqual(
        Array.from({ length: count }, (_, i) => i + 1),
      );
      const expected = Array.from({ length: count }, (_, i) => ({ seq: i + 1, n: byUser.get(i + 1) }));
      const { onA, onB } = connections.get(user) as { onA: Client; onB: Client };
      for (const client of [onA, onB]) {
        const seen = (await client.events(count)).map((f: Frame) => ({ seq: f.seq, n: f.data?.n }));
        expect(seen, `${user} on ${String(client.frames[0]?.data?.server_id)}`).toEqual(expected);
      }
    }

    // No duplicate or stray event follows: one more event per user must arrive as exactly the next one.
    const markers = await nodeA.publish({
      events: users.map((user) => ({ user_id: user, type: 'notification', data: { marker: true } })),
    });
    expect(markers.status).toBe(202);
    for (const user of users) {
      const count = (stored.get(user) as Map<number, number>).size;
      const { onA, onB } = connections.get(user) as { onA: Client; onB: Client };
      for (const client of [onA, onB]) {
        const all = await client.events(count + 1);
        expect(all).toHaveLength(count + 1);
        expect(all[count]).toMatchObject({ seq: count + 1, data: { marker: true } });
      }
      // A fresh welcome on either node reports the same head.
      const heads = await Promise.all(
        [nodeA, nodeB].map(async (node) => (await node.connect(user)).frames[0]?.data?.seq),
      );
      expect(heads).toEqual([count + 1, count + 1]);
    }
  });
});
