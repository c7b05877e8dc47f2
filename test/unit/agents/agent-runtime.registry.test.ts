import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import type {
  CancelListener,
  Engine,
  RunRef,
  RunReservation,
  RunStart,
  Unsubscribe,
} from '../../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { ErrorCode } from '../../../packages/server/src/protocol/error-codes.js';
import { gate } from '../../helpers/deferred.js';
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

  it('ends a run by storing its terminal, which ends its registration: no endRun is needed', async () => {
    const inner = memoryEngine();
    const engine = new DelegatingEngine(inner);
    const { agent, release } = gatedAgent();
    const a = node(engine, 'node-a', agent, 60_000);
    const id = await runId(a, 'alice', 'm1');
    release();
    const events = await runEvents(inner, 'alice', id);
    expect(events.at(-1)).toMatchObject({ type: 'agent_completed', data: { status: 'succeeded' } });
    await vi.waitFor(() => expect(a.activeRuns()).toBe(0), WAIT);
    expect(await inner.activeRuns('alice')).toEqual([]);
    expect(await inner.endRun('alice', id, 'node-a')).toBe(false);
  });

  describe('a node that stops renewing (killed, frozen, cut off)', () => {
    const NODE_LOST = {
      status: 'failed',
      final_response: null,
      error: { code: 'NODE_LOST', message: 'the gateway node running the agent was lost' },
    };

    /** The owner's engine: its renewals stop arriving while `frozen`, as a frozen node's would. */
    function freezable(inner: Engine) {
      const state = { frozen: false };
      const engine = new (class extends DelegatingEngine {
        override async renewRuns(owner: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
          if (state.frozen) return [];
          return this.inner.renewRuns(owner, runs, leaseMs);
        }
      })(inner);
      return { engine, state };
    }

    /** An agent that yields, waits for `gate`, yields once more, then waits for its abort. */
    function watchedAgent() {
      const gate = deferred();
      const seen: { signal?: AbortSignal } = {};
      const agent = defineAgent({
        name: 'gated',
        async *run(_input, ctx) {
          seen.signal = ctx.signal;
          yield { type: 'agent_thinking', data: { reasoning: 'before' } };
          await gate.promise;
          yield { type: 'agent_thinking', data: { reasoning: 'after the reap' } };
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        },
      });
      return { agent, seen, release: () => gate.resolve() };
    }

    it('its run is reaped by another node with NODE_LOST; the owner stores nothing more and aborts its agent', async () => {
      const inner = memoryEngine();
      const owner = freezable(inner);
      const { agent, seen, release } = watchedAgent();
      const a = node(owner.engine, 'node-a', agent, 90);
      const b = node(inner, 'node-b', agent, 90);
      const id = await runId(a, 'alice', 'm1');
      await vi.waitFor(() => expect(owner.engine.eventsOf('alice')).toHaveLength(2), WAIT);
      owner.state.frozen = true;
      // Node B's reaper (and node A's own, which reaps any lapsed run) ends it once its lease lapsed.
      const events = await runEvents(inner, 'alice', id);
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_thinking', 'agent_completed']);
      expect(events[2]?.data).toEqual(NODE_LOST);
      // The owner goes on: its next append is refused, its agent aborted, and no terminal of its own.
      release();
      await vi.waitFor(() => expect(a.activeRuns()).toBe(0), WAIT);
      expect(seen.signal?.aborted).toBe(true);
      const after = await inner.history('alice', { since: 0, limit: 100 });
      expect(after.kind === 'ok' && after.events.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
      expect(await b.reapLapsedRuns()).toBe(0);
    });

    it('its agent is aborted as soon as a renewal says the run is lost, and no second terminal is stored', async () => {
      const inner = memoryEngine();
      const owner = freezable(inner);
      const { agent, seen } = watchedAgent();
      const a = node(owner.engine, 'node-a', agent, 90);
      node(inner, 'node-b', agent, 90);
      const id = await runId(a, 'alice', 'm1');
      await vi.waitFor(() => expect(owner.engine.eventsOf('alice')).toHaveLength(2), WAIT);
      owner.state.frozen = true;
      const events = await runEvents(inner, 'alice', id);
      expect(events.at(-1)?.data).toEqual(NODE_LOST);
      expect(seen.signal?.aborted).toBe(false);
      owner.state.frozen = false;
      await vi.waitFor(() => expect(seen.signal?.aborted).toBe(true), WAIT);
      await vi.waitFor(() => expect(a.activeRuns()).toBe(0), WAIT);
      const after = await inner.history('alice', { since: 0, limit: 100 });
      expect(after.kind === 'ok' && after.events.length).toBe(events.length);
    });

    it('a run whose terminal could not be stored (the engine failed through the drain) is ended NODE_LOST by a reaper once the engine is back', async () => {
      const inner = memoryEngine();
      const engine = new DelegatingEngine(inner);
      const { agent } = gatedAgent();
      const a = node(engine, 'node-a', agent, 90);
      const id = await runId(a, 'alice', 'm1');
      await vi.waitFor(() => expect(engine.eventsOf('alice')).toHaveLength(2), WAIT);
      const back = engine.fail(
        'append',
        new EngineUnavailableError('redis is down', { nothingApplied: true }),
      );
      // drain(0) ends the run SHUTDOWN and gives up on its terminal: it is lost, and so is the node.
      await a.close();
      back();
      node(inner, 'node-b', agent, 90);
      const events = await runEvents(inner, 'alice', id);
      expect(events.filter((e) => e.type === 'agent_completed')).toHaveLength(1);
      expect(events.at(-1)?.data).toEqual(NODE_LOST);
    });

    it('a draining node keeps renewing: its runs are not reaped while it drains within its lease', async () => {
      const inner = memoryEngine();
      const { agent, release } = gatedAgent();
      const a = node(inner, 'node-a', agent, 60);
      const b = node(inner, 'node-b', agent, 60);
      const id = await runId(a, 'alice', 'm1');
      const drained = a.drain(5_000);
      // Several leases pass while it drains; node B's reaper runs all along and finds nothing lapsed.
      for (let i = 0; i < 5; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 60));
        expect(await b.reapLapsedRuns()).toBe(0);
      }
      release();
      await drained;
      const events = await runEvents(inner, 'alice', id);
      expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded' });
      expect(events.filter((e) => e.type === 'agent_completed')).toHaveLength(1);
    });
  });
});

