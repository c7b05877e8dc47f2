import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import type { Engine, RunRef, RunReservation, RunStart } from '../../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { ErrorCode } from '../../../packages/server/src/protocol/error-codes.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { deferred, runEvents } from './support/run-events.js';

// Issue 15, first part: the runtime registers every run in the engine's run registry, so
// --max-runs-per-user holds across nodes. Two runtimes sharing one MemoryEngine stand for two nodes
// sharing one Redis (the Redis engine passes the same contract: test/engine-contract).

const WAIT = { timeout: 5_000, interval: 5 } as const;
const RATE_LIMITED_MESSAGE = 'at most 2 runs at once per user; wait for one to end or cancel one';

/** An agent whose runs all wait for `release`. */
function gatedAgent() {
  const gate = deferred();
  const agent = defineAgent({
    name: 'gated',
    async *run() {
      yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
      await gate.promise;
    },
  });
  return { agent, release: () => gate.resolve() };
}

const runtimes: AgentRuntime[] = [];
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

function node(
  engine: Engine,
  name: string,
  agent: ReturnType<typeof gatedAgent>['agent'],
  runLeaseMs?: number,
): AgentRuntime {
  let n = 0;
  const runtime = new AgentRuntime({
    engine,
    agents: [agent],
    defaultAgent: agent.name,
    maxRunsPerUser: 2,
    node: name,
    ...(runLeaseMs === undefined ? {} : { runLeaseMs }),
    log: silentLogger(),
    newId: (prefix) => {
      n += 1;
      return `${prefix}_${name}_${n}`;
    },
  });
  runtimes.push(runtime);
  return runtime;
}

function memoryEngine(): MemoryEngine {
  const engine = new MemoryEngine();
  engines.push(engine);
  return engine;
}

async function runId(runtime: AgentRuntime, userId: string, messageId: string): Promise<string> {
  const result = await runtime.start(userId, { messageId, text: 'hi' });
  if (!result.ok) throw new Error(`start failed: ${result.code} ${result.message}`);
  return result.runId;
}

