import {
  AgentRuntime,
  type AgentRuntimeOptions,
} from '../../../../packages/server/src/agents/agent-runtime.js';
import type { Engine } from '../../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../../packages/server/src/observability/metrics.js';

/** A runtime on a fresh engine with counting ids (`r_1`, `x_1`, …) and its own metrics. */
export interface Harness<E extends Engine> {
  readonly engine: E;
  readonly runtime: AgentRuntime;
  readonly metrics: Metrics;
}

/** Builds a runtime; `engine` defaults to a real MemoryEngine. Close it with `harness.runtime.close()`. */
export function harness<E extends Engine = MemoryEngine>(
  options: Partial<Omit<AgentRuntimeOptions, 'engine'>> & { engine?: E } = {},
): Harness<E> {
  const engine = options.engine ?? (new MemoryEngine() as unknown as E);
  const metrics = new Metrics();
  const counters = { r: 0, x: 0 };
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
