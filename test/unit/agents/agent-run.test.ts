import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentRunError } from '../../../packages/server/src/agents/agent-run-error.js';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { type AgentDefinition, defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import type { Engine } from '../../../packages/server/src/engine/engine.js';
import type { Logger } from '../../../packages/server/src/observability/logger.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { captureLog } from '../../helpers/log-capture.js';
import { engineDown, harness, metricValue, overlappingAppends } from './support/harness.js';
import { deferred, runEvents } from './support/run-events.js';

const open: AgentRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function agentOf(run: AgentDefinition['run']): AgentDefinition {
  return defineAgent({ name: 'subject', run });
}

async function runOnce(
  agent: AgentDefinition,
  options: { engine?: Engine; runTimeoutMs?: number; log?: Logger } = {},
): Promise<{ events: StoredEvent[]; runtime: AgentRuntime; engine: Engine }> {
  const h = harness({ ...options, agents: [agent], defaultAgent: 'subject' });
  open.push(h.runtime);
  const result = await h.runtime.start('u1', { messageId: 'm1', text: 'task' });
  if (!result.ok) throw new Error(result.message);
  const events = await runEvents(h.engine, 'u1', result.runId);
  return { events, runtime: h.runtime, engine: h.engine };
}

/** An object that contains itself: JSON.stringify would throw on it. */
function cyclic(): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  data.self = data;
  return data;
}

function terminal(events: readonly StoredEvent[]) {
  const completed = events.filter((e) => e.type === 'agent_completed');
  expect(completed).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('agent_completed');
  return completed[0]?.data;
}

