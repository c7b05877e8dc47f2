import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime, StartResult } from '../../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import type { Promotion } from '../../../packages/server/src/engine/engine.js';
import type { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { engineDown, harness } from './support/harness.js';
import { deferred, runEvents } from './support/run-events.js';

/** docs/protocol.md E, "A message while a run is busy": the runtime's side of the thread's turn. */

const open: AgentRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

/** An agent whose runs, each named by its text, wait until the test releases that one run (or abort). */
function heldByText() {
  const gates = new Map<string, { entered: ReturnType<typeof deferred>; go: ReturnType<typeof deferred> }>();
  const gate = (text: string) => {
    let g = gates.get(text);
    if (g === undefined) {
      g = { entered: deferred(), go: deferred() };
      gates.set(text, g);
    }
    return g;
  };
  const agent = defineAgent({
    name: 'held',
    async *run(input, ctx) {
      yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
      const g = gate(input.text);
      g.entered.resolve(undefined);
      ctx.signal.addEventListener('abort', () => g.go.resolve(undefined), { once: true });
      await g.go.promise;
      return `done ${input.text}`;
    },
  });
  return {
    agent,
    entered: (text: string) => gate(text).entered.promise,
    async release(text: string): Promise<void> {
      await gate(text).entered.promise;
      gate(text).go.resolve(undefined);
    },
  };
}

async function setup(options: Parameters<typeof harness<MemoryEngine>>[0] = {}) {
  const held = heldByText();
  const h = harness<MemoryEngine>({ agents: [held.agent], defaultAgent: 'held', ...options });
  open.push(h.runtime);
  const log: StoredEvent[] = [];
  await h.engine.subscribe('u1', (event) => log.push(event));
  /** `type run_id` of every event so far, in seq order. */
  const order = () => log.map((e) => `${e.type} ${e.run_id ?? ''}`);
  return { ...h, ...held, log, order };
}

function runIdOf(result: StartResult): string {
  if (!result.ok) throw new Error(`start refused: ${result.code} ${result.message}`);
  return result.runId;
}

describe('AgentRuntime busy policy (docs/protocol.md E)', () => {
  it('reject (the default): BUSY naming the thread’s run, nothing starts; other threads and thread-less messages start', async () => {
    const h = await setup();
    const first = runIdOf(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' }));
    const busy = await h.runtime.start('u1', { messageId: 'm2', text: 'b', threadId: 't1' });
    expect(busy).toEqual({
      ok: false,
      code: 'BUSY',
      message: `thread t1 is busy with run ${first}`,
      runId: first,
    });
    expect(await h.runtime.start('u1', { messageId: 'm3', text: 'c', threadId: 't2' })).toMatchObject({
      ok: true,
    });
    expect(await h.runtime.start('u1', { messageId: 'm4', text: 'd' })).toMatchObject({ ok: true });
    // A retry of the thread's own message is its duplicate, not BUSY.
    expect(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' })).toEqual({
      ok: true,
      runId: first,
      duplicate: true,
    });
    await h.release('a');
    await runEvents(h.engine, 'u1', first);
    await h.entered('c');
    await h.entered('d');
    expect(h.order().filter((line) => line.startsWith('agent_started'))).toHaveLength(3);
    // The thread is free again.
    expect(await h.runtime.start('u1', { messageId: 'm5', text: 'e', threadId: 't1' })).toMatchObject({
      ok: true,
    });
  });

  it('enqueue (per message): acked at once; its agent_started comes after the running one’s agent_completed, in order', async () => {
    const h = await setup({ maxRunsPerUser: 5 });
    const first = runIdOf(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' }));
    await h.entered('a');
    const second = await h.runtime.start('u1', {
      messageId: 'm2',
      text: 'b',
      threadId: 't1',
      onBusy: 'enqueue',
    });
    const third = await h.runtime.start('u1', {
      messageId: 'm3',
      text: 'c',
      threadId: 't1',
      onBusy: 'enqueue',
    });
    expect(second).toMatchObject({ ok: true, duplicate: false });
    expect(third).toMatchObject({ ok: true, duplicate: false });
    // A duplicate of an enqueued message is a duplicate; past the bound (2 waiting), RATE_LIMITED.
    expect(
      await h.runtime.start('u1', { messageId: 'm2', text: 'b', threadId: 't1', onBusy: 'enqueue' }),
    ).toEqual({
      ok: true,
      runId: runIdOf(second),
      duplicate: true,
    });
    expect(
      await h.runtime.start('u1', { messageId: 'm4', text: 'd', threadId: 't1', onBusy: 'enqueue' }),
    ).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
    expect(h.order()).not.toContain(`agent_started ${runIdOf(second)}`);
    await h.release('a');
    await h.release('b');
    await h.release('c');
    await runEvents(h.engine, 'u1', runIdOf(third));
    const lifecycle = h.order().filter((line) => /^agent_(started|completed)/.test(line));
    expect(lifecycle).toEqual([
      `agent_started ${first}`,
      `agent_completed ${first}`,
      `agent_started ${runIdOf(second)}`,
      `agent_completed ${runIdOf(second)}`,
      `agent_started ${runIdOf(third)}`,
      `agent_completed ${runIdOf(third)}`,
    ]);
  });

  it('interrupt: the running run ends cancelled / INTERRUPTED, then the new run starts', async () => {
    const h = await setup({ busyPolicy: 'interrupt' });
    const first = runIdOf(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' }));
    await h.entered('a');
    const second = runIdOf(await h.runtime.start('u1', { messageId: 'm2', text: 'b', threadId: 't1' }));
    const ended = await runEvents(h.engine, 'u1', first);
    expect(ended.at(-1)?.data).toMatchObject({
      status: 'cancelled',
      error: { code: 'INTERRUPTED', message: 'interrupted by a newer message in its thread' },
    });
    await h.release('b');
    await runEvents(h.engine, 'u1', second);
    const lifecycle = h.order().filter((line) => /^agent_(started|completed)/.test(line));
    expect(lifecycle).toEqual([
      `agent_started ${first}`,
      `agent_completed ${first}`,
      `agent_started ${second}`,
      `agent_completed ${second}`,
    ]);
  });

  it('a queued run cancelled before its turn ends with its terminal alone; the queue moves on', async () => {
    const h = await setup({ busyPolicy: 'enqueue', maxRunsPerUser: 5 });
    const first = runIdOf(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' }));
    const second = runIdOf(await h.runtime.start('u1', { messageId: 'm2', text: 'b', threadId: 't1' }));
    const third = runIdOf(await h.runtime.start('u1', { messageId: 'm3', text: 'c', threadId: 't1' }));
    expect(await h.runtime.cancel('u1', second)).toEqual({ ok: true });
    const cancelled = await runEvents(h.engine, 'u1', second);
    expect(cancelled.map((e) => e.type)).toEqual(['agent_completed']);
    expect(cancelled[0]?.data).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    await h.release('a');
    await h.release('c');
    await runEvents(h.engine, 'u1', third);
    expect(h.order().filter((line) => /^agent_(started|completed)/.test(line))).toEqual([
      `agent_started ${first}`,
      `agent_completed ${second}`,
      `agent_completed ${first}`,
      `agent_started ${third}`,
      `agent_completed ${third}`,
    ]);
  });

  describe('asking for the turn', () => {
    /** A runtime on a DelegatingEngine whose promoteRun the test stands in for. */
    async function withPromote(
      promote: (next: () => Promise<Promotion>, call: number) => Promise<Promotion>,
    ) {
      const engine = new DelegatingEngine();
      const real = engine.promoteRun.bind(engine);
      let calls = 0;
      engine.promoteRun = (userId, runId, node) => {
        calls += 1;
        return promote(() => real(userId, runId, node), calls);
      };
      const held = heldByText();
      const h = harness<DelegatingEngine>({
        engine,
        agents: [held.agent],
        defaultAgent: 'held',
        busyPolicy: 'enqueue',
        // The renew timer, which also asks for turns, every 100 ms.
        runLeaseMs: 300,
      });
      open.push(h.runtime);
      const first = runIdOf(await h.runtime.start('u1', { messageId: 'm1', text: 'a', threadId: 't1' }));
      await held.entered('a');
      const second = runIdOf(await h.runtime.start('u1', { messageId: 'm2', text: 'b', threadId: 't1' }));
      return { ...h, ...held, first, second, calls: () => calls };
    }

    it('asks again on the renew timer when the engine failed to answer', async () => {
      const h = await withPromote((next, call) => (call <= 2 ? Promise.reject(engineDown()) : next()));
      await h.release('a');
      await h.release('b');
      const events = await runEvents(h.engine, 'u1', h.second);
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_thinking', 'agent_completed']);
      expect(h.calls()).toBeGreaterThan(2);
    });

    it('asks once more when an agent_completed arrived while it was asking', async () => {
      const asked = deferred();
      const answer = deferred();
      const h = await withPromote(async (next, call) => {
        if (call !== 1) return next();
        asked.resolve(undefined);
        await answer.promise;
        return 'waiting';
      });
      await asked.promise;
      await h.release('a');
      await runEvents(h.engine, 'u1', h.first);
      answer.resolve(undefined);
      await h.release('b');
      await runEvents(h.engine, 'u1', h.second);
    });

    it('ends a queued run whose registration is gone (its lease lapsed) without starting it', async () => {
      const h = await withPromote(async () => 'gone');
      const events = await runEvents(h.engine, 'u1', h.second);
      expect(events.map((e) => e.type)).toEqual(['agent_completed']);
      expect(events[0]?.data).toMatchObject({ status: 'failed', error: { code: 'UNAVAILABLE' } });
      await h.release('a');
    });
  });
});
