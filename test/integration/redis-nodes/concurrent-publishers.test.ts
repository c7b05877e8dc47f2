import { beforeEach, describe, expect, it } from 'vitest';
import type { Harness } from '../../helpers/gateway-harness.js';
import { REDIS_URL, requireRedis } from '../../helpers/redis-fixture.js';
import { useTwoNodes } from './two-nodes.js';

// Issue #7: many publishers hammering one user from both nodes -> seq strictly 1..N with no gaps.
const available = await requireRedis(REDIS_URL, 'redis-nodes concurrent-publishers');

const PUBLISHERS = 10;
const EACH = 200;
const TOTAL = PUBLISHERS * EACH;

describe.skipIf(!available)('concurrent publishers on two nodes', () => {
  const nodes = useTwoNodes('concurrent-publishers');
  let nodeA: Harness;
  let nodeB: Harness;
  beforeEach(() => {
    ({ nodeA, nodeB } = nodes.current());
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
