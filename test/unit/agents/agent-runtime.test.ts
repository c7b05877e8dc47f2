import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { createDemoAgent } from '../../../packages/server/src/agents/demo-agent.js';
import type { Engine } from '../../../packages/server/src/engine/engine.js';
import type { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { parseNewEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { agentInvalid } from './support/agent-invalid.js';
import { engineDown, harness, metricValue } from './support/harness.js';
import { deferred, runEvents } from './support/run-events.js';

const open: AgentRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function setup<E extends Engine = MemoryEngine>(options: Parameters<typeof harness<E>>[0] = {}) {
  const h = harness<E>(options);
  open.push(h.runtime);
  return h;
}

/** An agent that waits for the test (or its signal) before finishing. */
function gated(name = 'gated') {
  const gate = deferred();
  const entered = deferred();
  const cleaned = deferred();
  const agent = defineAgent({
    name,
    async *run() {
      try {
        yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
        entered.resolve();
        await gate.promise;
        yield { type: 'stream_chunk', data: { text: 'too late' } };
      } finally {
        cleaned.resolve();
      }
    },
  });
  return { agent, gate, entered, cleaned };
}

/** An agent whose runs, each named by its text, wait until the test releases that one run. */
function heldByText() {
  const gates = new Map<
    string,
    { readonly entered: ReturnType<typeof deferred>; readonly go: ReturnType<typeof deferred> }
  >();
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
    },
  });
  return {
    agent,
    /** Lets the run named `text` finish once it is waiting. */
    async release(text: string): Promise<void> {
      await gate(text).entered.promise;
      gate(text).go.resolve(undefined);
    },
  };
}

function types(events: readonly StoredEvent[]): string[] {
  return events.map((e) => e.type);
}

async function started(
  runtime: AgentRuntime,
  userId: string,
  text: string,
  messageId: string,
  agent?: string,
) {
  const result = await runtime.start(userId, { messageId, text, agent });
  if (!result.ok) throw new Error(`start failed: ${result.code} ${result.message}`);
  return result.runId;
}

