import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../packages/server/src/agents/seeded-random.js';
import { type Client, type Frame, type Harness, startGateway } from '../helpers/gateway-harness.js';

describe('per-user isolation', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const SEED = 20261126;
  it(`delivers 2,000 events for 50 users to exactly their 2 connections each, in order, no gaps (seed ${SEED})`, async () => {
    h = await startGateway({ maxConnections: 1000 });
    const users = Array.from({ length: 50 }, (_, i) => `user-${i}`);
    const clients = new Map<string, Client[]>();
    await Promise.all(
      users.map(async (u) => clients.set(u, await Promise.all([h.connect(u), h.connect(u)]))),
    );

    const random = new SeededRandom(SEED);
    const published = new Map<string, number[]>(users.map((u) => [u, []]));
    const events = Array.from({ length: 2000 }, (_, i) => {
      const user = users[Math.floor(random.next() * users.length)] as string;
      return { user_id: user, type: 'notification', data: { n: i, for: user } };
    });
    // Concurrent batches over HTTP, as several backends would publish.
    const batches = [];
    for (let i = 0; i < events.length; i += 100) batches.push(events.slice(i, i + 100));
    const responses = await Promise.all(batches.map((events) => h.publish({ events })));
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(202);
      const results = (res.json as { results: { seq: number }[] }).results;
      for (const [j, ev] of (batches[i] as typeof events).entries()) {
        published.get(ev.user_id)?.push((results[j] as { seq: number }).seq);
      }
    }

    for (const user of users) {
      const seqs = (published.get(user) as number[]).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      for (const client of clients.get(user) as Client[]) {
        const received: Frame[] = await client.events(seqs.length);
        expect(received.map((f) => f.seq)).toEqual(seqs);
        expect(received.every((f) => (f.data as { for: string }).for === user)).toBe(true);
      }
    }
    // Nothing foreign arrived later either: every connection holds exactly its user's count.
    for (const user of users) {
      for (const client of clients.get(user) as Client[]) {
        expect(client.frames.filter((f) => typeof f.seq === 'number')).toHaveLength(
          (published.get(user) as number[]).length,
        );
      }
    }
  });
});
