import { describe, expect, it } from 'vitest';
import type { Client, Frame } from '../../helpers/gateway-harness.js';
import { TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { history, terminalOf, useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 15, cancel from anywhere: a `cancel` frame or POST /v1/runs/:run_id/cancel on node B reaches
// the run's owner, node A, over its control channel (docs/agents.md, "Runs across nodes"). Two gateway
// processes (`node dist/cli.js serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes cancel-across-nodes');

/** "Within about a second" (issue 15), with room for a loaded CI machine. */
const CANCEL_BOUND_MS = 1_500;
const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

describe.skipIf(!available)('cancel across two gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({
    keyPrefix: 'cancel-test:',
    args: [
      // The demo agent pauses this long between steps: its runs run until cancelled.
      ...['--demo-delay-ms', '60000'],
    ],
  });

  /** Sends a frame and returns the answer to it: the `ack` or `error` frame with its id. */
  async function ask(client: Client, frame: { type: string; id: string; data: unknown }): Promise<Frame> {
    client.send(frame);
    for (;;) {
      const answer = await client.next(undefined, 10_000);
      if ((answer.type === 'ack' || answer.type === 'error') && answer.id === frame.id) return answer;
    }
  }

  async function startRun(client: Client, id: string): Promise<string> {
    const ack = await ask(client, { type: 'user_message', id, data: { text: 'What is 2 + 2?' } });
    expect(ack).toMatchObject({ type: 'ack', data: { duplicate: false } });
    return (ack.data as { run_id: string }).run_id;
  }

  function terminalsOf(client: Client, runId: string): Frame[] {
    return client.frames.filter((f) => f.type === 'agent_completed' && f.run_id === runId);
  }

  /** The run's `agent_completed` events in the user's stored history, read on `node`. */
  async function storedTerminals(node: GatewayProcess, user: string, runId: string): Promise<Frame[]> {
    return (await history(node, user)).filter((e) => e.type === 'agent_completed' && e.run_id === runId);
  }

  async function postCancel(node: GatewayProcess, runId: string, userId: string) {
    const res = await fetch(`http://127.0.0.1:${node.port}/v1/runs/${runId}/cancel`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: userId }),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  }

  const cancelled = {
    status: 'cancelled',
    error: { code: 'CANCELLED', message: 'cancelled by the user' },
  };

  it('acks on node B a cancel frame for node A’s run, which ends cancelled once on all three nodes’ connections', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const c = await start('node-c');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    const onC = await connect(c, 'alice');
    const runId = await startRun(onA, 'm1');
    await onB.next('agent_started', 10_000);
    await onC.next('agent_started', 10_000);

    // Another user, and an unknown run, are still NOT_FOUND on node B.
    const bob = await connect(b, 'bob');
    expect(await ask(bob, { type: 'cancel', id: 'x1', data: { run_id: runId } })).toMatchObject({
      type: 'error',
      data: { code: 'NOT_FOUND' },
    });
    expect(await ask(onB, { type: 'cancel', id: 'x2', data: { run_id: 'r_unknown' } })).toMatchObject({
      type: 'error',
      data: { code: 'NOT_FOUND' },
    });

    const sentAt = Date.now();
    expect(await ask(onB, { type: 'cancel', id: 'c1', data: { run_id: runId } })).toEqual({
      type: 'ack',
      id: 'c1',
      data: { run_id: runId },
    });
    expect((await terminalOf(onB, runId)).data).toMatchObject(cancelled);
    expect((await terminalOf(onA, runId)).data).toMatchObject(cancelled);
    expect((await terminalOf(onC, runId)).data).toMatchObject(cancelled);
    expect(Date.now() - sentAt).toBeLessThan(CANCEL_BOUND_MS);

    // Exactly once: a resent cancel is acked (the run is over) and ends nothing more.
    expect(await ask(onB, { type: 'cancel', id: 'c2', data: { run_id: runId } })).toMatchObject({
      type: 'ack',
      id: 'c2',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(terminalsOf(onA, runId)).toHaveLength(1);
    expect(terminalsOf(onB, runId)).toHaveLength(1);
    expect(terminalsOf(onC, runId)).toHaveLength(1);
    expect(await storedTerminals(b, 'alice', runId)).toHaveLength(1);
    // The owner ended its registration: the run is listed nowhere.
    const listed = await fetch(`http://127.0.0.1:${b.port}/v1/users/alice/runs`, { headers: auth });
    expect(await listed.json()).toEqual({ runs: [] });
  });

  it('cancels node A’s run by POST /v1/runs/:run_id/cancel on node B: 202, then 200 ended; 404 for another user', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'carol');
    const runId = await startRun(onA, 'm1');

    expect(await postCancel(b, runId, 'dave')).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    });
    const sentAt = Date.now();
    expect(await postCancel(b, runId, 'carol')).toEqual({
      status: 202,
      body: { run_id: runId, status: 'cancelling' },
    });
    expect((await terminalOf(onA, runId)).data).toMatchObject(cancelled);
    expect(Date.now() - sentAt).toBeLessThan(CANCEL_BOUND_MS);
    await expect
      .poll(() => postCancel(b, runId, 'carol'), { timeout: 5_000, interval: 50 })
      .toEqual({ status: 200, body: { run_id: runId, status: 'ended' } });
    expect(await postCancel(a, runId, 'carol')).toEqual({
      status: 200,
      body: { run_id: runId, status: 'ended' },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(terminalsOf(onA, runId)).toHaveLength(1);
    expect(await storedTerminals(a, 'carol', runId)).toHaveLength(1);
  });
});
