import { describe, expect, it } from 'vitest';
import {
  history,
  logged,
  NODE_LOST,
  startRun,
  terminalOf,
  useGatewayNodes,
} from '../../helpers/gateway-nodes.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 15: a dead owner's run still ends exactly once (the reaper's NODE_LOST), and an owner that was
// only frozen stores nothing more of it once it is back (fencing). Gateway processes
// (`node dist/cli.js serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes node-lost');

const LEASE_S = 3;
/** Reaped within the lease plus this: a renewal just before the kill, the reaper's jittered round. */
const REAP_SLACK_MS = 3_000;

describe.skipIf(!available)('a run whose node is lost, across gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({
    keyPrefix: 'node-lost-test:',
    args: [
      ...['--run-lease-s', String(LEASE_S)],
      // The demo agent pauses this long between steps: its run is still going when its node is lost.
      ...['--demo-delay-ms', '2000'],
    ],
  });

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