// Issue 15, cancel from anywhere: a cancel on any node reaches the run's owner through the engine.
describe('AgentRuntime: cancel from another node', () => {
  const cancelled = {
    status: 'cancelled',
    final_response: null,
    error: { code: 'CANCELLED', message: 'cancelled by the user' },
  };
  const terminals = (events: readonly { readonly type: string }[]) =>
    events.filter((e) => e.type === 'agent_completed');

  it('acks on node B a cancel of node A’s run, which ends cancelled exactly once; a resent cancel is acked as ended', async () => {
    const engine = memoryEngine();
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const id = await runId(a, 'alice', 'm1');
    expect(await b.cancel('alice', id)).toEqual({ ok: true });
    const events = await runEvents(engine, 'alice', id);
    expect(terminals(events)).toHaveLength(1);
    expect(events.at(-1)?.data).toEqual(cancelled);
    await vi.waitFor(async () => expect(await engine.activeRuns('alice')).toEqual([]), WAIT);
    expect(await b.cancel('alice', id)).toEqual({ ok: true, ended: true });
    expect(await a.cancel('alice', id)).toEqual({ ok: true, ended: true });
    expect(terminals(await runEvents(engine, 'alice', id))).toHaveLength(1);
  });

  it('answers NOT_FOUND on node B for another user’s run of node A and for an unknown run; the run goes on', async () => {
    const engine = memoryEngine();
    const { agent, release } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const id = await runId(a, 'alice', 'm1');
    expect(await b.cancel('bob', id)).toEqual({
      ok: false,
      code: ErrorCode.NotFound,
      message: `no active run ${id} for this user`,
    });
    expect(await b.cancel('alice', 'r_nope')).toEqual({
      ok: false,
      code: ErrorCode.NotFound,
      message: 'no active run r_nope for this user',
    });
    release();
    const events = await runEvents(engine, 'alice', id);
    expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded' });
    // Once ended, it is still not bob's.
    await vi.waitFor(async () => expect(await engine.activeRuns('alice')).toEqual([]), WAIT);
    expect(await b.cancel('bob', id)).toMatchObject({ ok: false, code: ErrorCode.NotFound });
  });

  it('a cancel racing the reap of a run whose owner stopped renewing: acked, and the run gets exactly one terminal', async () => {
    const inner = memoryEngine();
    // Node A's renewals are lost (a node frozen or cut off from Redis): its run's lease lapses, node B's
    // reaper may end it NODE_LOST, and A itself ends it once a renewal reports it lost, before, after or
    // while the cancel is sent to A.
    const silent = new (class extends DelegatingEngine {
      override async renewRuns(_node: string, runs: readonly RunRef[]): Promise<string[]> {
        return runs.map((r) => r.runId);
      }
    })(inner);
    const { agent } = gatedAgent();
    const a = node(silent, 'node-a', agent, 100);
    const b = node(inner, 'node-b', agent);
    const id = await runId(a, 'alice', 'm1');
    await vi.waitFor(async () => expect(await inner.activeRuns('alice')).toEqual([]), WAIT);
    const answer = await b.cancel('alice', id);
    expect(answer.ok).toBe(true);
    await vi.waitFor(
      async () => expect(terminals(await runEvents(inner, 'alice', id))).toHaveLength(1),
      WAIT,
    );
    const events = await runEvents(inner, 'alice', id);
    expect(terminals(events)).toHaveLength(1);
    // Whichever came first ends it: the cancel (cancelled), B's reaper (NODE_LOST), or A itself once its
    // renewal reported the run lost (UNAVAILABLE); the terminal is the run's last event either way.
    expect(events.at(-1)?.type).toBe('agent_completed');
    const end = events.at(-1)?.data as { status: string; error?: { code: string } };
    expect(['cancelled', 'failed:NODE_LOST', 'failed:UNAVAILABLE']).toContain(
      end.status === 'failed' ? `failed:${end.error?.code}` : end.status,
    );
  });

  it('answers UNAVAILABLE when the registry cannot be asked; the owner cancels its own run without it', async () => {
    const engine = new DelegatingEngine(memoryEngine());
    engines.push(engine);
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const id = await runId(a, 'alice', 'm1');
    engine.fail('requestCancel', new EngineUnavailableError('redis is down', { nothingApplied: true }));
    expect(await b.cancel('alice', id)).toEqual({
      ok: false,
      code: ErrorCode.Unavailable,
      message: 'engine unavailable; retry later',
    });
    engine.setHealth({ ok: false, reason: 'redis is down' });
    expect(await b.cancel('alice', id)).toMatchObject({ ok: false, code: ErrorCode.Unavailable });
    expect(engine.calls.requestCancel).toBe(1);
    expect(await a.cancel('alice', id)).toEqual({ ok: true });
    engine.setHealth(undefined);
    expect((await runEvents(engine, 'alice', id)).at(-1)?.data).toEqual(cancelled);
  });

  it('cancels a run that is registered (so listed everywhere) but not launched yet, as it launches', async () => {
    const engine = new DelegatingEngine(memoryEngine());
    engines.push(engine);
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    const b = node(engine, 'node-b', agent);
    const claim = gate();
    engine.hold('claimIdempotency', claim);
    const starting = a.start('alice', { messageId: 'm1', text: 'hi' });
    await claim.wasReached;
    const [listed] = await engine.activeRuns('alice');
    if (listed === undefined) throw new Error('the run is not listed');
    expect(await b.cancel('alice', listed.runId)).toEqual({ ok: true });
    claim.open();
    expect(await starting).toEqual({ ok: true, runId: listed.runId, duplicate: false });
    const events = await runEvents(engine, 'alice', listed.runId);
    expect(terminals(events)).toHaveLength(1);
    expect(events.at(-1)?.data).toEqual(cancelled);
  });

  it('listens for other nodes’ cancels as its node from the start, and stops once drained', async () => {
    const listening: string[] = [];
    let stopped = 0;
    const engine = new (class extends DelegatingEngine {
      override async onCancelRequest(node: string, listener: CancelListener): Promise<Unsubscribe> {
        listening.push(node);
        const stop = await this.inner.onCancelRequest(node, listener);
        return async () => {
          stopped += 1;
          await stop();
        };
      }
    })(memoryEngine());
    const { agent } = gatedAgent();
    const a = node(engine, 'node-a', agent);
    expect(listening).toEqual(['node-a']);
    await runId(a, 'alice', 'm1');
    await a.close();
    await vi.waitFor(() => expect(stopped).toBe(1), WAIT);
  });
});
