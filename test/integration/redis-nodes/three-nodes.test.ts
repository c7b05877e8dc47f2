import { describe, expect, it } from 'vitest';
import type { Client, Frame } from '../../helpers/gateway-harness.js';
import {
  history,
  logged,
  NODE_LOST,
  startRun,
  terminalOf,
  useGatewayNodes,
} from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue 15 with three gateway processes on one redis-server of this test's own (`node dist/cli.js
// serve`; `npm run build` first): the node that ends a lost run is neither the owner nor necessarily the
// node the user is connected to, and a cancel sent on a third node races the owner's freeze and reap.
const available = await requireRedisServer('redis-nodes three-nodes');

const LEASE_S = 3;
/** Reaped within the lease plus this: a renewal just before the kill, the reaper's jittered round. */
const REAP_SLACK_MS = 3_000;
const REAPED = 'run reaped: its node stopped renewing its lease';

describe.skipIf(!available)('agent runs across three gateway processes on one Redis', () => {
  const { start, connect } = useGatewayNodes({
    keyPrefix: 'three-nodes-test:',
    args: [
      ...['--run-lease-s', String(LEASE_S)],
      // The demo agent pauses this long between steps: its runs run until cancelled or lost.
      ...['--demo-delay-ms', '60000'],
    ],
  });

  const terminalsOn = (client: Client, runId: string) =>
    client.frames.filter((f) => f.type === 'agent_completed' && f.run_id === runId);

  it('SIGKILL of node A mid-run: the user on node C gets NODE_LOST once, reaped by node B or C; history holds one terminal, last', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const c = await start('node-c');
    const onA = await connect(a, 'alice');
    const onC = await connect(c, 'alice');
    const runId = await startRun(onA, 'm1');

    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const killedAt = Date.now();
    const terminal = await terminalOf(onC, runId, LEASE_S * 1000 + REAP_SLACK_MS + 2_000);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_S * 1000 + REAP_SLACK_MS);
    expect(terminal.data).toEqual(NODE_LOST);

    // One of the survivors reaped it, once; neither reaped it twice.
    const reapedBy = (node: GatewayProcess) =>
      node.logs.filter((e) => e.msg === REAPED && e.run_id === runId).length;
    await expect.poll(() => reapedBy(b) + reapedBy(c), { timeout: 2_000, interval: 20 }).toBe(1);
    // Another round of both reapers goes by: still one terminal on the connection and in history.
    await new Promise((resolve) => setTimeout(resolve, LEASE_S * 1000));
    expect(reapedBy(b) + reapedBy(c)).toBe(1);
    expect(terminalsOn(onC, runId)).toEqual([terminal]);
    for (const node of [b, c]) {
      const events = (await history(node, 'alice')).filter((e) => e.run_id === runId);
      expect(events.filter((e) => e.type === 'agent_completed')).toEqual([terminal]);
      expect(events.at(-1)).toEqual(terminal);
    }
  });

  it('a cancel on node B racing node A’s SIGSTOP and reap: acked, and the run gets exactly one terminal, its last event', async () => {
    const a = await start('node-a');
    const b = await start('node-b');
    const c = await start('node-c');
    const onA = await connect(a, 'bob');
    const onB = await connect(b, 'bob');
    const onC = await connect(c, 'bob');
    const runId = await startRun(onA, 'm1');

    a.child.kill('SIGSTOP');
    let cancelAck: Frame;
    try {
      // Send it as the lease runs out: the reaper (on B or C) and the owner's cancel handler race.
      await new Promise((resolve) => setTimeout(resolve, LEASE_S * 1000 - 200));
      onB.send({ type: 'cancel', id: 'c1', data: { run_id: runId } });
      cancelAck = await onB.next('ack', 10_000);
    } finally {
      // Back at once: A handles the cancel it missed (and its held renewal) while the reaper may act.
      a.child.kill('SIGCONT');
    }
    // docs/agents.md: a cancel for a run whose owner is frozen or lapsed is still acked.
    expect(cancelAck).toEqual({ type: 'ack', id: 'c1', data: { run_id: runId } });

    const terminal = await terminalOf(onB, runId, LEASE_S * 1000 + REAP_SLACK_MS + 2_000);
    const end = terminal.data as { status: string; error?: { code: string } };
    // Whichever came first ends it: the owner's cancel, a reaper, or the owner noticing its lease lost.
    expect(['cancelled:CANCELLED', 'failed:NODE_LOST', 'failed:UNAVAILABLE']).toContain(
      `${end.status}:${end.error?.code}`,
    );
    // Let the loser of the race act (A's late append is fenced, a second reap finds nothing).
    await logged(a, (e) => e.msg === 'run ended' && e.run_id === runId, 10_000);
    await new Promise((resolve) => setTimeout(resolve, LEASE_S * 1000));
    for (const client of [onB, onC]) expect(terminalsOn(client, runId)).toEqual([terminal]);
    const events = (await history(c, 'bob')).filter((e) => e.run_id === runId);
    expect(events.filter((e) => e.type === 'agent_completed')).toEqual([terminal]);
    expect(events.at(-1)).toEqual(terminal);
    // The owner's own connection (frozen with it) saw no other terminal.
    for (const frame of terminalsOn(onA, runId)) expect(frame).toEqual(terminal);
    expect(terminalsOn(onA, runId).length).toBeLessThanOrEqual(1);
  });
});
