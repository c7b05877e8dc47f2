import { describe, expect, it } from 'vitest';
import type { Client, Frame } from '../../helpers/gateway-harness.js';
import { NODE_LOST, useGatewayNodes } from '../../helpers/gateway-nodes.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 25, docs/protocol.md E: a queued run whose node dies must not block its thread. Three gateway
// processes (`node dist/cli.js serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes busy-node-lost');

const LEASE_S = 3;

describe.skipIf(!available)('a thread’s queue when a node dies', () => {
  const { start, connect, kill } = useGatewayNodes({
    keyPrefix: 'busy-lost-test:',
    args: [
      ...['--run-lease-s', String(LEASE_S), '--busy-policy', 'enqueue'],
      // The demo agent pauses this long between steps: its runs run until cancelled.
      ...['--demo-delay-ms', '60000'],
    ],
  });

  async function ask(client: Client, frame: { type: string; id: string; data: unknown }): Promise<Frame> {
    client.send(frame);
    for (;;) {
      const answer = await client.next(undefined, 10_000);
      if ((answer.type === 'ack' || answer.type === 'error') && answer.id === frame.id) return answer;
    }
  }

  const message = (id: string) => ({
    type: 'user_message',
    id,
    data: { text: 'What is 2 + 2?', thread_id: 't1' },
  });
  const runIdOf = (ack: Frame): string => String(ack.data?.run_id);

  /** The first frame `tab` got (or gets within `timeoutMs`) that `match` accepts. */
  async function until(tab: Client, match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (let f = tab.frames.find(match); ; f = tab.frames.find(match)) {
      if (f !== undefined) return f;
      await tab.next(undefined, Math.max(1, deadline - Date.now()));
    }
  }

  it('skips the queued run of a killed node (ended NODE_LOST, never started); the run behind it starts', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const c = await start('node-c');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    const onC = await connect(c, 'alice');
    const first = runIdOf(await ask(onA, message('m1')));
    const lost = runIdOf(await ask(onB, message('m2')));
    const third = runIdOf(await ask(onC, message('m3')));
    await kill(b);
    expect(await ask(onA, { type: 'cancel', id: 'c1', data: { run_id: first } })).toMatchObject({
      type: 'ack',
    });
    await until(onC, (f) => f.type === 'agent_completed' && f.run_id === first);
    // The killed node's queued run lapses within its lease: the queue skips it (the run behind it starts)
    // and a surviving node ends it NODE_LOST, in either order.
    const bound = LEASE_S * 1000 + 5_000;
    const lostEnd = await until(onC, (f) => f.type === 'agent_completed' && f.run_id === lost, bound);
    expect(lostEnd.data).toEqual(NODE_LOST);
    await until(onC, (f) => f.type === 'agent_started' && f.run_id === third, bound);
    const lifecycle = (runId: string) =>
      onC.frames
        .filter((f) => (f.type === 'agent_started' || f.type === 'agent_completed') && f.run_id === runId)
        .map((f) => `${f.type} ${f.seq}`);
    expect(lifecycle(lost)).toEqual([`agent_completed ${lostEnd.seq}`]);
    const [firstStarted, firstEnded] = lifecycle(first);
    const [thirdStarted] = lifecycle(third);
    const seqOf = (line: string | undefined) => Number(line?.split(' ')[1]);
    expect(firstStarted).toMatch(/^agent_started/);
    expect(firstEnded).toMatch(/^agent_completed/);
    expect(seqOf(thirdStarted)).toBeGreaterThan(seqOf(firstEnded));
    expect(Number(lostEnd.seq)).toBeGreaterThan(seqOf(firstEnded));
  });
});
