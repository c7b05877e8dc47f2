import { randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import {
  AgentcastError,
  AgentcastErrorCode,
  isEngineUnavailable,
  isRunFenced,
} from '../protocol/agentcast-error.js';
import type { NewEvent, RunStatus } from '../protocol/events.js';
import { EventType } from '../protocol/events.js';
import { admitAgentEvent } from './admit-agent-event.js';
import { AgentRunError } from './agent-run-error.js';
import type { AgentContext, AgentDefinition, AgentEventStream, AgentInput } from './define-agent.js';
import { type ApprovalRequest, type ApprovalResult, RunApproval } from './run-approval.js';
import {
  appendFinalText,
  clip,
  errorMessage,
  failedEnd,
  innermostMessage,
  LOGGED_TEXT_MAX,
  type RunEnd,
  runEndEvent,
} from './run-end.js';
import { RunErrorCode, RunErrorMessage } from './run-error-code.js';
import { runTool } from './run-tool.js';

/** `agent_started.data.task_description` is the user's text, cut to this many characters. */
export const TASK_DESCRIPTION_MAX = 200;
/** How long a run keeps trying to store its terminal event while the engine is unavailable. */
const TERMINAL_RETRY_MS = 60_000;
/** Longest pause between two tries (a recovery of the engine wakes the run sooner). */
const TERMINAL_RETRY_STEP_MS = 1000;

/** Everything one run needs; built by `AgentRuntime`. */
export interface AgentRunOptions {
  readonly engine: Engine;
  readonly agent: AgentDefinition;
  readonly userId: string;
  readonly runId: string;
  readonly input: AgentInput;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  readonly now: () => number;
  /** A fresh `execution_id` for `ctx.tool()`. */
  readonly executionId: () => string;
  /**
   * The node that owns the run in the engine's run registry: every append of the run is fenced with it
   * (stored only while the run is still this node's, docs/agents.md "Runs across nodes").
   */
  readonly node: string;
  /** How long a question of the run waits for its user unless it says (`--approval-timeout-ms`). */
  readonly approvalTimeoutMs: number;
  /** A fresh `approval_id` for `ctx.approval()`. */
  readonly approvalId: () => string;
  /**
   * A queued run's turn in its thread (docs/protocol.md E): the run stores nothing, and its timeout does
   * not run, until this resolves. Stopped meanwhile, it ends with its terminal alone (no `agent_started`).
   */
  readonly turn?: Promise<void> | undefined;
}

/** What the pump hands to the end of the run: the terminal event, ready to store. */
interface Terminal {
  readonly event: NewEvent;
  readonly status: RunStatus;
  readonly errorCode?: string | undefined;
}

type Step =
  | { readonly kind: 'next'; readonly result: IteratorResult<unknown, unknown> }
  | { readonly kind: 'throw'; readonly error: unknown }
  | { readonly kind: 'stop'; readonly end: RunEnd };

/**
 * One agent run, from `agent_started` to its one `agent_completed` (docs/protocol.md §3).
 * `pending → running → ending → done`: events are stored strictly one after another through
 * `engine.append`; once the run is ending nothing the agent yields is stored.
 */
export class AgentRun {
  readonly runId: string;
  readonly userId: string;
  readonly messageId: string;
  readonly agentName: string;
  /** Resolves with the run's status once its terminal event was appended (or given up on). Never rejects. */
  readonly done: Promise<RunStatus>;
  readonly #options: AgentRunOptions;
  readonly #log: Logger;
  readonly #controller = new AbortController();
  readonly #stopped: Promise<RunEnd>;
  #resolveStop: (end: RunEnd) => void = () => undefined;
  #stop: RunEnd | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the run times out, ms; moved on by the time it waits for a person (docs/protocol.md G). */
  #deadline: number;
  /** The question the run is waiting on, if any (one at a time). */
  #approval: RunApproval | undefined;
  #streamed = '';
  #gaveUp = false;
  /**
   * An append was refused because the run is not this node's any more (another node reaped it with
   * NODE_LOST): nothing more of it is stored, its terminal included.
   */
  #fenced = false;
  /** The terminal was stored, which ended the run's registration in the same step. */
  #terminalStored = false;
  /** Storing the terminal failed for good (not fenced). */
  #terminalLost = false;
  /** The epoch the run's `agent_started` was stored in, once it was (the fence's `epoch`). */
  #epoch: string | undefined;
  /** Ends the current wait for the engine, if any. */
  #wake: () => void = () => undefined;
  /** When the run was accepted (options.now()), for the duration in the `run ended` line. */
  readonly #acceptedAt: number;

  constructor(options: AgentRunOptions) {
    this.#options = options;
    this.runId = options.runId;
    this.userId = options.userId;
    this.messageId = options.input.messageId;
    this.agentName = options.agent.name;
    this.#acceptedAt = options.now();
    this.#log = options.log.child({ run_id: options.runId, agent: options.agent.name });
    this.#stopped = new Promise<RunEnd>((resolve) => {
      this.#resolveStop = resolve;
    });
    // The timeout counts from acceptance, so a slow engine cannot stretch a run past run_timeout_ms; a
    // queued run's from its turn (waiting for the thread is not working).
    this.#deadline = options.now() + options.timeoutMs;
    if (options.turn === undefined) this.#armTimeout();
    // Deferred to a later macrotask so the gateway's ack (sent right after `start()` resolves) reaches
    // the client before the run's first event (docs/protocol.md §6: ack, then the run's events).
    this.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drive());
  }

  /**
   * Ends the run with `end` as soon as any append in flight finishes, and aborts the agent's signal.
   * Returns false when the run was already ending (the first reason wins).
   */
  stop(end: RunEnd): boolean {
    if (this.#stop !== undefined) return false;
    this.#stop = end;
    this.#resolveStop(end);
    this.#controller.abort(
      new DOMException(end.status === 'succeeded' ? 'run ended' : end.error.message, 'AbortError'),
    );
    return true;
  }

  /**
   * Whether the run's registration in the engine is over without an `endRun`: its terminal was stored
   * (which ends it in the same atomic step) or another node ended it (fenced). Read once `done` resolved.
   */
  get registrationEnded(): boolean {
    return this.#terminalStored || this.#fenced;
  }

  /**
   * The terminal could not be stored (the engine stayed down past the retries, or the gateway shut down
   * meanwhile). The run's registration is then left to lapse, so a reaper ends the run `NODE_LOST` once
   * the engine is back: the run still gets its one terminal. Read once `done` resolved.
   */
  get terminalLost(): boolean {
    return this.#terminalLost;
  }

  /**
   * The run is no longer this node's (its lease renewal was refused: another node reaped it, or Redis
   * lost the user's data, registry included): the agent is aborted at once. Its terminal is still tried,
   * fenced: after a reap it is refused (the reaper's NODE_LOST is the run's end); after a data loss it is
   * stored in the new epoch, `failed` / `UNAVAILABLE`, so the run still ends.
   */
  lost(): void {
    const message = RunErrorMessage[RunErrorCode.Unavailable];
    if (this.stop(failedEnd('failed', RunErrorCode.Unavailable, message))) {
      this.#log.warn('run lease lost; the agent is aborted');
    }
  }

  /** Times the run out at its deadline (waiting for a person does not count: #waitFor moves it). */
  #armTimeout(): void {
    const { timeoutMs, now } = this.#options;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => this.stop(failedEnd('timed_out', RunErrorCode.Timeout, `run exceeded ${timeoutMs} ms`)),
      Math.max(0, this.#deadline - now()),
    );
    this.#timer.unref();
  }

  /**
   * `ctx.approval()` (docs/protocol.md G): stores the question, waits for the one answer the engine stores
   * (a person's, the expiry's, or `cancelled` when the run ends first) with the run's timeout paused.
   */
  async #askApproval(request: ApprovalRequest): Promise<ApprovalResult> {
    if (this.#stop !== undefined) return { decision: 'cancelled' };
    if (this.#approval !== undefined) {
      throw new AgentRunError(RunErrorCode.AgentError, 'a run asks one question at a time');
    }
    const { engine, userId, runId, now, approvalTimeoutMs } = this.#options;
    const approval = new RunApproval({
      engine,
      userId,
      runId,
      approvalId: this.#options.approvalId(),
      request,
      timeoutMs: request.timeout_ms ?? approvalTimeoutMs,
      now,
      log: this.#log,
      append: (event) => this.#append(event),
    });
    this.#approval = approval;
    const pausedAt = now();
    clearTimeout(this.#timer);
    try {
      await approval.ask();
      return await approval.settled;
    } finally {
      this.#approval = undefined;
      approval.close();
      this.#deadline += now() - pausedAt;
      if (this.#stop === undefined) this.#armTimeout();
    }
  }

  async #drive(): Promise<RunStatus> {
    const terminal = await this.#pump();
    // From here the run is over for its agent: anything it still yields is dropped.
    this.stop({ status: 'succeeded', finalResponse: null });
    clearTimeout(this.#timer);
    // A question still open is answered `cancelled` before the run's terminal (G): nothing after it.
    if (!this.#fenced) await this.#approval?.answer({ decision: 'cancelled', by: 'run' });
    try {
      // A fenced run was ended by another node, which stored its one terminal (NODE_LOST).
      if (!this.#fenced) await this.#appendTerminal(terminal.event);
    } catch (error) {
      if (!isRunFenced(error)) {
        // The engine stayed down for TERMINAL_RETRY_MS (or the gateway shut down meanwhile), so the
        // terminal event is lost; an operator must look at the engine (docs/agents.md).
        this.#terminalLost = true;
        this.#options.metrics?.runsLost.inc({ reason: 'terminal_lost' });
        this.#log.error({ status: terminal.status, err_code: errorCode(error) }, 'run terminal event lost');
      } else {
        this.#onFenced(error);
      }
    }
    if (this.#fenced) {
      // Counted and logged as the run ended for its user: failed, NODE_LOST, by the reaper's terminal.
      this.#options.metrics?.runsEnded.inc({ agent: this.agentName, status: 'failed' });
      this.#log.info(
        { status: 'failed', error_code: RunErrorCode.NodeLost, duration_ms: this.#durationMs() },
        'run ended',
      );
      return 'failed';
    }
    this.#options.metrics?.runsEnded.inc({ agent: this.agentName, status: terminal.status });
    this.#log.info(
      { status: terminal.status, error_code: terminal.errorCode, duration_ms: this.#durationMs() },
      'run ended',
    );
    return terminal.status;
  }

  #durationMs(): number {
    return Math.max(0, this.#options.now() - this.#acceptedAt);
  }

  async #pump(): Promise<Terminal> {
    const { agent, input, runId, userId, turn, now, timeoutMs } = this.#options;
    if (turn !== undefined) {
      const stopped = await Promise.race([turn.then(() => undefined), this.#stopped]);
      if (stopped !== undefined) return this.#byRuntime(stopped);
      this.#deadline = now() + timeoutMs;
      this.#armTimeout();
    }
    try {
      await this.#append({
        type: EventType.AgentStarted,
        run_id: runId,
        data: {
          agent_name: agent.name,
          task_description: clip(input.text, TASK_DESCRIPTION_MAX),
          message_id: input.messageId,
          ...(input.threadId === undefined ? {} : { thread_id: input.threadId }),
        },
      });
    } catch (error) {
      return this.#appendFailure(error);
    }
    if (this.#stop !== undefined) return this.#byRuntime(this.#stop);
    let stream: AgentEventStream;
    try {
      stream = agent.run(input, this.#context(userId, runId));
    } catch (error) {
      return this.#agentError(error);
    }
    return this.#consume(stream);
  }

  async #consume(stream: AgentEventStream): Promise<Terminal> {
    for (;;) {
      const step = this.#stop !== undefined ? stopStep(this.#stop) : await this.#next(stream);
      if (step.kind === 'stop') {
        release(stream, this.#log);
        return this.#byRuntime(step.end);
      }
      if (step.kind === 'throw') return this.#agentError(step.error);
      if (step.result.done === true) return this.#byRuntime(this.#returned(step.result.value));
      const admission = admitAgentEvent(step.result.value, this.runId);
      if (admission.kind === 'drop') {
        this.#log.debug({ reason: admission.reason }, 'agent event dropped');
        continue;
      }
      if (admission.kind === 'invalid') {
        release(stream, this.#log);
        this.#log.warn({ reason: admission.message }, 'agent yielded an invalid event');
        return this.#byRuntime(failedEnd('failed', RunErrorCode.InvalidEvent, admission.message));
      }
      if (admission.kind === 'end') {
        release(stream, this.#log);
        return { event: admission.event, status: admission.status, errorCode: admission.errorCode };
      }
      try {
        await this.#append(admission.event);
      } catch (error) {
        release(stream, this.#log);
        return this.#appendFailure(error);
      }
      if (admission.event.type === EventType.StreamChunk) this.#remember(admission.event);
    }
  }

  /** §3: a hung agent must not hold up its terminal event, so its next() races the stop. */
  #next(stream: AgentEventStream): Promise<Step> {
    return Promise.race([
      stream.next().then(
        (result): Step => ({ kind: 'next', result }),
        (error: unknown): Step => ({ kind: 'throw', error }),
      ),
      this.#stopped.then(stopStep),
    ]);
  }

  #context(userId: string, runId: string): AgentContext {
    const { executionId, now } = this.#options;
    const signal = this.#controller.signal;
    return {
      signal,
      userId,
      runId,
      traceparent: this.traceparent,
      tool: (name, args, fn) => runTool(name, args, fn, { signal, executionId, now, log: this.#log }),
      approval: (request) => this.#askApproval(request),
    };
  }

  /**
   * §3: every run ends with exactly one agent_completed, whatever happens: while the engine is
   * unavailable (e.g. Redis restarting) the terminal event is retried, waking on the engine's
   * recovery, for up to TERMINAL_RETRY_MS or until the runtime gives up (shutdown).
   */
  async #appendTerminal(event: NewEvent): Promise<void> {
    const { engine, now } = this.#options;
    const deadline = now() + TERMINAL_RETRY_MS;
    for (;;) {
      try {
        await this.#append(event, true);
        this.#terminalStored = true;
        return;
      } catch (error) {
        if (!isEngineUnavailable(error) || this.#gaveUp || now() >= deadline) throw error;
        this.#log.warn('engine unavailable; retrying the terminal event');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(finish, Math.min(TERMINAL_RETRY_STEP_MS, Math.max(0, deadline - now())));
          const stopListening = engine.onHealthChange((health) => health.ok && finish());
          this.#wake = finish;
          function finish(): void {
            clearTimeout(timer);
            stopListening();
            resolve();
          }
        });
      }
    }
  }

  /** The run's W3C trace context, a new trace per run (docs/protocol.md D, "Trace context"). */
  readonly traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

  readonly #meta = { traceparent: this.traceparent };

  /** Stops waiting for the engine to store the terminal event (the gateway is shutting down). */
  giveUp(): void {
    this.#gaveUp = true;
    this.#wake();
  }

  /** Stores one event of the run, fenced: only while the run is this node's (`ends`: its terminal). */
  async #append(event: NewEvent, ends = false): Promise<void> {
    const fence = { node: this.#options.node, ends, epoch: this.#epoch };
    // docs/protocol.md D, "Trace context": every event of the run carries the run's trace.
    const traced = { ...event, meta: this.#meta };
    const stored = await this.#options.engine.append(this.userId, traced, fence);
    this.#epoch ??= stored.epoch;
    this.#options.metrics?.eventsPublished.inc({ source: 'agent' });
  }

  /** A refused append ends the run here: a fenced one without a terminal, anything else UNAVAILABLE. */
  #appendFailure(error: unknown): Terminal {
    if (!isRunFenced(error)) return this.#engineFailure(error);
    this.#onFenced(error);
    return this.#byRuntime(
      failedEnd('failed', RunErrorCode.NodeLost, RunErrorMessage[RunErrorCode.NodeLost]),
    );
  }

  /** The run is not this node's any more: abort the agent, store nothing more of it. */
  #onFenced(error: AgentcastError): void {
    this.#fenced = true;
    this.#controller.abort(new DOMException(RunErrorMessage[RunErrorCode.NodeLost], 'AbortError'));
    this.#log.warn(
      { err_message: clip(error.message, LOGGED_TEXT_MAX) },
      'run fenced: another node ended it',
    );
  }

  #remember(event: NewEvent): void {
    this.#streamed = appendFinalText(this.#streamed, String(event.data.text));
  }

  /** An agent that returns without `agent_completed` succeeded; its string return value is the answer. */
  #returned(value: unknown): RunEnd {
    if (typeof value === 'string') return { status: 'succeeded', finalResponse: value };
    return { status: 'succeeded', finalResponse: this.#streamed === '' ? null : this.#streamed };
  }

  /**
   * An AgentRunError's message was written for users and is shown; anything else the agent threw may
   * carry hosts, ports or secrets, so the user reads only the generic AGENT_ERROR message and the
   * error goes to the log (message, stack, innermost cause), bound to the run.
   */
  #agentError(error: unknown): Terminal {
    const fields = {
      err_message: clip(errorMessage(error), LOGGED_TEXT_MAX),
      ...(error instanceof Error && error.cause !== undefined
        ? { err_cause: clip(innermostMessage(error.cause), LOGGED_TEXT_MAX) }
        : {}),
    };
    if (error instanceof AgentRunError) {
      this.#log.warn({ error_code: error.code, ...fields }, 'agent failed');
      return this.#byRuntime(failedEnd('failed', error.code, error.message));
    }
    const stack = error instanceof Error && error.stack !== undefined ? error.stack : undefined;
    this.#log.warn(
      {
        error_code: RunErrorCode.AgentError,
        ...fields,
        ...(stack === undefined ? {} : { err_stack: clip(stack, 4 * LOGGED_TEXT_MAX) }),
      },
      'agent failed',
    );
    const message = RunErrorMessage[RunErrorCode.AgentError];
    return this.#byRuntime(failedEnd('failed', RunErrorCode.AgentError, message));
  }

  /** The engine's error (a Redis error, its address) is for the log; the user reads a fixed message. */
  #engineFailure(error: unknown): Terminal {
    this.#log.warn(
      { err_code: errorCode(error), err_message: clip(errorMessage(error), LOGGED_TEXT_MAX) },
      'engine failed during run',
    );
    const message = RunErrorMessage[RunErrorCode.Unavailable];
    return this.#byRuntime(failedEnd('failed', RunErrorCode.Unavailable, message));
  }

  #byRuntime(end: RunEnd): Terminal {
    const partial = end.finalResponse ?? (this.#streamed === '' ? null : this.#streamed);
    return {
      event: runEndEvent(this.runId, { ...end, finalResponse: partial }),
      status: end.status,
      errorCode: end.status === 'succeeded' ? undefined : end.error.code,
    };
  }
}

function stopStep(end: RunEnd): Step {
  return { kind: 'stop', end };
}

/**
 * Lets the agent's `finally` blocks run (close sockets, readers). Not awaited: a hung agent never
 * answers, and the run's end must not wait for it.
 */
function release(stream: AgentEventStream, log: Logger): void {
  stream.return(undefined).catch((error: unknown) => {
    // Expected when the agent throws from a finally block after its run ended; nothing to publish.
    log.debug({ err_message: clip(errorMessage(error), LOGGED_TEXT_MAX) }, 'agent cleanup failed');
  });
}

function errorCode(error: unknown): string {
  if (error instanceof AgentcastError) return error.code;
  return AgentcastErrorCode.EngineUnavailable;
}
