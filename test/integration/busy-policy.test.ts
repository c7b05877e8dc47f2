import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import {
  type Client,
  type Frame,
  type Harness,
  startGateway,
  TEST_API_KEY,
} from '../helpers/gateway-harness.js';

// Issue 25, "A message while a run is busy" (docs/protocol.md E), through one real gateway: a thread has
// one active run; reject answers BUSY, enqueue runs the message after it, interrupt ends it INTERRUPTED.

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

/** Lets the run named `text` finish, once it said it works (its agent_thinking). */
async function release(tab: Client, text: string, runId: string): Promise<void> {
  const working = () => tab.frames.some((f) => f.type === 'agent_thinking' && f.run_id === runId);
  while (!working()) await tab.next(undefined, 5_000);
  gates.get(text)?.();
}

async function send(tab: Client, id: string, data: Record<string, unknown>): Promise<Frame> {
  tab.send({ type: 'user_message', id, data: { agent: 'held', ...data } });
  for (;;) {
    const f = await tab.next(undefined, 5_000);
    if ((f.type === 'ack' || f.type === 'error') && f.id === id) return f;
  }
}

const runIdOf = (ack: Frame): string => String(ack.data?.run_id);

/** `type run_id` of the lifecycle frames `tab` got so far for these runs, in order. */
function lifecycle(tab: Client, runIds: readonly string[]): string[] {
  return tab.frames
    .filter(
      (f) =>
        (f.type === 'agent_started' || f.type === 'agent_completed') && runIds.includes(String(f.run_id)),
    )
    .map((f) => `${f.type} ${f.run_id}`);
}

async function completed(tab: Client, runId: string): Promise<Frame> {
  const find = () => tab.frames.find((f) => f.type === 'agent_completed' && f.run_id === runId);
  for (let f = find(); ; f = find()) {
    if (f !== undefined) return f;
    await tab.next(undefined, 5_000);
  }
}

describe('busy policy through one gateway (docs/protocol.md E)', () => {
  let gw: Harness;
  beforeAll(async () => {
    gw = await startGateway({ maxRunsPerUser: 10, maxQueuedRunsPerThread: 2 }, { agents: [held] });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('reject (default): BUSY names the thread’s run over the socket and as 409 over HTTP; a retry is a duplicate', async () => {
    const tab = await gw.connect('rita');
    const first = runIdOf(await send(tab, 'm1', { text: 'r1', thread_id: 't1' }));
    expect(await send(tab, 'm2', { text: 'r2', thread_id: 't1' })).toEqual({
      type: 'error',
      id: 'm2',
      data: { code: 'BUSY', message: `thread t1 is busy with run ${first}`, run_id: first },
    });
    expect(await send(tab, 'm1', { text: 'r1', thread_id: 't1' })).toMatchObject({
      type: 'ack',
      data: { run_id: first, duplicate: true },
    });
    const res = await fetch(`${gw.httpUrl}/v1/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await gw.token('rita')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: 'h1', text: 'r3', thread_id: 't1', agent: 'held' }),
    });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: { code: 'BUSY', message: `thread t1 is busy with run ${first}`, run_id: first },
    });
    // A bad on_busy is refused naming the field.
    expect(await send(tab, 'm3', { text: 'r3', thread_id: 't1', on_busy: 'later' })).toMatchObject({
      type: 'error',
      data: { code: 'INVALID_MESSAGE' },
    });
    await release(tab, 'r1', first);
    await completed(tab, first);
  });

  it('enqueue (per message): acked at once, started after the running run’s agent_completed; bounded by the queue', async () => {
    const tab = await gw.connect('erin');
    const first = runIdOf(await send(tab, 'm1', { text: 'e1', thread_id: 't1' }));
    const second = await send(tab, 'm2', { text: 'e2', thread_id: 't1', on_busy: 'enqueue' });
    const third = await send(tab, 'm3', { text: 'e3', thread_id: 't1', on_busy: 'enqueue' });
    expect([second.type, third.type]).toEqual(['ack', 'ack']);
    expect(await send(tab, 'm2', { text: 'e2', thread_id: 't1', on_busy: 'enqueue' })).toMatchObject({
      type: 'ack',
      data: { run_id: runIdOf(second), duplicate: true },
    });
    expect(await send(tab, 'm4', { text: 'e4', thread_id: 't1', on_busy: 'enqueue' })).toMatchObject({
      type: 'error',
      data: { code: 'RATE_LIMITED' },
    });
    const ids = [first, runIdOf(second), runIdOf(third)];
    // The backend's run list tells the waiting runs from the working one.
    const listed = await fetch(`${gw.httpUrl}/v1/users/erin/runs`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    const { runs } = (await listed.json()) as {
      runs: { run_id: string; thread_id?: string; queued?: true }[];
    };
    expect(runs.map(({ run_id, thread_id, queued }) => ({ run_id, thread_id, queued }))).toEqual([
      { run_id: first, thread_id: 't1', queued: undefined },
      { run_id: ids[1], thread_id: 't1', queued: true },
      { run_id: ids[2], thread_id: 't1', queued: true },
    ]);
    await release(tab, 'e1', first);
    await release(tab, 'e2', runIdOf(second));
    await release(tab, 'e3', runIdOf(third));
    await completed(tab, ids[2] ?? '');
    expect(lifecycle(tab, ids)).toEqual(
      ids.flatMap((id) => [`agent_started ${id}`, `agent_completed ${id}`]),
    );
  });

  it('interrupt (per message): the running run ends cancelled / INTERRUPTED, then the new one starts', async () => {
    const tab = await gw.connect('ivan');
    const first = runIdOf(await send(tab, 'm1', { text: 'i1', thread_id: 't1' }));
    const second = runIdOf(await send(tab, 'm2', { text: 'i2', thread_id: 't1', on_busy: 'interrupt' }));
    expect((await completed(tab, first)).data).toMatchObject({
      status: 'cancelled',
      error: { code: 'INTERRUPTED', message: 'interrupted by a newer message in its thread' },
    });
    await release(tab, 'i2', second);
    expect((await completed(tab, second)).data).toMatchObject({
      status: 'succeeded',
      final_response: 'done i2',
    });
    expect(lifecycle(tab, [first, second])).toEqual([
      `agent_started ${first}`,
      `agent_completed ${first}`,
      `agent_started ${second}`,
      `agent_completed ${second}`,
    ]);
  });
});