describe('AgentRun', () => {
  describe('agent failures', () => {
    it('ends failed / AGENT_ERROR when the agent throws mid-tool, after a failed tool_completed', async () => {
      const { log, lines } = captureLog();
      const { events } = await runOnce(
        agentOf(async function* (_input, ctx) {
          yield* ctx.tool('explode', { n: 1 }, () => {
            throw new Error('boom at 10.0.0.1:5432');
          });
        }),
        { log },
      );
      expect(events.map((e) => e.type)).toEqual([
        'agent_started',
        'tool_executing',
        'tool_completed',
        'agent_completed',
      ]);
      expect(events[2]?.data).toEqual({
        tool_name: 'explode',
        execution_id: 'x_1',
        success: false,
        results: null,
        duration_ms: expect.any(Number),
        error: { code: 'TOOL_ERROR', message: 'the tool failed' },
      });
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: null,
        error: { code: 'AGENT_ERROR', message: 'the agent failed' },
      });
      expect(JSON.stringify(events)).not.toContain('10.0.0.1');
      // The detail is for operators: logged with the run, the tool and its execution id.
      expect(lines.find((l) => l.msg === 'tool failed')).toMatchObject({
        level: 40,
        run_id: 'r_1',
        tool_name: 'explode',
        execution_id: 'x_1',
        err_message: 'boom at 10.0.0.1:5432',
      });
      expect(lines.find((l) => l.msg === 'agent failed')).toMatchObject({
        run_id: 'r_1',
        error_code: 'AGENT_ERROR',
        err_message: 'boom at 10.0.0.1:5432',
      });
    });

    it('shows the user a generic message for a plain Error and logs its detail with the run id', async () => {
      const { log, lines } = captureLog();
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'a' } };
          throw new Error('secret at 10.0.0.1');
        }),
        { log },
      );
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: 'a',
        error: { code: 'AGENT_ERROR', message: 'the agent failed' },
      });
      expect(JSON.stringify(events)).not.toContain('10.0.0.1');
      const failed = lines.find((l) => l.msg === 'agent failed');
      expect(failed).toMatchObject({
        level: 40,
        run_id: 'r_1',
        user_id: 'u1',
        agent: 'subject',
        error_code: 'AGENT_ERROR',
        err_message: 'secret at 10.0.0.1',
      });
      expect(String(failed?.err_stack)).toContain('Error: secret at 10.0.0.1\n    at ');
    });

    it('keeps the message of an AgentRunError, thrown by the agent or by a tool: its author meant it for users', async () => {
      const { events } = await runOnce(
        agentOf(async function* (_input, ctx) {
          try {
            yield* ctx.tool('quota', {}, () => {
              throw new AgentRunError('QUOTA', 'daily quota used up');
            });
          } catch {
            throw new AgentRunError('QUOTA_EXCEEDED', 'you used up your daily quota');
          }
        }),
      );
      expect(events[2]?.data).toMatchObject({
        success: false,
        error: { code: 'TOOL_ERROR', message: 'daily quota used up' },
      });
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: null,
        error: { code: 'QUOTA_EXCEEDED', message: 'you used up your daily quota' },
      });
    });

    it('logs a thrown non-Error and an Error without message by what they are; the user gets the generic message', async () => {
      const { log, lines } = captureLog();
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'a' } };
          throw 'plain string';
        }),
        { log },
      );
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: 'a',
        error: { code: 'AGENT_ERROR', message: 'the agent failed' },
      });
      expect(lines.find((l) => l.msg === 'agent failed')).toMatchObject({ err_message: 'plain string' });
      const second = await runOnce(
        agentOf(async function* () {
          yield* [];
          throw new TypeError();
        }),
        { log },
      );
      expect(terminal(second.events)).toMatchObject({
        error: { code: 'AGENT_ERROR', message: 'the agent failed' },
      });
      expect(lines.filter((l) => l.msg === 'agent failed')[1]).toMatchObject({ err_message: 'TypeError' });
    });

    it('ends failed / AGENT_ERROR when run() itself throws before producing a stream', async () => {
      const agent = agentOf(() => {
        throw new Error('not a generator');
      });
      const { events } = await runOnce(agent);
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
      expect(terminal(events)).toMatchObject({ error: { code: 'AGENT_ERROR', message: 'the agent failed' } });
    });

    it('ends failed / INVALID_EVENT naming the failing field, and stops the agent', async () => {
      const cleaned = deferred();
      const { events } = await runOnce(
        agentOf(async function* () {
          try {
            yield { type: 'tool_executing', data: { tool_args: {}, execution_id: 'x' } };
            yield { type: 'stream_chunk', data: { text: 'never' } };
          } finally {
            cleaned.resolve();
          }
        }),
      );
      await cleaned.promise;
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: null,
        error: {
          code: 'INVALID_EVENT',
          message: 'agent yielded an invalid tool_executing event: data.tool_name: required',
        },
      });
    });

    it.each([
      ['null', null, 'agent yielded a value that is not an event object { type, data }'],
      ['an array', [1], 'agent yielded a value that is not an event object { type, data }'],
      [
        'a bad type',
        { type: 'Bad Type', data: {} },
        'agent yielded an invalid Bad Type event: type: must match',
      ],
      ['a type that is no string', { type: 7, data: {} }, 'agent yielded an invalid event: type:'],
      [
        'an agent_completed without error',
        { type: 'agent_completed', data: { status: 'failed', final_response: null } },
        'agent yielded an invalid agent_completed event: data.error: required when status is not succeeded',
      ],
      [
        'a type reserved for server frames',
        { type: 'welcome', data: {} },
        `agent yielded an invalid welcome event: type: "welcome" is reserved for the gateway's own frames`,
      ],
      [
        'data nested 65 levels',
        { type: 'notification', data: JSON.parse(`${'{"a":'.repeat(64)}{}${'}'.repeat(64)}`) },
        'agent yielded an invalid notification event: data: nested deeper than 64 levels',
      ],
      [
        'a cyclic data object',
        { type: 'notification', data: cyclic() },
        'agent yielded an invalid notification event: data: nested deeper than 64 levels',
      ],
    ])('ends failed / INVALID_EVENT when the agent yields %s', async (_label, value, message) => {
      const { events } = await runOnce(
        agentOf(async function* () {
          yield value as never;
        }),
      );
      const data = terminal(events);
      expect(data?.status).toBe('failed');
      expect(data?.error).toMatchObject({ code: 'INVALID_EVENT' });
      expect(JSON.stringify(data?.error)).toContain(message.replaceAll('"', '\\"'));
    });

    it('ends timed_out / TIMEOUT when the agent hangs past runTimeoutMs, and drops what it yields later', async () => {
      const wake = deferred();
      const cleaned = deferred();
      const { events, engine } = await runOnce(
        agentOf(async function* (_input, ctx) {
          try {
            yield { type: 'agent_thinking', data: { reasoning: 'hmm' } };
            await wake.promise;
            expect(ctx.signal.aborted).toBe(true);
            yield { type: 'stream_chunk', data: { text: 'late' } };
            yield { type: 'agent_completed', data: { status: 'succeeded', final_response: 'late' } };
          } finally {
            cleaned.resolve();
          }
        }),
        { runTimeoutMs: 20 },
      );
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_thinking', 'agent_completed']);
      expect(terminal(events)).toEqual({
        status: 'timed_out',
        final_response: null,
        error: { code: 'TIMEOUT', message: 'run exceeded 20 ms' },
      });
      wake.resolve();
      await cleaned.promise;
      expect((await engine.head('u1')).seq).toBe(3);
    });
  });

  describe('agent-chosen ends', () => {
    it('ends with the agent_completed the agent yields and drops everything after it', async () => {
      const cleaned = deferred();
      const { events, engine } = await runOnce(
        agentOf(async function* () {
          try {
            yield {
              type: 'agent_completed',
              data: { status: 'failed', final_response: 'x', error: { code: 'MINE', message: 'm' } },
            };
            yield { type: 'stream_chunk', data: { text: 'after' } };
          } finally {
            cleaned.resolve();
          }
        }),
      );
      await cleaned.promise;
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: 'x',
        error: { code: 'MINE', message: 'm' },
      });
      expect((await engine.head('u1')).seq).toBe(2);
    });

    it('drops an agent_started yielded by the agent: the runtime already sent the one', async () => {
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'agent_started', data: { agent_name: 'x', task_description: 'y' } };
          yield { type: 'notification', data: { level: 'info' } };
        }),
      );
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'notification', 'agent_completed']);
      expect(events[0]?.data.agent_name).toBe('subject');
    });

    it('uses a string return value as final_response, else the streamed text', async () => {
      const returned = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'ignored ' } };
          return 'the answer';
        }),
      );
      expect(terminal(returned.events)).toEqual({ status: 'succeeded', final_response: 'the answer' });
      const streamed = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'Hel' } };
          yield { type: 'stream_chunk', data: { text: 'lo' } };
          return 42;
        }),
      );
      expect(terminal(streamed.events)).toEqual({ status: 'succeeded', final_response: 'Hello' });
    });

    it('replaces a run_id the agent sets with its own', async () => {
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', run_id: 'r_forged', data: { text: 'a' } } as never;
        }),
      );
      expect(events.map((e) => e.run_id)).toEqual(['r_1', 'r_1', 'r_1']);
    });

    it('gives tools the clock for duration_ms and sends undefined results as null', async () => {
      let t = 1_000;
      const h = harness({
        now: () => t,
        agents: [
          agentOf(async function* (_input, ctx) {
            const value = yield* ctx.tool('tick', {}, () => {
              t += 250;
            });
            expect(value).toBeUndefined();
          }),
        ],
        defaultAgent: 'subject',
      });
      open.push(h.runtime);
      await h.runtime.start('u1', { messageId: 'm1', text: 'x' });
      const events = await runEvents(h.engine, 'u1', 'r_1');
      expect(events[2]?.data).toEqual({
        tool_name: 'tick',
        execution_id: 'x_1',
        success: true,
        results: null,
        duration_ms: 250,
      });
    });
  });

  describe('engine failures', () => {
    it('stores events strictly one after another', async () => {
      const engine = new DelegatingEngine();
      const overlaps = overlappingAppends(engine);
      const { events } = await runOnce(
        agentOf(async function* () {
          for (let i = 0; i < 20; i += 1) yield { type: 'stream_chunk', data: { text: String(i) } };
        }),
        { engine },
      );
      expect(events).toHaveLength(22);
      expect(overlaps.count).toBe(0);
    });

    it('ends failed / UNAVAILABLE when an append fails mid-run, storing the terminal event if it can', async () => {
      const engine = new DelegatingEngine();
      engine.fail('append', engineDown, { calls: [3] });
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'a' } };
          yield { type: 'stream_chunk', data: { text: 'b' } };
          yield { type: 'stream_chunk', data: { text: 'c' } };
        }),
        { engine },
      );
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
      expect(terminal(events)).toEqual({
        status: 'failed',
        final_response: 'a',
        error: { code: 'UNAVAILABLE', message: "the gateway could not store the run's events" },
      });
    });

    it('ends failed / UNAVAILABLE when agent_started cannot be stored', async () => {
      const engine = new DelegatingEngine();
      engine.fail('append', engineDown, { calls: [1] });
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'a' } };
        }),
        { engine },
      );
      expect(events.map((e) => e.type)).toEqual(['agent_completed']);
      expect(terminal(events)).toMatchObject({ status: 'failed', error: { code: 'UNAVAILABLE' } });
    });

    it('retries the terminal event while the engine is down and stores it once the engine is back', async () => {
      const engine = new DelegatingEngine();
      engine.fail('append', engineDown, { calls: [2, 3] });
      const h = harness({
        engine,
        defaultAgent: 'subject',
        agents: [
          agentOf(async function* () {
            yield { type: 'stream_chunk', data: { text: 'a' } };
          }),
        ],
      });
      open.push(h.runtime);
      await h.runtime.start('u1', { messageId: 'm1', text: 'x' });
      await vi.waitFor(() => expect(engine.stored).toHaveLength(1)); // agent_started; chunk and first terminal try failed
      engine.setHealth({ ok: true });
      await h.runtime.drain(5_000);
      const events = engine.eventsOf('u1');
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
      expect(terminal(events)).toMatchObject({ status: 'failed', error: { code: 'UNAVAILABLE' } });
    });

    it('logs an error and still ends the run when the terminal event cannot be stored before shutdown', async () => {
      const engine = new DelegatingEngine();
      engine.fail('append', engineDown, { calls: Array.from({ length: 1000 }, (_, i) => i + 2) });
      const { log, lines } = captureLog();
      const h = harness({
        engine,
        log,
        defaultAgent: 'subject',
        agents: [
          agentOf(async function* () {
            yield { type: 'stream_chunk', data: { text: 'a' } };
          }),
        ],
      });
      open.push(h.runtime);
      await h.runtime.start('u1', { messageId: 'm1', text: 'x' });
      await vi.waitFor(() =>
        expect(lines.some((l) => l.msg === 'engine unavailable; retrying the terminal event')).toBe(true),
      );
      await h.runtime.drain(50);
      expect(h.runtime.activeRuns()).toBe(0);
      expect(engine.eventsOf('u1').map((e) => e.type)).toEqual(['agent_started']);
      const lost = lines.find((l) => l.msg === 'run terminal event lost');
      expect(lost).toMatchObject({
        level: 50,
        status: 'failed',
        err_code: 'AC_ERR_ENGINE_UNAVAILABLE',
        run_id: 'r_1',
      });
      expect(
        await metricValue(h.metrics, 'agentcast_runs_ended_total', { agent: 'subject', status: 'failed' }),
      ).toBe(1);
      expect(await metricValue(h.metrics, 'agentcast_runs_lost_total', { reason: 'terminal_lost' })).toBe(1);
    });

    it('reports a non-agentcast engine error as engine unavailable', async () => {
      const engine = new DelegatingEngine();
      engine.fail('append', new Error('socket closed'), { calls: [2] });
      const { log, lines } = captureLog();
      const { events } = await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'a' } };
        }),
        { engine, log },
      );
      expect(terminal(events)).toMatchObject({
        error: { code: 'UNAVAILABLE', message: "the gateway could not store the run's events" },
      });
      // The engine's own words (a Redis error, an address) are for the log only.
      expect(lines.find((l) => l.msg === 'engine failed during run')).toMatchObject({
        level: 40,
        run_id: 'r_1',
        err_code: 'AC_ERR_ENGINE_UNAVAILABLE',
        err_message: 'socket closed',
      });
    });
  });

  describe('logging', () => {
    it('logs start and end with run_id, user_id and agent but never event data', async () => {
      const { log, lines } = captureLog();
      await runOnce(
        agentOf(async function* () {
          yield { type: 'stream_chunk', data: { text: 'secret answer' } };
          yield { type: 'agent_started', data: { agent_name: 'x', task_description: 'y' } };
        }),
        { log },
      );
      await expect.poll(() => lines.some((l) => l.msg === 'run ended')).toBe(true);
      expect(lines.find((l) => l.msg === 'run started')).toMatchObject({
        run_id: 'r_1',
        user_id: 'u1',
        agent: 'subject',
      });
      expect(lines.find((l) => l.msg === 'run ended')).toMatchObject({
        run_id: 'r_1',
        user_id: 'u1',
        status: 'succeeded',
      });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 20,
          run_id: 'r_1',
          reason: 'agent_started is published by the runtime',
        }),
      );
      expect(JSON.stringify(lines)).not.toContain('secret answer');
    });

    it('logs at debug when an agent fails in its cleanup after the run ended', async () => {
      const { log, lines } = captureLog();
      await runOnce(
        agentOf(async function* () {
          try {
            yield { type: 'agent_completed', data: { status: 'succeeded', final_response: null } };
          } finally {
            // biome-ignore lint/correctness/noUnsafeFinally: the test needs a cleanup that throws.
            throw new Error('cleanup broke');
          }
        }),
        { log },
      );
      const cleanup = () => lines.find((l) => l.err_message === 'cleanup broke');
      await expect.poll(() => cleanup() !== undefined).toBe(true);
      expect(cleanup()).toMatchObject({ level: 20, run_id: 'r_1', err_message: 'cleanup broke' });
    });
  });
});
