import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentRuntime, type StartResult } from '../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import type {
  ActiveRun,
  CancelDelivery,
  IdempotencyClaim,
  ReapedRun,
  RunFence,
  RunRef,
  RunReservation,
  RunStart,
} from '../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../packages/server/src/observability/logger.js';
import type { NewEvent, StoredEvent } from '../../packages/server/src/protocol/events.js';
import { deferred } from '../helpers/deferred.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { propertyParameters } from './support/property-parameters.js';

/**
 * Issue 15 as a model-based property (docs/agents.md, "Runs across nodes"; docs/redis.md, "Runs"): 2–3
 * in-process nodes (AgentRuntime instances, each its own node id and short lease) share one MemoryEngine,
 * standing for gateways sharing one Redis (the Redis engine passes the same contract). Random
 * interleavings of: a user_message on a node, a cancel of any run from any node, a node killed (every
 * engine call it makes from then on never returns: it stops renewing, its agents are abandoned), a node
 * frozen (its calls wait; frames sent to it wait too) and resumed, real time passing, and a reaper
 * round on a node. At the end every frozen node is resumed and the live nodes' reapers run until no run
 * is left. Then, for every run registered:
 * - exactly one `agent_completed`, and it is the run's last event (nothing of a run is stored after its
 *   terminal: a resumed owner whose run was reaped is fenced);
 * - a run whose registration was ended without a terminal (a start that registered and was then refused)
 *   stored nothing at all;
 * and at no point did a user hold more than `maxRunsPerUser` active registrations (checked in the
 * engine at every admission and every renewal, in the same synchronous step).
 */

const LEASE_MS = 90;
const MAX_RUNS_PER_USER = 2;
const USERS = ['alice', 'bob'] as const;
const AGENT_STEP_MS = 8;
/** How long the final phase may take to see every run ended before the property fails. */
const SETTLE_MS = 6_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run ids end in their node and a counter; `text` says how many steps the agent takes. */
const agent = defineAgent({
  name: 'stepper',
  async *run(input, ctx) {
    const steps = Number(input.text);
    for (let i = 0; i < steps && !ctx.signal.aborted; i += 1) {
      yield { type: 'agent_thinking', data: { reasoning: `step ${i}` } };
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, AGENT_STEP_MS);
        ctx.signal.addEventListener('abort', done);
      });
    }
  },
});

/**
 * The shared engine, checking the limit where it is enforced: right after an admission or a renewal
 * (MemoryEngine's methods do their work synchronously, so `activeRuns` called in the same step sees the
 * state they left).
 */
class CheckedEngine extends MemoryEngine {
  readonly registered = new Set<string>();
  /** Runs whose registration endRun ended (no terminal was due). */
  readonly endedWithoutTerminal = new Set<string>();
  readonly overshoots: string[] = [];

  override startRun(userId: string, start: RunStart): Promise<RunReservation> {
    const reservation = super.startRun(userId, start);
    this.#check(userId, `admitting ${start.runId}`);
    void reservation.then(
      (r) => {
        if (r.ok) this.registered.add(start.runId);
      },
      () => undefined,
    );
    return reservation;
  }

  override renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    const lost = super.renewRuns(node, runs, leaseMs);
    for (const userId of new Set(runs.map((r) => r.userId))) this.#check(userId, `renewals of ${node}`);
    return lost;
  }

  override endRun(userId: string, runId: string, node: string): Promise<boolean> {
    const ended = super.endRun(userId, runId, node);
    void ended.then(
      (yes) => {
        if (yes) this.endedWithoutTerminal.add(runId);
      },
      () => undefined,
    );
    return ended;
  }

  #check(userId: string, when: string): void {
    void this.activeRuns(userId).then(
      (active) => {
        if (active.length > MAX_RUNS_PER_USER) {
          this.overshoots.push(`${userId} held ${active.map((r) => r.runId).join(', ')} after ${when}`);
        }
      },
      () => undefined,
    );
  }
}

type Mode = 'live' | 'frozen' | 'dead' | 'gone';

/**
 * One node's view of the shared engine. Frozen: every call waits until resumed (a SIGSTOPped process,
 * a long GC). Dead: every call waits for ever (a SIGKILLed process stores nothing more). Gone: every
 * call fails at once (the test's cleanup, so the abandoned runtimes can be closed).
 */
class NodeEngine extends DelegatingEngine {
  mode: Mode = 'live';
  #wake = deferred();

  setMode(mode: Mode): void {
    this.mode = mode;
    if (mode !== 'frozen') {
      this.#wake.resolve();
      this.#wake = deferred();
    }
  }