describe('AgentRuntime and the run registry', () => {
  it('refuses RATE_LIMITED on node B for a user at the limit on node A, and accepts once a run ended', async () => {
    const engine = memoryEngine();
    const { agent, release } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const first = await runId(a, 'alice', 'm1');
    await runId(a, 'alice', 'm2');
    expect(await b.start('alice', { messageId: 'm3', text: 'hi' })).toEqual({
      ok: false,
      code: ErrorCode.RateLimited,
      message: RATE_LIMITED_MESSAGE,
    });
    // Other users are not affected; node B counts nothing of its own for alice.
    await runId(b, 'bob', 'm1');
    expect(b.activeRuns()).toBe(1);

    release();
    await runEvents(engine, 'alice', first);
    // The refused message claimed nothing: the same id now starts a run (not a duplicate).
    await vi.waitFor(async () => {
      const result = await b.start('alice', { messageId: 'm3', text: 'hi' });
      expect(result).toMatchObject({ ok: true, duplicate: false });
    }, WAIT);
  });

  it('lists each running run with its agent and owner node, and forgets it once it ended', async () => {
    const engine = memoryEngine();
    const { agent, release } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const onA = await runId(a, 'alice', 'm1');
    const onB = await runId(b, 'alice', 'm2');
    const listed = await engine.activeRuns('alice');
    expect(listed.map(({ runId, agent, node }) => ({ runId, agent, node }))).toEqual([
      { runId: onA, agent: 'gated', node: 'node-a' },
      { runId: onB, agent: 'gated', node: 'node-b' },
    ]);
    release();
    await runEvents(engine, 'alice', onA);
    await runEvents(engine, 'alice', onB);
    await vi.waitFor(async () => expect(await engine.activeRuns('alice')).toEqual([]), WAIT);
  });

  it('answers a duplicate message on another node with the first run, and registers nothing more', async () => {
    const engine = memoryEngine();
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const first = await runId(a, 'alice', 'm1');
    expect(await b.start('alice', { messageId: 'm1', text: 'hi' })).toEqual({
      ok: true,
      runId: first,
      duplicate: true,
    });
    await vi.waitFor(async () => expect((await engine.activeRuns('alice')).length).toBe(1), WAIT);
    // Node B's reservation was given back: alice still has her second place.
    await runId(b, 'alice', 'm2');
  });

  it('answers a retry on another node of a running message as a duplicate, also at the limit', async () => {
    const engine = memoryEngine();
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const first = await runId(a, 'alice', 'm1');
    await runId(a, 'alice', 'm2');
    expect(await b.start('alice', { messageId: 'm1', text: 'hi' })).toEqual({
      ok: true,
      runId: first,
      duplicate: true,
    });
    expect(b.activeRuns()).toBe(0);
    expect(await b.start('alice', { messageId: 'm3', text: 'hi' })).toMatchObject({
      ok: false,
      code: ErrorCode.RateLimited,
    });
  });

  it('renews its runs’ leases, so a long run keeps counting; without renewal it stops counting', async () => {
    const { agent } = gatedAgent();
    const renewing = memoryEngine();
    // A 300 ms lease, renewed every 100 ms: only a stall of 200 ms could let it lapse.
    const a = node(renewing, 'node-a', agent, 300);
    await runId(a, 'alice', 'm1');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await renewing.activeRuns('alice')).length).toBe(1);

    // The same with renewals lost on the way (a node whose Redis writes fail): the lease lapses.
    const inner = memoryEngine();
    const silent = new (class extends DelegatingEngine {
      override async renewRuns(_node: string, runs: readonly RunRef[]): Promise<string[]> {
        return runs.map((r) => r.runId);
      }
    })(inner);
    const b = node(silent, 'node-b', agent, 300);
    await runId(b, 'alice', 'm1');
    await vi.waitFor(async () => expect(await inner.activeRuns('alice')).toEqual([]), WAIT);
  });

  it('answers UNAVAILABLE when the registry cannot be reached, and counts nothing for the refused start', async () => {
    const { agent } = gatedAgent();
    let down = true;
    const engine = new (class extends DelegatingEngine {
      override async startRun(userId: string, start: RunStart): Promise<RunReservation> {
        if (down) throw new EngineUnavailableError('redis is down', { nothingApplied: true });
        return this.inner.startRun(userId, start);
      }
    })(memoryEngine());
    const a = node(engine, 'node-a', agent);
    expect(await a.start('alice', { messageId: 'm1', text: 'hi' })).toEqual({
      ok: false,
      code: ErrorCode.Unavailable,
      message: 'engine unavailable; retry later',
    });
    down = false;
    await runId(a, 'alice', 'm1');
    await runId(a, 'alice', 'm2');
    expect(a.activeRuns()).toBe(2);
  });

  it('retries ending a registration the engine could not take, until it is ended', async () => {
    const inner = memoryEngine();
    let failures = 2;
    let ended = false;
    const engine = new (class extends DelegatingEngine {
      override async endRun(userId: string, runId: string, node: string): Promise<boolean> {
        if (failures > 0) {
          failures -= 1;
          throw new EngineUnavailableError('redis is down', { nothingApplied: true });
        }
        ended = await this.inner.endRun(userId, runId, node);
        return ended;
      }
    })(inner);
    // A run's stored terminal ends its registration in the same step; a start refused after registering
    // (its idempotency claim failed) has no terminal, so its registration is ended by endRun.
    engine.fail('claimIdempotency', new EngineUnavailableError('redis is down', { nothingApplied: true }));
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent, 60);
    const refused = await a.start('alice', { messageId: 'm1', text: 'q' });
    expect(refused).toMatchObject({ ok: false, code: ErrorCode.Unavailable });
    // Renewals stopped with the refusal, so the lease would lapse anyway; the end itself must arrive.
    await vi.waitFor(() => expect(ended).toBe(true), WAIT);
    expect(failures).toBe(0);
    expect(await inner.activeRuns('alice')).toEqual([]);
    expect(await inner.endRun('alice', 'r_node-a_1', 'node-a')).toBe(false);
  });
});
