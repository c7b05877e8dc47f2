import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { builtInAgents } from '../../../packages/server/src/agents/built-in-agents.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { createDemoAgent } from '../../../packages/server/src/agents/demo-agent.js';
import { evaluateArithmetic } from '../../../packages/server/src/agents/evaluate-arithmetic.js';
import { signWebhook, verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';
import type { Config } from '../../../packages/server/src/config/config.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { harness } from './support/harness.js';
import { deferred, runEvents } from './support/run-events.js';

/**
 * Cases that kill mutants which survived `npx stryker run --mutate 'src/agents/**\/*.ts'`; TESTING.md
 * lists the ones left as equivalent. Each states the rule the mutant broke.
 */

const open: AgentRuntime[] = [];
afterEach(async () => {
  for (const runtime of open.splice(0)) await runtime.close();
});

/** An agent whose runs (named by their text) wait until the test releases them. */
function held() {
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

describe('builtInAgents', () => {
  // loadConfig refuses --agent-url without --agent-secret, so the combinations are built from a valid
  // config by hand: builtInAgents must not rely on that check alone.
  const base: Config = loadConfig({ overrides: { env: 'test', jwtSecret: 'x'.repeat(40) } });
  const url = 'http://127.0.0.1:9/agent';
  const secret = 's'.repeat(32);

  it.each<[string, Partial<Config>, string[]]>([
    ['demo only without --agent-url', {}, ['demo']],
    ['demo only with a URL but no secret', { agentUrl: url }, ['demo']],
    ['demo only with a secret but no URL', { agentSecret: secret }, ['demo']],
    ['demo and webhook with both', { agentUrl: url, agentSecret: secret }, ['demo', 'webhook']],
  ])('offers %s', (_name, overrides, names) => {
    expect(builtInAgents({ ...base, ...overrides }).map((a) => a.name)).toEqual(names);
  });
});

describe('AgentRuntime', () => {
  it('answers a duplicate user_message arriving while the first is still starting as a duplicate, even at max_runs_per_user', async () => {
    const { agent } = held();
    const h = harness({ agents: [agent], defaultAgent: 'held', maxRunsPerUser: 1 });
    open.push(h.runtime);
    const [first, second] = await Promise.all([
      h.runtime.start('u1', { messageId: 'm1', text: 'hi' }),
      h.runtime.start('u1', { messageId: 'm1', text: 'hi' }),
    ]);
    expect(first).toMatchObject({ ok: true, duplicate: false });
    expect(second).toEqual({ ok: true, runId: (first as { runId: string }).runId, duplicate: true });
  });

  it('counts a user’s runs exactly as they end: one ending frees one slot, not all of them', async () => {
    const { agent, release } = held();
    const h = harness({ agents: [agent], defaultAgent: 'held', maxRunsPerUser: 2 });
    open.push(h.runtime);
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
});

describe('demo agent', () => {
  it('cites two different canned hits and streams no empty chunk, whatever the question', async () => {
    for (const text of ['hello', 'what is 6 * 7?', 'search resume streams', 'x', '12 / 4 then?']) {
      const h = harness({ agents: [createDemoAgent({ delayMs: 0 })] });
      open.push(h.runtime);
      const started = await h.runtime.start('u1', { messageId: `m-${text}`, text });
      const events = await runEvents(h.engine, 'u1', (started as { runId: string }).runId);
      const search = events.find((e) => e.type === 'tool_completed' && e.data.tool_name === 'web_search');
      const hits = (search?.data.results as { url: string }[] | undefined) ?? [];
      expect(hits).toHaveLength(2);
      expect(hits[0]?.url).not.toBe(hits[1]?.url);
      for (const chunk of events.filter((e) => e.type === 'stream_chunk')) {
        expect(String(chunk.data.text).trim()).not.toBe('');
      }
    }
  });
});

describe('evaluateArithmetic', () => {
  it.each([
    ['3 * 0', 0],
    ['0 * 5', 0],
    ['.5 + 1', 1.5],
    ['2.25 * 2', 4.5],
  ])('evaluates %s to %d (multiplying by zero is not a division by zero)', (expression, value) => {
    expect(evaluateArithmetic(expression)).toBe(value);
  });

  it.each(['4 / 0', '4 % 0'])('refuses %s as a division by zero', (expression) => {
    expect(() => evaluateArithmetic(expression)).toThrow(RangeError);
  });
});

describe('verifyWebhook', () => {
  const secret = 'webhook-secret-0123456789abcdef';
  const body = '{"text":"hi"}';
  it.each(['x1700000000', '1700000000x', '1700000000000', ''])(
    'refuses a timestamp that is not 1 to 12 digits (%j), even with a matching signature',
    (timestamp) => {
      const signature = signWebhook(secret, timestamp, body);
      expect(
        verifyWebhook({
          secret,
          body,
          signature,
          timestamp,
          nowS: Number.parseInt(timestamp.replace(/\D/g, ''), 10) || 0,
        }),
      ).toBe(false);
    },
  );
});
