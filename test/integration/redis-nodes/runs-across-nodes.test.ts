import { describe, expect, it } from 'vitest';
import type { Client, Frame } from '../../helpers/gateway-harness.js';
import { TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 15, first part: --max-runs-per-user counts across nodes (the engine's run registry), and any
// node lists a user's runs. Two gateway processes (`node dist/cli.js serve`; `npm run build` first) on
// a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes runs-across-nodes');

const MAX_RUNS = 2;
const LEASE_S = 3;

describe.skipIf(!available)('agent runs across two gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({
    keyPrefix: 'runs-test:',
    args: [
      ...['--max-runs-per-user', String(MAX_RUNS), '--run-lease-s', String(LEASE_S)],
      // The demo agent pauses this long between steps: its runs stay running for the whole test.
      ...['--demo-delay-ms', '60000'],
    ],
  });

  /** Sends a user_message and returns the answer to it: its `ack` or its `error` frame. */
  async function ask(client: Client, id: string): Promise<Frame> {
    client.send({ type: 'user_message', id, data: { text: 'What is 2 + 2?' } });
    for (;;) {
      const frame = await client.next(undefined, 10_000);
      if ((frame.type === 'ack' || frame.type === 'error') && frame.id === id) return frame;
    }
  }

  /** The next `count` ack or error frames of `client`. */
  async function answersTo(client: Client, count: number): Promise<Frame[]> {
    const answers: Frame[] = [];
    while (answers.length < count) {
      const frame = await client.next(undefined, 10_000);
      if (frame.type === 'ack' || frame.type === 'error') answers.push(frame);
    }
    return answers;
  }

  async function runs(node: GatewayProcess, user: string) {
    const res = await fetch(`http://127.0.0.1:${node.port}/v1/users/${encodeURIComponent(user)}/runs`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { runs: { run_id: string; agent: string; node: string }[] }).runs;
  }

  it('refuses on node B a user at the limit on node A, and lists node A’s runs on node B', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    const acks = [await ask(onA, 'm1'), await ask(onA, 'm2')];
    const runIds = acks.map((ack) => {
      expect(ack).toMatchObject({ type: 'ack', data: { duplicate: false } });
      return (ack.data as { run_id: string }).run_id;
    });

    expect(await ask(onB, 'm3')).toMatchObject({
      type: 'error',
      id: 'm3',
      data: {
        code: 'RATE_LIMITED',
        message: `at most ${MAX_RUNS} runs at once per user; wait for one to end or cancel one`,
      },
    });
    // A retry of a running message is answered with its run, also at the limit and on another node.
    expect(await ask(onB, 'm1')).toMatchObject({
      type: 'ack',
      id: 'm1',
      data: { run_id: runIds[0], duplicate: true },
    });
    // Another user is not affected.
    expect(await ask(await connect(b, 'bob'), 'b1')).toMatchObject({ type: 'ack' });

    const listed = await runs(b, 'alice');
    expect(listed.map(({ run_id, agent, node }) => ({ run_id, agent, node }))).toEqual(
      runIds.map((run_id) => ({ run_id, agent: 'demo', node: 'node-a' })),
    );
    expect(await runs(a, 'alice')).toEqual(listed);
  });

  it('never overshoots the limit when three nodes start runs for one user at once', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const c = await start('node-c');
    const onA = await connect(a, 'carol');
    const onB = await connect(b, 'carol');
    const onC = await connect(c, 'carol');
    // All nine are sent before any answer is read: the nodes handle them concurrently.
    for (const id of ['a1', 'a2', 'a3']) onA.send({ type: 'user_message', id, data: { text: 'x' } });
    for (const id of ['b1', 'b2', 'b3']) onB.send({ type: 'user_message', id, data: { text: 'x' } });
    for (const id of ['c1', 'c2', 'c3']) onC.send({ type: 'user_message', id, data: { text: 'x' } });
    const answers = [
      ...(await answersTo(onA, 3)),
      ...(await answersTo(onB, 3)),
      ...(await answersTo(onC, 3)),
    ];
    expect(answers.filter((f) => f.type === 'ack')).toHaveLength(MAX_RUNS);
    const refused = answers.filter((f) => f.type === 'error');
    expect(refused.map((f) => f.data?.code)).toEqual(Array(9 - MAX_RUNS).fill('RATE_LIMITED'));
    expect(await runs(a, 'carol')).toHaveLength(MAX_RUNS);
  });

  it('stops counting the runs of a killed node once their lease lapsed', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'dave');
    await ask(onA, 'm1');
    await ask(onA, 'm2');
    const onB = await connect(b, 'dave');
    expect(await ask(onB, 'm3')).toMatchObject({ type: 'error', data: { code: 'RATE_LIMITED' } });

    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const killedAt = Date.now();
    // Within the lease (a renewal may have just happened), then free.
    await expect.poll(() => runs(b, 'dave'), { timeout: (LEASE_S + 3) * 1000, interval: 100 }).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan((LEASE_S + 2) * 1000);
    expect(await ask(onB, 'm4')).toMatchObject({ type: 'ack', data: { duplicate: false } });
  });
});
