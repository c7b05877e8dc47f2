import { afterEach, describe, expect, it } from 'vitest';
import { type AgentDefinition, defineAgent } from '../../packages/server/src/agents/define-agent.js';
import { type Client, type Frame, type Harness, startGateway } from '../helpers/gateway-harness.js';

/** Frames of one run, in the order the socket delivered them. */
function runFrames(client: Client, runId: string): Frame[] {
  return client.frames.filter((f) => f.run_id === runId);
}

async function ask(client: Client, id: string, data: Record<string, unknown>): Promise<string> {
  client.send({ type: 'user_message', id, data });
  const ack = await client.next('ack');
  expect(ack).toMatchObject({ id, data: { duplicate: false } });
  return (ack.data as { run_id: string }).run_id;
}

async function completed(client: Client, runId: string): Promise<Frame> {
  for (;;) {
    const frame = await client.next('agent_completed', 10_000);
    if (frame.run_id === runId) return frame;
  }
}

/** An agent that calls one tool and then misbehaves as told. */
function misbehaving(mode: 'throw' | 'invalid' | 'hang'): AgentDefinition {
  return defineAgent({
    name: `bad-${mode}`,
    async *run(_input, ctx) {
      yield { type: 'agent_thinking', data: { reasoning: 'about to misbehave' } };
      if (mode === 'throw') {
        yield* ctx.tool('explode', {}, () => {
          throw new Error('tool blew up');
        });
      }
      if (mode === 'invalid') yield { type: 'tool_executing', data: { tool_name: 'x' } };
      if (mode === 'hang') await new Promise(() => undefined); // ignores its signal on purpose
      yield { type: 'stream_chunk', data: { text: 'never' } };
    },
  });
}

