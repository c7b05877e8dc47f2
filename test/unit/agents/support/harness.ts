import {
  AgentRuntime,
  type AgentRuntimeOptions,
} from '../../../../packages/server/src/agents/agent-runtime.js';
import type { Engine } from '../../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../../packages/server/src/observability/metrics.js';
import {
  AgentcastError,
  AgentcastErrorCode,
} from '../../../../packages/server/src/protocol/agentcast-error.js';
import type { DelegatingEngine } from '../../../helpers/delegating-engine.js';

/** A runtime on a fresh engine with counting ids (`r_1`, `x_1`, …) and its own metrics. */
export interface Harness<E extends Engine> {
  readonly engine: E;
  readonly runtime: AgentRuntime;
  readonly metrics: Metrics;
}

/**
 * Builds a runtime; `engine` defaults to a real MemoryEngine (pass a DelegatingEngine to inject faults).
 * Close it with `harness.runtime.close()`.
 */
export function harness<E extends Engine = MemoryEngine>(
  options: Partial<Omit<AgentRuntimeOptions, 'engine'>> & { engine?: E } = {},
): Harness<E> {
  const engine = options.engine ?? (new MemoryEngine() as unknown as E);
  const metrics = new Metrics();
  const counters = { r: 0, x: 0, a: 0 };
  const runtime = new AgentRuntime({
    log: silentLogger(),
    metrics,
    newId: (prefix) => {
      counters[prefix] += 1;
      return `${prefix}_${counters[prefix]}`;
    },
    ...options,
    agents: options.agents ?? [],
    engine,
  });
  return { engine, runtime, metrics };
}

export { metricValue } from '../../../helpers/metric-value.js';

/** What an engine whose Redis is unreachable rejects with (a fresh error per call). */
export function engineDown(): AgentcastError {
  return new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down');
}

/**
 * Counts appends of a run made while another append of the same run was still in flight: §3 strict
 * order says a run stores its events one after another, so `count` must stay 0. Install it after any
 * `fail`, so that failing appends count as in flight too.
 */
export function overlappingAppends(engine: DelegatingEngine): { readonly count: number } {
  const inFlight = new Map<string, number>();
  const overlaps = { count: 0 };
  engine.intercept('append', async (next, userId, event) => {
    const run = `${userId}/${event.run_id ?? ''}`;
    inFlight.set(run, (inFlight.get(run) ?? 0) + 1);
    if ((inFlight.get(run) ?? 0) > 1) overlaps.count += 1;
    try {
      // Stay in flight for a tick at least, so an append that does not wait for the previous one shows.
      await Promise.resolve();
      return await next(userId, event);
    } finally {
      inFlight.set(run, (inFlight.get(run) ?? 1) - 1);
    }
  });
  return overlaps;
}
