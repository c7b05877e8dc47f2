import { describe, expect, it } from 'vitest';
import type { Client, Frame } from '../../helpers/gateway-harness.js';
import { TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { logged, useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 15: a dead owner's run still ends exactly once (the reaper's NODE_LOST), and an owner that was
// only frozen stores nothing more of it once it is back (fencing). Gateway processes
// (`node dist/cli.js serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes node-lost');

const LEASE_S = 3;
/** Reaped within the lease plus this: a renewal just before the kill, the reaper's jittered round. */
const REAP_SLACK_MS = 3_000;
const NODE_LOST = {
  status: 'failed',
  final_response: null,
  error: { code: 'NODE_LOST', message: 'the gateway node running the agent was lost' },
};

describe.skipIf(!available)('a run whose node is lost, across gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({
    keyPrefix: 'node-lost-test:',
    args: [
      ...['--run-lease-s', String(LEASE_S)],
      // The demo agent pauses this long between steps: its run is still going when its node is lost.
      ...['--demo-delay-ms', '2000'],
    ],
  });

  /** Starts a run on `client`'s node and resolves once its agent_started arrived; returns its id. */
  async function startRun(client: Client, id: string): Promise<string> {
    client.send({ type: 'user_message', id, data: { text: 'What is 17 * 23?' } });
    const ack = await client.next('ack', 10_000);
    const runId = (ack.data as { run_id: string }).run_id;
    for (;;) {
      const frame = await client.next(undefined, 10_000);
      if (frame.type === 'agent_started' && frame.run_id === runId) return runId;
    }
  }

  /** The next agent_completed of `runId` that `client` receives. */
  async function terminalOf(client: Client, runId: string, timeoutMs: number): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await client.next(undefined, Math.max(1, deadline - Date.now()));
      if (frame.type === 'agent_completed' && frame.run_id === runId) return frame;
    }
  }

  async function history(node: GatewayProcess, user: string): Promise<Frame[]> {
    const res = await fetch(`http://127.0.0.1:${node.port}/v1/users/${encodeURIComponent(user)}/history`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: Frame[] }).events;
  }

  it('SIGKILL of the owner mid-run: a client on another node gets NODE_LOST within the lease plus a few seconds, and history holds one terminal', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'alice');
    const onB = await connect(b, 'alice');
    const runId = await startRun(onA, 'm1');

    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const killedAt = Date.now();
    const terminal = await terminalOf(onB, runId, LEASE_S * 1000 + REAP_SLACK_MS + 2_000);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_S * 1000 + REAP_SLACK_MS);
    expect(terminal.data).toEqual(NODE_LOST);
    // The reaping node says which run of which node it ended.
    await logged(b, (e) => e.msg === 'run reaped: its node stopped renewing its lease' && e.run_id === runId);
    expect(b.logs.find((e) => e.msg === 'run reaped: its node stopped renewing its lease')).toMatchObject({
      user_id: 'alice',
      node: 'node-a',
      agent: 'demo',
    });

    const events = (await history(b, 'alice')).filter((e) => e.run_id === runId);
    expect(events.filter((e) => e.type === 'agent_completed')).toEqual([terminal]);
    expect(events.at(-1)).toEqual(terminal);
    // The run is over on every node: it no longer counts, and a new message runs.
    onB.send({ type: 'user_message', id: 'm2', data: { text: 'again' } });
    expect(await onB.next('ack', 10_000)).toMatchObject({ data: { duplicate: false } });
  });

  it('SIGSTOP of the owner until its run is reaped, then SIGCONT: nothing of the run is stored after its terminal', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const onA = await connect(a, 'bob');
    const onB = await connect(b, 'bob');
    const runId = await startRun(onA, 'm1');

    a.child.kill('SIGSTOP');
    try {
      const terminal = await terminalOf(onB, runId, LEASE_S * 1000 + REAP_SLACK_MS + 2_000);
      expect(terminal.data).toEqual(NODE_LOST);
    } finally {
      a.child.kill('SIGCONT');
    }
    // Back, the owner finds out (a refused append or a lost renewal), aborts its agent and ends the run
    // without a terminal of its own.
    await logged(a, (e) => e.msg === 'run ended' && e.run_id === runId, 10_000);
    expect(a.logs.find((e) => e.msg === 'run ended' && e.run_id === runId)).toMatchObject({
      status: 'failed',
      error_code: 'NODE_LOST',
    });
    const noticed = a.logs.filter((e) => e.run_id === runId).map((e) => e.msg);
    expect(
      noticed.some(
        (m) => m === 'run fenced: another node ended it' || m === 'run lease lost; the agent is aborted',
      ),
    ).toBe(true);
    const events = (await history(b, 'bob')).filter((e) => e.run_id === runId);
    const terminals = events.filter((e) => e.type === 'agent_completed');
    expect(terminals).toHaveLength(1);
    expect(terminals[0]?.data).toEqual(NODE_LOST);
    expect(events.at(-1)?.type).toBe('agent_completed');
    // The owner still serves: a new run on it runs and ends normally.
    const next = await startRun(onA, 'm2');
    expect(next).not.toBe(runId);
  });
});