describe('agent runs over a real socket (docs/protocol.md §3, §6)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('streams the golden path of the demo agent in order, each event with its fields and run_id, and one terminal event', async () => {
    h = await startGateway({ demoDelayMs: 0 });
    const client = await h.connect('u1');
    const runId = await ask(client, 'm1', { text: 'What is 12 * 12?' });
    const done = await completed(client, runId);
    const frames = runFrames(client, runId);
    const types = frames.map((f) => f.type);
    expect(types[0]).toBe('agent_started');
    expect(types.at(-1)).toBe('agent_completed');
    expect(types.filter((t) => t === 'agent_completed')).toHaveLength(1);
    for (const type of ['agent_thinking', 'tool_executing', 'tool_completed', 'stream_chunk'])
      expect(types).toContain(type);
    expect(types.indexOf('agent_thinking')).toBeLessThan(types.indexOf('tool_executing'));
    expect(frames[0]?.data).toMatchObject({ agent_name: 'demo', task_description: 'What is 12 * 12?' });
    for (const exec of frames.filter((f) => f.type === 'tool_executing')) {
      expect(exec.data).toMatchObject({
        tool_name: expect.any(String),
        tool_args: expect.any(Object),
        execution_id: expect.any(String),
      });
      const result = frames.find(
        (f) => f.type === 'tool_completed' && f.data?.execution_id === exec.data?.execution_id,
      );
      expect(result?.data).toMatchObject({
        success: true,
        duration_ms: expect.any(Number),
        tool_name: exec.data?.tool_name,
      });
      expect(frames.indexOf(result as Frame)).toBeGreaterThan(frames.indexOf(exec));
    }
    expect(done.data).toMatchObject({ status: 'succeeded', final_response: expect.stringContaining('144') });
    const seqs = frames.map((f) => f.seq as number);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => (seqs[0] as number) + i));
  });

  it.each([
    ['throws mid-tool', 'throw', 'failed', 'AGENT_ERROR'],
    ['yields an invalid event', 'invalid', 'failed', 'INVALID_EVENT'],
    ['hangs past the run timeout, ignoring its signal', 'hang', 'timed_out', 'TIMEOUT'],
  ] as const)(
    'ends a run whose agent %s with one agent_completed and nothing after it',
    async (_name, mode, status, code) => {
      h = await startGateway({ runTimeoutMs: 300 }, { agents: [misbehaving(mode)] });
      const client = await h.connect('u1');
      const runId = await ask(client, 'm1', { text: 'go', agent: `bad-${mode}` });
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({ status, error: { code } });
      // Publish a marker after the run: nothing of the run may arrive between the terminal event and it.
      await h.publish({ user_id: 'u1', type: 'notification', data: { marker: true } });
      await client.next('notification');
      const frames = runFrames(client, runId);
      expect(frames.at(-1)?.type).toBe('agent_completed');
      expect(frames.filter((f) => f.type === 'agent_completed')).toHaveLength(1);
      expect(frames.some((f) => f.type === 'stream_chunk')).toBe(false);
    },
  );

  it('cancels during a tool call: the tool sees the abort and the run ends cancelled, the terminal event last', async () => {
    let toolAborted = false;
    const slow = defineAgent({
      name: 'bad-slow-tool',
      async *run(_input, ctx) {
        yield* ctx.tool('wait', { ms: 60_000 }, (signal) => {
          return new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              toolAborted = true;
              reject(signal.reason);
            }),
          );
        });
      },
    });
    h = await startGateway({}, { agents: [slow] });
    const client = await h.connect('u1');
    const runId = await ask(client, 'm1', { text: 'go', agent: 'bad-slow-tool' });
    await client.next('tool_executing');
    client.send({ type: 'cancel', id: 'c1', data: { run_id: runId } });
    expect(await client.next('ack')).toMatchObject({ id: 'c1', data: { run_id: runId } });
    const done = await completed(client, runId);
    expect(done.data).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(toolAborted).toBe(true);
    // Nothing of a run after its end: the aborted tool's result is not published; agent_completed
    // closes every open tool call for the UI.
    expect(runFrames(client, runId).map((f) => f.type)).toEqual([
      'agent_started',
      'tool_executing',
      'agent_completed',
    ]);
  });

  it('gives every event of a run the run’s own trace context, the one its agent gets (D, "Trace context")', async () => {
    let given = '';
    const traced = defineAgent({
      name: 'traced',
      async *run(_input, ctx) {
        given = ctx.traceparent;
        yield { type: 'agent_thinking', data: { reasoning: 'traced' } };
      },
    });
    h = await startGateway({}, { agents: [traced] });
    const client = await h.connect('u1');
    const first = await ask(client, 'm1', { text: 'one', agent: 'traced' });
    await completed(client, first);
    const firstTrace = given;
    const second = await ask(client, 'm2', { text: 'two', agent: 'traced' });
    await completed(client, second);
    expect(firstTrace).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(given).not.toBe(firstTrace); // a new trace per run
    expect(runFrames(client, first).map((f) => f.meta)).toEqual(
      [1, 2, 3].map(() => ({ traceparent: firstTrace })),
    );
    expect(new Set(runFrames(client, second).map((f) => JSON.stringify(f.meta)))).toEqual(
      new Set([JSON.stringify({ traceparent: given })]),
    );
  });

  it('starts one run for a message id sent twice at once from two connections of the same user', async () => {
    h = await startGateway({ demoDelayMs: 20 });
    const [a, b] = await Promise.all([h.connect('u1'), h.connect('u1')]);
    const message = { type: 'user_message', id: 'same-id', data: { text: 'hello' } };
    a.send(message);
    b.send(message);
    const [ackA, ackB] = await Promise.all([a.next('ack'), b.next('ack')]);
    expect(ackA.data?.run_id).toBe(ackB.data?.run_id);
    expect([ackA.data?.duplicate, ackB.data?.duplicate].sort()).toEqual([false, true]);
    await completed(a, ackA.data?.run_id as string);
    expect(a.frames.filter((f) => f.type === 'agent_started')).toHaveLength(1);
    // A retry after the run still answers with the same run.
    a.send(message);
    expect(await a.next('ack')).toMatchObject({ data: { run_id: ackA.data?.run_id, duplicate: true } });
  });

  it('refuses a fourth concurrent run with RATE_LIMITED and an unknown agent with NOT_FOUND', async () => {
    h = await startGateway({ demoDelayMs: 2000, maxRunsPerUser: 3 });
    const client = await h.connect('u1');
    for (const id of ['m1', 'm2', 'm3']) await ask(client, id, { text: 'slow' });
    client.send({ type: 'user_message', id: 'm4', data: { text: 'one too many' } });
    expect(await client.next('error')).toMatchObject({ id: 'm4', data: { code: 'RATE_LIMITED' } });
    client.send({ type: 'user_message', id: 'm5', data: { text: 'x', agent: 'nobody' } });
    expect(await client.next('error')).toMatchObject({ id: 'm5', data: { code: 'NOT_FOUND' } });
  });

  it('shows two users running agents at once only their own runs', async () => {
    h = await startGateway({ demoDelayMs: 5 });
    const alice = await h.connect('alice');
    const bob = await h.connect('bob');
    const [runA, runB] = await Promise.all([
      ask(alice, 'a1', { text: 'alice: 2+2' }),
      ask(bob, 'b1', { text: 'bob: 3+3' }),
    ]);
    await Promise.all([completed(alice, runA), completed(bob, runB)]);
    expect(alice.frames.filter((f) => f.run_id !== undefined).every((f) => f.run_id === runA)).toBe(true);
    expect(bob.frames.filter((f) => f.run_id !== undefined).every((f) => f.run_id === runB)).toBe(true);
    expect(runFrames(alice, runA)[0]?.data).toMatchObject({ task_description: 'alice: 2+2' });
  });
});
