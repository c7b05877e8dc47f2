import type { Engine } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { AgentcastError, AgentcastErrorCode, isEngineUnavailable } from '../protocol/agentcast-error.js';
import { errorMessage, failedEnd, runEndEvent } from './run-end.js';
import { RunErrorCode, RunErrorMessage } from './run-error-code.js';

/** Options of {@link RunReaper}. */
export interface RunReaperOptions {
  readonly engine: Engine;
  /** Mean pause between two rounds; each pause is jittered to 50–150 % of it. */
  readonly intervalMs: number;
  /** At most this many runs are reaped per round; the rest wait for the next. */
  readonly batch: number;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  /** In [0, 1); the jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** The terminal a reaped run gets (docs/protocol.md, run error codes: `NODE_LOST`). */
export function nodeLostEvent(runId: string) {
  const message = RunErrorMessage[RunErrorCode.NodeLost];
  return runEndEvent(runId, failedEnd('failed', RunErrorCode.NodeLost, message));
}

/**
 * Ends the runs of dead owners (docs/agents.md, "Runs across nodes"): one timer per node asks the engine,
 * every `intervalMs` (jittered, so the nodes of a deployment do not all ask at once), to reap up to
 * `batch` runs whose lease lapsed, each with one `agent_completed` `failed` / `NODE_LOST`. Every node
 * runs one; the engine makes each reap conditional, so two nodes reaping at once store one terminal.
 */
export class RunReaper {
  readonly #options: RunReaperOptions;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RunReaperOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#schedule();
  }

  /** Stops the timer; a round under way finishes. Idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One round; resolves with how many runs it reaped. Never throws. */
  async reap(): Promise<number> {
    const { engine, batch, log, metrics } = this.#options;
    if (!engine.health().ok) return 0;
    try {
      const reaped = await engine.reapLapsedRuns(batch, nodeLostEvent);
      for (const run of reaped) {
        metrics?.runsEnded.inc({ agent: run.agent, status: 'failed' });
        metrics?.runsLost.inc({ reason: 'node_lost' });
        log.warn(
          { run_id: run.runId, user_id: run.userId, agent: run.agent, node: run.node, seq: run.event.seq },
          'run reaped: its node stopped renewing its lease',
        );
      }
      return reaped.length;
    } catch (error) {
      // A closed engine (the gateway shutting down) ends the reaper; an outage is reported by the
      // engine's health; anything else is a bug an operator must see.
      if (error instanceof AgentcastError && error.code === AgentcastErrorCode.EngineClosed) this.stop();
      else if (!isEngineUnavailable(error)) {
        log.error({ err_message: errorMessage(error) }, 'run reaper failed');
      }
      return 0;
    }
  }

  #schedule(): void {
    const delay = Math.max(1, Math.round(this.#options.intervalMs * (0.5 + this.#random())));
    this.#timer = setTimeout(() => {
      void this.reap().finally(() => {
        if (!this.#stopped) this.#schedule();
      });
    }, delay);
    // Reaping only matters while the gateway serves; it must not keep a finished process alive.
    this.#timer.unref();
  }
}
