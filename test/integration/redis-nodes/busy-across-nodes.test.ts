import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { type Client, type Frame, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../helpers/redis-fixture.js';
import { engineReady } from './two-nodes.js';

// Issue 25 across nodes: the busy policy (docs/protocol.md E) holds whichever node a message reaches,
// because the Redis run registry decides a thread's turn; and two nodes answering one approval at once
// (docs/protocol.md G) make exactly one winner. Two in-process gateways on the shared Redis.
const available = await requireRedis(REDIS_URL, 'redis-nodes busy-across-nodes');

/** Runs named by their text wait until the test releases them (or they are cancelled). */
const gates = new Map<string, () => void>();
const held = defineAgent({
  name: 'held',
  async *run(input, ctx) {
    // The gate is set before the run says it works, so a test that saw agent_thinking can release it.
    const released = new Promise<void>((resolve) => {
      gates.set(input.text, resolve);
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    yield { type: 'agent_thinking', data: { reasoning: 'working' } };
    await released;
    return `done ${input.text}`;
  },
});

/** How many times the mailer's agent learnt a decision, per approval: must be once. */
const decisionsSeen = new Map<string, number>();
const mailer = defineAgent({
  name: 'mailer',
  async *run(_input, ctx) {
    const { decision } = await ctx.approval({
      tool_name: 'send_email',
      tool_args: { to: 'bob@example.com' },
      message: 'Send it?',
    });
    decisionsSeen.set(ctx.runId, (decisionsSeen.get(ctx.runId) ?? 0) + 1);
    if (decision === 'approved') yield* ctx.tool('send_email', {}, () => ({ sent: true }));
    return `decision: ${decision}`;
  },
});

async function answer(tab: Client, id: string): Promise<Frame> {
  for (;;) {
    const f = await tab.next(undefined, 5_000);
    if ((f.type === 'ack' || f.type === 'error') && f.id === id) return f;
  }
}

async function send(tab: Client, id: string, data: Record<string, unknown>): Promise<Frame> {
  tab.send({ type: 'user_message', id, data: { agent: 'held', ...data } });
  return answer(tab, id);
}

async function until(tab: Client, match: (f: Frame) => boolean): Promise<Frame> {
  for (let f = tab.frames.find(match); ; f = tab.frames.find(match)) {
    if (f !== undefined) return f;
    await tab.next(undefined, 5_000);
  }
}

const runIdOf = (ack: Frame): string => String(ack.data?.run_id);
const completed = (tab: Client, runId: string) =>
  until(tab, (f) => f.type === 'agent_completed' && f.run_id === runId);

function lifecycle(tab: Client, runIds: readonly string[]): string[] {
  return tab.frames
    .filter(
      (f) =>
        (f.type === 'agent_started' || f.type === 'agent_completed') && runIds.includes(String(f.run_id)),
    )
    .map((f) => `${f.type} ${f.run_id}`);
}

describe.skipIf(!available)('busy policy and approvals across two gateways on one Redis', () => {
  const prefix = uniquePrefix('busy-nodes');
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    const shared = { redis: REDIS_URL, redisKeyPrefix: prefix, maxRunsPerUser: 10 };
    a = await startGateway({ ...shared, serverId: 'node-a' }, { agents: [held, mailer] });
    b = await startGateway({ ...shared, serverId: 'node-b' }, { agents: [held, mailer] });
    await Promise.all([engineReady(a.gateway), engineReady(b.gateway)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  it('reject on node B for node A’s run: BUSY naming it; enqueue on B starts after A’s run ends', async () => {
    const onA = await a.connect('alice');
    const onB = await b.connect('alice');
    const first = runIdOf(await send(onA, 'm1', { text: 'a1', thread_id: 't1' }));
    expect(await send(onB, 'm2', { text: 'a2', thread_id: 't1' })).toMatchObject({
      type: 'error',
      data: { code: 'BUSY', message: `thread t1 is busy with run ${first}`, run_id: first },
    });
    const queued = runIdOf(await send(onB, 'm3', { text: 'a3', thread_id: 't1', on_busy: 'enqueue' }));
    await until(onB, (f) => f.type === 'agent_thinking' && f.run_id === first);
    gates.get('a1')?.();
    await completed(onA, first);
    await until(onA, (f) => f.type === 'agent_thinking' && f.run_id === queued);
    gates.get('a3')?.();
    await completed(onA, queued);
    expect(lifecycle(onA, [first, queued])).toEqual([
      `agent_started ${first}`,
      `agent_completed ${first}`,
      `agent_started ${queued}`,
      `agent_completed ${queued}`,
    ]);
  });

  it('interrupt on node B ends node A’s run INTERRUPTED, then runs on B', async () => {
    const onA = await a.connect('ines');
    const onB = await b.connect('ines');
    const first = runIdOf(await send(onA, 'm1', { text: 'b1', thread_id: 't1' }));
    const second = runIdOf(await send(onB, 'm2', { text: 'b2', thread_id: 't1', on_busy: 'interrupt' }));
    expect((await completed(onB, first)).data).toMatchObject({
      status: 'cancelled',
      error: { code: 'INTERRUPTED' },
    });
    await until(onA, (f) => f.type === 'agent_thinking' && f.run_id === second);
    gates.get('b2')?.();
    expect((await completed(onA, second)).data).toMatchObject({
      status: 'succeeded',
      final_response: 'done b2',
    });
    expect(lifecycle(onB, [first, second])).toEqual([
      `agent_started ${first}`,
      `agent_completed ${first}`,
      `agent_started ${second}`,
      `agent_completed ${second}`,
    ]);
  });

  it('answers on both nodes at once for node A’s run: one ack, one CONFLICT, one approval_resolved, the agent learns it once', async () => {
    for (const round of [1, 2, 3]) {
      const user = `ann${round}`;
      const onA = await a.connect(user);
      const onB = await b.connect(user);
      onA.send({ type: 'user_message', id: 'm1', data: { text: 'email bob', agent: 'mailer' } });
      const runId = runIdOf(await answer(onA, 'm1'));
      const asked = await until(onB, (f) => f.type === 'approval_requested' && f.run_id === runId);
      const approvalId = String(asked.data?.approval_id);
      const frame = (id: string, decision: string) => ({
        type: 'approval',
        id,
        data: { approval_id: approvalId, decision },
      });
      onA.send(frame('qa', round === 2 ? 'deny' : 'approve'));
      onB.send(frame('qb', round === 3 ? 'approve' : 'deny'));
      const answers = [await answer(onA, 'qa'), await answer(onB, 'qb')];
      expect(answers.filter((f) => f.type === 'ack')).toHaveLength(1);
      expect(answers.filter((f) => f.type === 'error').map((f) => f.data?.code)).toEqual(['CONFLICT']);
      const won = answers.find((f) => f.type === 'ack')?.data?.decision;
      const end = await completed(onA, runId);
      expect(end.data).toMatchObject({ status: 'succeeded', final_response: `decision: ${won}` });
      for (const tab of [onA, onB]) {
        await completed(tab, runId);
        const ofRun = tab.frames.filter((f) => f.run_id === runId);
        expect(ofRun.filter((f) => f.type === 'approval_resolved').map((f) => f.data?.decision)).toEqual([
          won,
        ]);
        expect(ofRun.filter((f) => f.type === 'tool_executing')).toHaveLength(won === 'approved' ? 1 : 0);
      }
      expect(decisionsSeen.get(runId)).toBe(1);
    }
  });
});