  async #gate(): Promise<void> {
    for (;;) {
      if (this.mode === 'live') return;
      if (this.mode === 'gone') throw new EngineUnavailableError('node gone', { nothingApplied: true });
      await this.#wake.promise;
    }
  }

  override async append(userId: string, event: NewEvent, fence?: RunFence): Promise<StoredEvent> {
    await this.#gate();
    return super.append(userId, event, fence);
  }
  override async appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    await this.#gate();
    return super.appendBatch(items);
  }
  override async claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim> {
    await this.#gate();
    return super.claimIdempotency(key, value, ttlMs);
  }
  override async startRun(userId: string, start: RunStart): Promise<RunReservation> {
    await this.#gate();
    return super.startRun(userId, start);
  }
  override async renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    await this.#gate();
    return super.renewRuns(node, runs, leaseMs);
  }
  override async endRun(userId: string, runId: string, node: string): Promise<boolean> {
    await this.#gate();
    return super.endRun(userId, runId, node);
  }
  override async activeRuns(userId: string): Promise<ActiveRun[]> {
    await this.#gate();
    return super.activeRuns(userId);
  }
  override async requestCancel(userId: string, runId: string): Promise<CancelDelivery> {
    await this.#gate();
    return super.requestCancel(userId, runId);
  }
  override async reapLapsedRuns(max: number, terminal: (runId: string) => NewEvent): Promise<ReapedRun[]> {
    await this.#gate();
    return super.reapLapsedRuns(max, terminal);
  }
}

interface Node {
  readonly name: string;
  readonly engine: NodeEngine;
  readonly runtime: AgentRuntime;
  /** Frames sent to the node while it is frozen, handled once it is resumed. */
  readonly inbox: (() => void)[];
}

type Command =
  | { readonly kind: 'start'; readonly node: number; readonly user: number; readonly steps: number }
  | { readonly kind: 'cancel'; readonly node: number; readonly pick: number }
  | { readonly kind: 'kill'; readonly node: number }
  | { readonly kind: 'freeze'; readonly node: number }
  | { readonly kind: 'resume'; readonly node: number }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'reap'; readonly node: number };

