import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import {
  type Client,
  type Frame,
  type Harness,
  startGateway,
  TEST_API_KEY,
} from '../helpers/gateway-harness.js';

// Issue 25, approvals (docs/protocol.md G), through the real gateway: a TypeScript agent asks with
// ctx.approval(), every tab sees the question, the first answer wins once, and the run acts on it.

const mailer = defineAgent({
  name: 'mailer',
  async *run(input, ctx) {
    const short = input.text.includes('short');
    const { decision } = await ctx.approval({
      tool_name: 'send_email',
      tool_args: { to: 'bob@example.com' },
      message: 'Send the email to bob@example.com?',
      ...(short ? { timeout_ms: 300 } : {}),
    });
    if (decision === 'approved') {
      yield* ctx.tool('send_email', { to: 'bob@example.com' }, () => ({ sent: true }));
    }
    return `decision: ${decision}`;
  },
});

async function ask(
  tab: Client,
  id: string,
  text = 'email bob',
): Promise<{ runId: string; approvalId: string }> {
  tab.send({ type: 'user_message', id, data: { text, agent: 'mailer' } });
  const runId = String((await tab.next('ack')).data?.run_id);
  const requested = await tab.next('approval_requested');
  expect(requested.run_id).toBe(runId);
  return { runId, approvalId: String(requested.data?.approval_id) };
}

/** Every frame `tab` received of run `runId` after its approval_requested, once its agent_completed came. */
async function runOf(tab: Client, runId: string): Promise<Frame[]> {
  const ended = () => tab.frames.some((f) => f.type === 'agent_completed' && f.run_id === runId);
  while (!ended()) await tab.next(undefined, 10_000);
  const ofRun = tab.frames.filter((f) => f.run_id === runId && typeof f.seq === 'number');
  return ofRun.slice(ofRun.findIndex((f) => f.type === 'approval_requested') + 1);
}

const answerFrame = (id: string, approvalId: string, decision: 'approve' | 'deny') => ({
  type: 'approval',
  id,
  data: { approval_id: approvalId, decision },
});

async function answered(tab: Client, id: string): Promise<Frame> {
  for (;;) {
    const f = await tab.next(undefined, 10_000);
    if ((f.type === 'ack' || f.type === 'error') && f.id === id) return f;
  }
}