describe('AgentRuntime', () => {
  describe('#start golden path', () => {
    it('publishes agent_started, thinking, two tool calls, chunks and one agent_completed, all with run_id', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 0 })] });
      const result = await runtime.start('u1', { messageId: 'm1', text: 'What is 17 * 23?' });
      expect(result).toEqual({ ok: true, runId: 'r_1', duplicate: false });
      const events = await runEvents(engine, 'u1', 'r_1');

      const kinds = types(events);
      expect(kinds.slice(0, 6)).toEqual([
        'agent_started',
        'agent_thinking',
        'tool_executing',
        'tool_completed',
        'tool_executing',
        'tool_completed',
      ]);
      expect(kinds.at(-1)).toBe('agent_completed');
      expect(kinds.filter((k) => k === 'agent_completed')).toHaveLength(1);
      expect(kinds.slice(6, -1).every((k) => k === 'stream_chunk')).toBe(true);
      expect(kinds.length).toBeGreaterThan(8);
      for (const event of events) {
        expect(event.run_id).toBe('r_1');
        expect(parseNewEvent(event)).toMatchObject({ ok: true });
      }
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));

      expect(events[0]?.data).toEqual({
        agent_name: 'demo',
        task_description: 'What is 17 * 23?',
        message_id: 'm1',
      });
      expect(events[2]?.data).toEqual({
        tool_name: 'web_search',
        tool_args: { query: 'What is 17 * 23?' },
        execution_id: 'x_1',
      });
      expect(events[4]?.data).toEqual({
        tool_name: 'calculator',
        tool_args: { expression: '17 * 23' },
        execution_id: 'x_2',
      });
      expect(events[5]?.data).toMatchObject({
        tool_name: 'calculator',
        execution_id: 'x_2',
        success: true,
        results: 391,
      });
      const answer = events
        .filter((e) => e.type === 'stream_chunk')
        .map((e) => e.data.text)
        .join('');
      expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: answer });
      expect(answer).toContain('17 * 23 = 391.');
    });

    it('runs the named agent instead of the default', async () => {
      const echo = defineAgent({
        name: 'echo',
        async *run(input) {
          yield { type: 'stream_chunk', data: { text: input.text } };
        },
      });
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 0 }), echo] });
      const runId = await started(runtime, 'u1', 'hello', 'm1', 'echo');
      const events = await runEvents(engine, 'u1', runId);
      expect(types(events)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
      expect(events[0]?.data.agent_name).toBe('echo');
      expect(events[2]?.data).toEqual({ status: 'succeeded', final_response: 'hello' });
    });

    it('puts thread_id on agent_started and cuts a long task_description to 200 characters', async () => {
      const quiet = defineAgent({ name: 'quiet', async *run() {} });
      const { runtime, engine } = setup({ agents: [quiet], defaultAgent: 'quiet' });
      const text = 'x'.repeat(500);
      const result = await runtime.start('u1', { messageId: 'm1', text, threadId: 't9' });
      const events = await runEvents(engine, 'u1', result.ok ? result.runId : '');
      expect(events[0]?.data).toEqual({
        agent_name: 'quiet',
        task_description: `${'x'.repeat(199)}…`,
        message_id: 'm1',
        thread_id: 't9',
      });
      expect(events[1]?.data).toEqual({ status: 'succeeded', final_response: null });
    });

    it('acks before the first event is stored', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 0 })] });
      await runtime.start('u1', { messageId: 'm1', text: 'hi' });
      expect((await engine.head('u1')).seq).toBe(0);
      await runEvents(engine, 'u1', 'r_1');
    });

    it('counts runs in metrics and activeRuns', async () => {
      const { agent, gate } = gated();
      const { runtime, engine, metrics } = setup({ agents: [agent], defaultAgent: 'gated' });
      await started(runtime, 'u1', 'a', 'm1');
      expect(runtime.activeRuns()).toBe(1);
      expect(await metricValue(metrics, 'agentcast_runs_active')).toBe(1);
      gate.resolve();
      await runEvents(engine, 'u1', 'r_1');
      await runtime.drain(1_000);
      expect(runtime.activeRuns()).toBe(0);
      expect(await metricValue(metrics, 'agentcast_runs_active')).toBe(0);
      expect(await metricValue(metrics, 'agentcast_runs_started_total', { agent: 'gated' })).toBe(1);
      expect(
        await metricValue(metrics, 'agentcast_runs_ended_total', { agent: 'gated', status: 'succeeded' }),
      ).toBe(1);
      expect(await metricValue(metrics, 'agentcast_events_published_total', { source: 'agent' })).toBe(4);
    });
  });

  describe('#start errors', () => {
    it('answers NOT_FOUND for an unknown agent', async () => {
      const { runtime } = setup({ agents: [createDemoAgent()] });
      expect(await runtime.start('u1', { messageId: 'm1', text: 'x', agent: 'nope' })).toEqual({
        ok: false,
        code: 'NOT_FOUND',
        message: 'no agent named "nope"',
      });
    });

    it('answers UNAVAILABLE when the engine reports itself down', async () => {
      const engine = new DelegatingEngine();
      // The engine's reason may name Redis and its address: for the logs, not for users.
      engine.setHealth({ ok: false, reason: 'redis unreachable: connect ECONNREFUSED 10.0.0.7:6379' });
      const { runtime } = setup({ engine, agents: [createDemoAgent()] });
      expect(await runtime.start('u1', { messageId: 'm1', text: 'x' })).toEqual({
        ok: false,
        code: 'UNAVAILABLE',
        message: 'engine unavailable; retry later',
      });
    });

    it('answers UNAVAILABLE when the idempotency claim fails, and frees the slot', async () => {
      const engine = new DelegatingEngine();
      const recover = engine.fail('claimIdempotency', engineDown);
      const { runtime } = setup({ engine, agents: [createDemoAgent()], maxRunsPerUser: 1 });
      expect(await runtime.start('u1', { messageId: 'm1', text: 'x' })).toEqual({
        ok: false,
        code: 'UNAVAILABLE',
        message: 'engine unavailable; retry later',
      });
      recover();
      expect(await runtime.start('u1', { messageId: 'm2', text: 'x' })).toMatchObject({ ok: true });
    });

    it('answers RATE_LIMITED beyond maxRunsPerUser, per user, and accepts again once a run ended', async () => {
      const first = gated();
      const { runtime, engine } = setup({ agents: [first.agent], defaultAgent: 'gated', maxRunsPerUser: 2 });
      await started(runtime, 'u1', 'a', 'm1');
      await started(runtime, 'u1', 'b', 'm2');
      expect(await runtime.start('u1', { messageId: 'm3', text: 'c' })).toEqual({
        ok: false,
        code: 'RATE_LIMITED',
        message: 'at most 2 runs at once per user; wait for one to end or cancel one',
      });
      expect(await runtime.start('u2', { messageId: 'm3', text: 'c' })).toMatchObject({
        ok: true,
        duplicate: false,
      });
      expect(await runtime.cancel('u1', 'r_1')).toEqual({ ok: true });
      await runEvents(engine, 'u1', 'r_1');
      await expect.poll(() => runtime.activeRuns()).toBe(2);
      expect(await runtime.start('u1', { messageId: 'm4', text: 'd' })).toMatchObject({
        ok: true,
        runId: 'r_4',
      });
    });

    it('does not let concurrent starts overshoot maxRunsPerUser', async () => {
      const { agent } = gated();
      const { runtime } = setup({ agents: [agent], defaultAgent: 'gated', maxRunsPerUser: 3 });
      const results = await Promise.all(
        ['m1', 'm2', 'm3', 'm4', 'm5'].map((messageId) => runtime.start('u1', { messageId, text: 'x' })),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(3);
      expect(results.filter((r) => !r.ok && r.code === 'RATE_LIMITED')).toHaveLength(2);
    });

    it('counts a user’s runs exactly as they end: one ending frees one slot, not all of them', async () => {
      const { agent, release } = heldByText();
      const h = setup({ agents: [agent], defaultAgent: 'held', maxRunsPerUser: 2 });
      const a = await h.runtime.start('u1', { messageId: 'a', text: 'a' });
      await h.runtime.start('u1', { messageId: 'b', text: 'b' });
      const ended = deferred();
      const runA = (a as { runId: string }).runId;
      await h.engine.subscribe('u1', (event) => {
        if (event.type === 'agent_completed' && event.run_id === runA) ended.resolve(undefined);
      });
      await release('a');
      await ended.promise;
      // The runtime does its bookkeeping once the terminal append resolves, in the microtasks after the
      // subscriber saw the event; one macrotask later it is done (no timer involved).
      await new Promise((resolve) => setImmediate(resolve));
      expect(h.runtime.activeRuns()).toBe(1);
      expect(await h.runtime.start('u1', { messageId: 'c', text: 'c' })).toMatchObject({ ok: true });
      // Two running again: the limit holds.
      expect(await h.runtime.start('u1', { messageId: 'd', text: 'd' })).toMatchObject({
        ok: false,
        code: 'RATE_LIMITED',
      });
    });

    it('answers UNAVAILABLE once draining', async () => {
      const { runtime } = setup({ agents: [createDemoAgent()] });
      await runtime.drain(0);
      expect(await runtime.start('u1', { messageId: 'm1', text: 'x' })).toEqual({
        ok: false,
        code: 'UNAVAILABLE',
        message: 'the gateway is shutting down; retry on another node',
      });
    });

    it('answers UNAVAILABLE when a drain begins while the claim is in flight', async () => {
      const { runtime } = setup({ agents: [createDemoAgent()] });
      const pending = runtime.start('u1', { messageId: 'm1', text: 'x' });
      const drained = runtime.drain(0);
      expect(await pending).toMatchObject({ ok: false, code: 'UNAVAILABLE' });
      await drained;
      expect(runtime.activeRuns()).toBe(0);
    });
  });

  describe('idempotency (docs/protocol.md §6)', () => {
    it('answers a repeated message id with the first run id and duplicate: true, starting no second run', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 0 })] });
      expect(await runtime.start('u1', { messageId: 'm1', text: 'What is 1+1?' })).toEqual({
        ok: true,
        runId: 'r_1',
        duplicate: false,
      });
      await runEvents(engine, 'u1', 'r_1');
      expect(await runtime.start('u1', { messageId: 'm1', text: 'What is 1+1?' })).toEqual({
        ok: true,
        runId: 'r_1',
        duplicate: true,
      });
      await runtime.drain(1_000);
      const history = await engine.history('u1', { since: 0, limit: 1000 });
      const starts = history.kind === 'ok' ? history.events.filter((e) => e.type === 'agent_started') : [];
      expect(starts).toHaveLength(1);
    });

    it('starts one run for two concurrent starts with the same id (two connections at once)', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 0 })] });
      const [a, b] = await Promise.all([
        runtime.start('u1', { messageId: 'm1', text: 'x' }),
        runtime.start('u1', { messageId: 'm1', text: 'x' }),
      ]);
      expect([a, b]).toEqual([
        { ok: true, runId: 'r_1', duplicate: false },
        { ok: true, runId: 'r_1', duplicate: true },
      ]);
      await runtime.drain(1_000);
      const history = await engine.history('u1', { since: 0, limit: 1000 });
      expect(history.kind === 'ok' && history.events.filter((e) => e.type === 'agent_started')).toHaveLength(
        1,
      );
    });

    it('passes a failed first start on to its concurrent duplicate', async () => {
      const { runtime } = setup({ agents: [createDemoAgent()] });
      const [a, b] = await Promise.all([
        runtime.start('u1', { messageId: 'm1', text: 'x', agent: 'nope' }),
        runtime.start('u1', { messageId: 'm1', text: 'x', agent: 'nope' }),
      ]);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    });

    it('treats a retry at the run limit as a duplicate, not RATE_LIMITED', async () => {
      const { agent } = gated();
      const { runtime } = setup({ agents: [agent], defaultAgent: 'gated', maxRunsPerUser: 1 });
      await started(runtime, 'u1', 'a', 'm1');
      expect(await runtime.start('u1', { messageId: 'm1', text: 'a' })).toEqual({
        ok: true,
        runId: 'r_1',
        duplicate: true,
      });
    });

    it('answers a duplicate user_message arriving while the first is still starting as a duplicate, even at max_runs_per_user', async () => {
      const { agent } = heldByText();
      const h = setup({ agents: [agent], defaultAgent: 'held', maxRunsPerUser: 1 });
      const [first, second] = await Promise.all([
        h.runtime.start('u1', { messageId: 'm1', text: 'hi' }),
        h.runtime.start('u1', { messageId: 'm1', text: 'hi' }),
      ]);
      expect(first).toMatchObject({ ok: true, duplicate: false });
      expect(second).toEqual({ ok: true, runId: (first as { runId: string }).runId, duplicate: true });
    });

    it('keys by user: the same message id from another user is a new run', async () => {
      const { runtime } = setup({ agents: [createDemoAgent({ delayMs: 0 })] });
      expect(await runtime.start('u1', { messageId: 'm1', text: 'x' })).toMatchObject({ runId: 'r_1' });
      expect(await runtime.start('u2', { messageId: 'm1', text: 'x' })).toMatchObject({
        runId: 'r_2',
        duplicate: false,
      });
    });

    it('claims with the configured TTL under a key no other (user, id) pair can produce', async () => {
      const engine = new DelegatingEngine();
      const claims: [string, string, number][] = [];
      engine.intercept('claimIdempotency', (next, key, value, ttl) => {
        claims.push([key, value, ttl]);
        return next(key, value, ttl);
      });
      const { runtime } = setup({
        engine,
        agents: [createDemoAgent({ delayMs: 0 })],
        idempotencyTtlMs: 1234,
      });
      await runtime.start('a:b', { messageId: 'c', text: 'x' });
      await runtime.start('a', { messageId: 'b:c', text: 'x' });
      expect(claims).toEqual([
        ['user_message:3:a:b:c', 'r_1', 1234],
        ['user_message:1:a:b:c', 'r_2', 1234],
      ]);
    });
  });

  describe('#cancel', () => {
    it('ends a run cancelled during a tool call; nothing of it follows agent_completed', async () => {
      const toolEntered = deferred();
      let toolSignal: AbortSignal | undefined;
      const slow = defineAgent({
        name: 'slow',
        async *run(_input, ctx) {
          yield* ctx.tool('wait', { for: 'ever' }, (signal) => {
            toolSignal = signal;
            toolEntered.resolve();
            return new Promise(() => undefined);
          });
          yield { type: 'stream_chunk', data: { text: 'never' } };
        },
      });
      const { runtime, engine } = setup({ agents: [slow], defaultAgent: 'slow' });
      const runId = await started(runtime, 'u1', 'x', 'm1');
      await toolEntered.promise;
      expect(await runtime.cancel('u1', runId)).toEqual({ ok: true });
      expect(await runtime.cancel('u1', runId)).toEqual({ ok: true });
      const events = await runEvents(engine, 'u1', runId);
      expect(types(events)).toEqual(['agent_started', 'tool_executing', 'agent_completed']);
      expect(events[2]?.data).toEqual({
        status: 'cancelled',
        final_response: null,
        error: { code: 'CANCELLED', message: 'cancelled by the user' },
      });
      expect(toolSignal?.aborted).toBe(true);
      await runtime.drain(1_000);
      expect((await engine.head('u1')).seq).toBe(3);
    });

    it('answers NOT_FOUND for another user and an unknown run, and acks a resent cancel of its own finished run', async () => {
      const { agent, gate } = gated();
      const { runtime, engine } = setup({ agents: [agent], defaultAgent: 'gated' });
      const runId = await started(runtime, 'u1', 'x', 'm1');
      const notFound = { ok: false, code: 'NOT_FOUND', message: `no active run ${runId} for this user` };
      expect(await runtime.cancel('u2', runId)).toEqual(notFound);
      expect(await runtime.cancel('u1', 'r_nope')).toEqual({
        ok: false,
        code: 'NOT_FOUND',
        message: 'no active run r_nope for this user',
      });
      gate.resolve();
      const events = await runEvents(engine, 'u1', runId);
      expect(events.at(-1)?.data.status).toBe('succeeded');
      await expect.poll(() => runtime.activeRuns()).toBe(0);
      expect(await runtime.cancel('u1', runId)).toEqual({ ok: true, ended: true });
      expect(await runtime.cancel('u2', runId)).toEqual(notFound);
      expect((await runEvents(engine, 'u1', runId)).filter((e) => e.type === 'agent_completed')).toHaveLength(
        1,
      );
    });

    it('keeps the text streamed before the cancel as final_response', async () => {
      const hang = deferred();
      const talker = defineAgent({
        name: 'talker',
        async *run() {
          yield { type: 'stream_chunk', data: { text: 'Hello ' } };
          yield { type: 'stream_chunk', data: { text: 'wor' } };
          hang.resolve();
          await new Promise(() => undefined);
        },
      });
      const { runtime, engine } = setup({ agents: [talker], defaultAgent: 'talker' });
      const runId = await started(runtime, 'u1', 'x', 'm1');
      await hang.promise;
      await runtime.cancel('u1', runId);
      const events = await runEvents(engine, 'u1', runId);
      expect(events.at(-1)?.data).toMatchObject({ status: 'cancelled', final_response: 'Hello wor' });
    });
  });

  describe('#drain', () => {
    it('ends runs still going at the deadline with cancelled / SHUTDOWN and resolves after their terminal events', async () => {
      const { agent, gate, cleaned } = gated();
      const { runtime, engine, metrics } = setup({ agents: [agent], defaultAgent: 'gated' });
      const runId = await started(runtime, 'u1', 'x', 'm1');
      await runtime.drain(5);
      const history = await engine.history('u1', { since: 0, limit: 100 });
      const events = history.kind === 'ok' ? history.events : [];
      expect(types(events)).toEqual(['agent_started', 'agent_thinking', 'agent_completed']);
      expect(events.at(-1)).toMatchObject({
        run_id: runId,
        data: {
          status: 'cancelled',
          final_response: null,
          error: { code: 'SHUTDOWN', message: 'the gateway shut down before the run finished' },
        },
      });
      expect(runtime.activeRuns()).toBe(0);
      expect(
        await metricValue(metrics, 'agentcast_runs_ended_total', { agent: 'gated', status: 'cancelled' }),
      ).toBe(1);
      // The hung agent wakes up and yields once more: dropped, then its finally block runs.
      gate.resolve();
      await cleaned.promise;
      expect((await engine.head('u1')).seq).toBe(3);
    });

    it('lets runs that finish within the timeout succeed', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 1 })] });
      const runId = await started(runtime, 'u1', 'What is 2+2?', 'm1');
      await runtime.drain(10_000);
      const events = await runEvents(engine, 'u1', runId);
      expect(events.at(-1)?.data.status).toBe('succeeded');
    });

    it('returns the same promise when called twice; close() is idempotent', async () => {
      const { runtime } = setup({ agents: [createDemoAgent()] });
      const a = runtime.drain(0);
      expect(runtime.drain(50)).toBe(a);
      await a;
      await runtime.close();
      await runtime.close();
    });
  });

  describe('isolation', () => {
    it('two users running at once see only their own events', async () => {
      const { runtime, engine } = setup({ agents: [createDemoAgent({ delayMs: 1 })] });
      const seen = { u1: [] as StoredEvent[], u2: [] as StoredEvent[] };
      await engine.subscribe('u1', (e) => seen.u1.push(e));
      await engine.subscribe('u2', (e) => seen.u2.push(e));
      const [a, b] = await Promise.all([
        started(runtime, 'u1', 'What is 3*3?', 'm1'),
        started(runtime, 'u2', 'What is 4*4?', 'm1'),
      ]);
      await Promise.all([runEvents(engine, 'u1', a), runEvents(engine, 'u2', b)]);
      expect(seen.u1.every((e) => e.run_id === a)).toBe(true);
      expect(seen.u2.every((e) => e.run_id === b)).toBe(true);
      expect(seen.u1.map((e) => e.seq)).toEqual(seen.u1.map((_, i) => i + 1));
      expect(seen.u2.map((e) => e.seq)).toEqual(seen.u2.map((_, i) => i + 1));
      expect(seen.u1.find((e) => e.type === 'agent_completed')?.data.final_response).toContain('3*3 = 9.');
      expect(seen.u2.find((e) => e.type === 'agent_completed')?.data.final_response).toContain('4*4 = 16.');
    });
  });

  describe('constructor', () => {
    const base = { engine: new DelegatingEngine(), log: silentLogger(), agents: [createDemoAgent()] };
    it.each([
      [{ defaultAgent: 'ghost' }, 'AgentRuntime: defaultAgent "ghost" is not one of the agents (demo)'],
      [{ agents: [createDemoAgent(), createDemoAgent()] }, 'AgentRuntime: two agents are named "demo"'],
    ])('throws AC_ERR_AGENT_INVALID for a bad agent list %j', async (bad, message) => {
      const { AgentRuntime } = await import('../../../packages/server/src/agents/agent-runtime.js');
      expect(() => new AgentRuntime({ ...base, ...(bad as object) })).toThrow(agentInvalid(message));
    });

    it.each([
      [{ runTimeoutMs: 0 }, 'AgentRuntime: runTimeoutMs must be a positive integer, got 0'],
      [{ maxRunsPerUser: 1.5 }, 'AgentRuntime: maxRunsPerUser must be a positive integer, got 1.5'],
      [{ idempotencyTtlMs: -1 }, 'AgentRuntime: idempotencyTtlMs must be a positive integer, got -1'],
    ])('throws a TypeError naming the bad option %j', async (bad, message) => {
      const { AgentRuntime } = await import('../../../packages/server/src/agents/agent-runtime.js');
      expect(() => new AgentRuntime({ ...base, ...(bad as object) })).toThrow(new TypeError(message));
    });
  });
});