const nodeIndex = fc.nat({ max: 2 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('start' as const),
      node: nodeIndex,
      user: fc.nat({ max: USERS.length - 1 }),
      steps: fc.integer({ min: 0, max: 40 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('cancel' as const), node: nodeIndex, pick: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), node: nodeIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('freeze' as const), node: nodeIndex }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resume' as const), node: nodeIndex }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('wait' as const),
      ms: fc.constantFrom(2, 20, 50, LEASE_MS + 20),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reap' as const), node: nodeIndex }) },
);

async function scenario(nodeCount: number, commands: readonly Command[]): Promise<void> {
  const inner = new CheckedEngine();
  const nodes: Node[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const name = `node-${i}`;
    const engine = new NodeEngine(inner);
    let n = 0;
    const runtime = new AgentRuntime({
      engine,
      agents: [agent],
      defaultAgent: agent.name,
      maxRunsPerUser: MAX_RUNS_PER_USER,
      node: name,
      runLeaseMs: LEASE_MS,
      log: silentLogger(),
      newId: (prefix) => {
        n += 1;
        return `${prefix}_${name}_${n}`;
      },
    });
    nodes.push({ name, engine, runtime, inbox: [] });
  }
  /** Run ids acked to a user_message (not as a duplicate), with their user. */
  const acked = new Map<string, string>();
  /** Cancels of a user's own run that were not acked. */
  const refused: string[] = [];
  /** Answers still awaited from live or frozen nodes (a dead node's never come). */
  const pending = new Map<Promise<unknown>, Node>();
  const awaited = () => [...pending].filter(([, n]) => n.engine.mode !== 'dead').map(([p]) => p);
  const track = (node: Node, work: () => Promise<unknown>): void => {
    const run = () => {
      const p = work().finally(() => pending.delete(p));
      pending.set(p, node);
    };
    if (node.engine.mode === 'frozen') node.inbox.push(run);
    else if (node.engine.mode === 'live') run();
    // A dead node receives no frames.
  };
  let messages = 0;
  const resume = (node: Node): void => {
    if (node.engine.mode !== 'frozen') return;
    node.engine.setMode('live');
    for (const frame of node.inbox.splice(0)) frame();
  };
  const at = (i: number): Node => nodes[i % nodes.length] as Node;

  try {
    for (const c of commands) {
      switch (c.kind) {
        case 'start': {
          const node = at(c.node);
          const userId = USERS[c.user] as string;
          messages += 1;
          const messageId = `m${messages}`;
          track(node, async () => {
            const result: StartResult = await node.runtime.start(userId, {
              messageId,
              text: String(c.steps),
            });
            if (result.ok && !result.duplicate) acked.set(result.runId, userId);
          });
          break;
        }
        case 'cancel': {
          const runs = [...acked];
          if (runs.length === 0) break;
          const [runId, userId] = runs[c.pick % runs.length] as [string, string];
          const node = at(c.node);
          track(node, async () => {
            const answer = await node.runtime.cancel(userId, runId);
            // The run is the user's: a cancel is acked (maybe as already ended), never NOT_FOUND.
            if (!answer.ok) refused.push(`cancel of ${runId} on ${node.name}: ${JSON.stringify(answer)}`);
          });
          break;
        }
        case 'kill': {
          const node = at(c.node);
          // One node always survives, so someone is left to reap.
          const others = nodes.filter((n) => n !== node && n.engine.mode !== 'dead');
          if (node.engine.mode === 'dead' || others.length === 0) break;
          node.inbox.length = 0;
          node.engine.setMode('dead');
          break;
        }
        case 'freeze': {
          const node = at(c.node);
          if (node.engine.mode === 'live') node.engine.setMode('frozen');
          break;
        }
        case 'resume':
          resume(at(c.node));
          break;
        case 'wait':
          await sleep(c.ms);
          break;
        case 'reap': {
          const node = at(c.node);
          track(node, () => node.runtime.reapLapsedRuns());
          break;
        }
      }
    }

    // The end: every frozen node comes back; the live nodes' reapers end what the dead ones left.
    for (const node of nodes) resume(node);
    const live = nodes.filter((n) => n.engine.mode === 'live');
    const deadline = Date.now() + SETTLE_MS;
    let settled = false;
    while (!settled && Date.now() < deadline) {
      await Promise.allSettled(awaited());
      await sleep(LEASE_MS + 10);
      for (const node of live) await node.runtime.reapLapsedRuns();
      const history = await allEvents(inner);
      const terminated = new Set(history.filter((e) => e.type === 'agent_completed').map((e) => e.run_id));
      settled =
        awaited().length === 0 &&
        live.every((n) => n.runtime.activeRuns() === 0) &&
        [...inner.registered].every((id) => terminated.has(id) || inner.endedWithoutTerminal.has(id)) &&
        (await Promise.all(USERS.map((u) => inner.activeRuns(u)))).every((a) => a.length === 0);
    }
    expect(settled, `runs still going ${SETTLE_MS} ms after the last command`).toBe(true);
    // Whatever the resumed nodes still had in flight has arrived (fenced or not).
    await sleep(LEASE_MS);

    const history = await allEvents(inner);
    const byRun = new Map<string, StoredEvent[]>();
    for (const event of history) {
      if (event.run_id === undefined) continue;
      byRun.set(event.run_id, [...(byRun.get(event.run_id) ?? []), event]);
    }
    for (const runId of acked.keys()) expect(inner.registered.has(runId), runId).toBe(true);
    for (const runId of inner.registered) {
      const events = byRun.get(runId) ?? [];
      if (inner.endedWithoutTerminal.has(runId)) {
        expect(events, `${runId} was unregistered without a terminal yet stored events`).toEqual([]);
        continue;
      }
      const terminals = events.filter((e) => e.type === 'agent_completed');
      expect(terminals.length, `${runId}: ${events.map((e) => `${e.seq}:${e.type}`).join(' ')}`).toBe(1);
      expect(events.at(-1)?.type, `${runId}: something stored after its terminal`).toBe('agent_completed');
    }
    for (const runId of byRun.keys()) expect(inner.registered.has(runId), runId).toBe(true);
    expect(inner.overshoots).toEqual([]);
    expect(refused).toEqual([]);
  } finally {
    // The abandoned and the live alike: every call fails from now on, so each runtime closes.
    for (const node of nodes) node.engine.setMode('gone');
    await Promise.all(
      nodes.map((n) => Promise.race([n.runtime.close(), sleep(2_000)]).catch(() => undefined)),
    );
    await inner.close();
  }
}

/** Every event of every user, oldest first per user. */
async function allEvents(engine: MemoryEngine): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  for (const userId of USERS) {
    const result = await engine.history(userId, { since: 0, limit: 100_000 });
    if (result.kind === 'ok') all.push(...result.events);
  }
  return all;
}

describe('runs across nodes (property)', () => {
  it('every run gets exactly one agent_completed, its last event, through kills, freezes, cancels and reaps; the limit holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 3 }),
        fc.array(command, { minLength: 10, maxLength: 25 }),
        scenario,
      ),
      propertyParameters({ numRuns: 30 }),
    );
  }, 120_000);
});