describe('approvals through the gateway (docs/protocol.md G)', () => {
  let gw: Harness | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });
  const start = async (overrides = {}) => {
    gw = await startGateway(overrides, { agents: [mailer] });
    return gw;
  };

  it('two tabs answer at the same instant: one ack, one CONFLICT, one approval_resolved, and the tool runs iff approved', async () => {
    const g = await start();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.boolean(), async (firstApproves, secondApproves) => {
        const a = await g.connect('alice');
        const b = await g.connect('alice');
        const { runId, approvalId } = await ask(a, `m${Math.random()}`);
        expect(await b.next('approval_requested')).toMatchObject({ data: { approval_id: approvalId } });
        a.send(answerFrame('qa', approvalId, firstApproves ? 'approve' : 'deny'));
        b.send(answerFrame('qb', approvalId, secondApproves ? 'approve' : 'deny'));
        const answers = [await answered(a, 'qa'), await answered(b, 'qb')];
        const acks = answers.filter((f) => f.type === 'ack');
        expect(acks).toHaveLength(1);
        const conflict = answers.find((f) => f.type === 'error');
        const won = acks[0]?.data?.decision;
        expect(conflict?.data).toEqual({
          code: 'CONFLICT',
          message: `approval ${approvalId} was already resolved: ${won}`,
          decision: won,
        });
        const events = await runOf(a, runId);
        expect(events.filter((f) => f.type === 'approval_resolved')).toEqual([
          expect.objectContaining({ data: { approval_id: approvalId, decision: won, by: 'user' } }),
        ]);
        expect(events.some((f) => f.type === 'tool_executing')).toBe(won === 'approved');
        expect(events.at(-1)?.data).toMatchObject({
          status: 'succeeded',
          final_response: `decision: ${won}`,
        });
        a.ws.terminate();
        b.ws.terminate();
      }),
      { numRuns: 8 },
    );
  });

  it('a retried frame is acked again as duplicate; another user’s answer is NOT_FOUND and changes nothing', async () => {
    const g = await start();
    const a = await g.connect('alice');
    const bob = await g.connect('bob');
    const { runId, approvalId } = await ask(a, 'm1');
    bob.send(answerFrame('qx', approvalId, 'approve'));
    expect((await answered(bob, 'qx')).data).toMatchObject({ code: 'NOT_FOUND' });
    a.send(answerFrame('q1', approvalId, 'deny'));
    expect((await answered(a, 'q1')).data).toEqual({
      approval_id: approvalId,
      decision: 'denied',
      duplicate: false,
    });
    a.send(answerFrame('q1', approvalId, 'deny'));
    expect((await answered(a, 'q1')).data).toEqual({
      approval_id: approvalId,
      decision: 'denied',
      duplicate: true,
    });
    const events = await runOf(a, runId);
    expect(events.filter((f) => f.type === 'approval_resolved')).toHaveLength(1);
    expect(events.some((f) => f.type === 'tool_executing')).toBe(false);
  });

  it('a reload mid-wait finds the question in history, in its run snapshot and in GET /v1/approvals; HTTP answers it once', async () => {
    const g = await start();
    const a = await g.connect('alice');
    const { runId, approvalId } = await ask(a, 'm1');
    const reloaded = await g.connect('alice', { query: '?catch_up=snapshot' });
    expect(await reloaded.next('run_snapshot')).toMatchObject({
      data: {
        run_id: runId,
        status: 'waiting',
        approvals: [{ approval_id: approvalId, tool_name: 'send_email' }],
      },
    });
    const token = await g.token('alice');
    const pending = await fetch(`${g.httpUrl}/v1/approvals?state=pending`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(await pending.json()).toMatchObject({
      approvals: [{ approval_id: approvalId, run_id: runId, message: 'Send the email to bob@example.com?' }],
    });
    const post = (decision: string, key: string, bearer = token) =>
      fetch(`${g.httpUrl}/v1/approvals/${approvalId}`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${bearer}`,
          'Content-Type': 'application/json',
          'Idempotency-Key': key,
        },
        body: JSON.stringify({ decision }),
      });
    const foreign = await post('approve', 'k', await g.token('bob'));
    const foreignBody = await foreign.json();
    expect([foreign.status, foreignBody]).toMatchObject([404, { error: { code: 'NOT_FOUND' } }]);
    const first = await post('approve', 'k');
    expect([first.status, await first.json()]).toEqual([
      200,
      { approval_id: approvalId, decision: 'approved', duplicate: false },
    ]);
    expect(await (await post('approve', 'k')).json()).toMatchObject({ duplicate: true });
    const late = await post('deny', 'other');
    expect([late.status, ((await late.json()) as { error: unknown }).error]).toMatchObject([
      409,
      { code: 'CONFLICT', decision: 'approved' },
    ]);
    const events = await runOf(reloaded, runId);
    expect(events.map((f) => f.type)).toEqual([
      'approval_resolved',
      'tool_executing',
      'tool_completed',
      'agent_completed',
    ]);
    const after = await fetch(`${g.httpUrl}/v1/approvals?user_id=alice`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    expect(await after.json()).toEqual({ approvals: [] });
  });

  it('expires unanswered: approval_resolved expired by timeout, the tool does not run, the run still succeeds', async () => {
    const g = await start();
    const a = await g.connect('alice');
    const { runId, approvalId } = await ask(a, 'm1', 'email bob, short');
    const events = await runOf(a, runId);
    expect(events.find((f) => f.type === 'approval_resolved')?.data).toEqual({
      approval_id: approvalId,
      decision: 'expired',
      by: 'timeout',
    });
    expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded', final_response: 'decision: expired' });
    a.send(answerFrame('late', approvalId, 'approve'));
    expect((await answered(a, 'late')).data).toMatchObject({ code: 'CONFLICT', decision: 'expired' });
  });

  it('a cancel while the question is pending resolves it cancelled before the run’s one agent_completed', async () => {
    const g = await start();
    const a = await g.connect('alice');
    const { runId, approvalId } = await ask(a, 'm1');
    a.send({ type: 'cancel', id: 'c1', data: { run_id: runId } });
    const events = await runOf(a, runId);
    expect(events.map((f) => f.type)).toEqual(['approval_resolved', 'agent_completed']);
    expect(events[0]?.data).toEqual({ approval_id: approvalId, decision: 'cancelled', by: 'run' });
    expect(events[1]?.data).toMatchObject({ status: 'cancelled' });
  });

  it('the run timeout does not run while the run waits for a person', async () => {
    const g = await start({ runTimeoutMs: 400, approvalTimeoutMs: 60_000 });
    const a = await g.connect('alice');
    const { runId, approvalId } = await ask(a, 'm1');
    // Past the run timeout while waiting: still waiting (a ping round trip later).
    await new Promise((resolve) => setTimeout(resolve, 600));
    a.send({ type: 'ping', id: 'p' });
    await a.next('pong');
    expect(a.frames.some((f) => f.type === 'agent_completed')).toBe(false);
    a.send(answerFrame('q', approvalId, 'approve'));
    const events = await runOf(a, runId);
    expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded' });
  });

  it('refuses approval events from publishers', async () => {
    const g = await start();
    for (const type of ['approval_requested', 'approval_resolved']) {
      const res = await g.publish({ user_id: 'alice', run_id: 'r1', type, data: {} });
      expect(res.status).toBe(400);
    }
  });
});
