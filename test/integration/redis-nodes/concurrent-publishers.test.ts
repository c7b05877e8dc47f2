import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../../src/gateway/gateway.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../engine-contract/redis-fixture.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';

// Issue #7: many publishers hammering one user from both nodes -> seq strictly 1..N with no gaps.
const available = await requireRedis(REDIS_URL, 'redis-nodes concurrent-publishers');

const PUBLISHERS = 10;
const EACH = 200;
const TOTAL = PUBLISHERS * EACH;

/** Resolves when the gateway's engine is healthy (both Redis connections ready, scripts loaded). */
function engineReady(gateway: Gateway, timeoutMs = 5000): Promise<void> {
  if (gateway.engine.health().ok) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`engine of ${gateway.config.serverId} not ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const stop = gateway.engine.onHealthChange((health) => {
      if (!health.ok) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

describe.skipIf(!available)('concurrent publishers on two nodes', () => {
  let prefix: string;
  let nodeA: Harness;
  let nodeB: Harness;

  beforeEach(async () => {
    prefix = uniquePrefix('concurrent-publishers');
    const shared = { redis: REDIS_URL, redisKeyPrefix: prefix };
    nodeA = await startGateway({ ...shared, serverId: 'node-a' });
    nodeB = await startGateway({ ...shared, serverId: 'node-b' });
    await Promise.all([engineReady(nodeA.gateway), engineReady(nodeB.gateway)]);
  });

  afterEach(async () => {
    await Promise.all([nodeA.close(), nodeB.close()]);
    await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  it(`gives one user seqs 1..${TOTAL} without gap or repeat when ${PUBLISHERS} publishers on both nodes publish ${EACH} events each at once`, async () => {
    const onA = await nodeA.connect('alice');
    const onB = await nodeB.connect('alice');

    // Each publisher sends its events one by one over HTTP; all publishers run at the same time, half of
    // them on each node. seq -> `p:i` (publisher, index) from the 202 answers.
    const bySeq = new Map<number, string>();
    const perPublisher = await Promise.all(
      Array.from({ length: PUBLISHERS }, async (_, p) => {
        const node = p % 2 === 0 ? nodeA : nodeB;
        const seqs: number[] = [];
        for (let i = 0; i < EACH; i += 1) {
          const reply = await node.publish({ user_id: 'alice', type: 'notification', data: { p, i } });
          expect(reply.status).toBe(202);
          const [result] = (reply.json as { results: { seq: number }[] }).results;
          const seq = result?.seq ?? -1;
          expect(bySeq.has(seq), `seq ${seq} handed out twice`).toBe(false);
          bySeq.set(seq, `${p}:${i}`);
          seqs.push(seq);
        }
        return seqs;
      }),
    );

    expect([...bySeq.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    // A publisher that waits for each answer sees its own events ordered.
    for (const seqs of perPublisher) {
      expect(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number))).toBe(true);
    }
    const expected = Array.from({ length: TOTAL }, (_, i) => `${i + 1}=${bySeq.get(i + 1)}`);
    for (const client of [onA, onB]) {
      const seen = (await client.events(TOTAL)).map((f) => `${f.seq}=${f.data?.p}:${f.data?.i}`);
      expect(seen).toEqual(expected);
    }
    // Nothing beyond the TOTAL events: the next one published arrives as exactly the next.
    expect(
      (await nodeB.publish({ user_id: 'alice', type: 'notification', data: { last: true } })).status,
    ).toBe(202);
    for (const client of [onA, onB]) {
      const all = await client.events(TOTAL + 1);
      expect(all).toHaveLength(TOTAL + 1);
      expect(all[TOTAL]).toMatchObject({ seq: TOTAL + 1, data: { last: true } });
    }
  });
});
