import type {
  ApprovalOutcome,
  BusyPolicy,
  CancelDelivery,
  CancelReason,
  Engine,
  PendingApproval,
  RunRef,
  ThreadTurn,
  Unsubscribe,
} from '../engine/engine.js';
import { ENGINE_DEFAULTS } from '../engine/engine-defaults.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { isEngineUnavailable } from '../protocol/agentcast-error.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { type ApprovalDecision, EventType } from '../protocol/events.js';
import { AgentRun } from './agent-run.js';
import { type AgentDefinition, agentInvalid, type RunInputContext } from './define-agent.js';
import { type IdPrefix, randomId } from './random-id.js';
import { errorMessage, failedEnd, type RunEnd } from './run-end.js';
import { RunErrorCode } from './run-error-code.js';
import { RunReaper } from './run-reaper.js';

/** Runs reaped per round of the reaper, at most (the rest wait for the next round). */
const REAP_BATCH = 100;

/** How many ended runs are remembered for idempotent cancels. */
const ENDED_RUNS_REMEMBERED = 10_000;
/**
 * `UNAVAILABLE` when the engine is down. The engine's own reason (a Redis error, often with its address)
 * is not for users: the engine logs it when it goes down.
 */
const ENGINE_UNAVAILABLE = 'engine unavailable; retry later';

/** Options of {@link AgentRuntime}; defaults follow the flags in docs/agents.md. */
export interface AgentRuntimeOptions {
  readonly engine: Engine;
  /** The agents users may pick by `user_message.data.agent`. Names must be unique. */
  readonly agents: readonly AgentDefinition[];
  /** The agent of messages that name none (`--default-agent`, default `demo`). Must be in `agents`. */
  readonly defaultAgent?: string;
  /** `--run-timeout-ms`: a run still going after this ends `timed_out`. Default 120000. */
  readonly runTimeoutMs?: number;
  /** How long a run's question waits for its user (docs/protocol.md G; `--approval-timeout-ms`, default 10 min). */
  readonly approvalTimeoutMs?: number;
  /**
   * `--max-runs-per-user`: concurrent runs per user, counted on this node and, through the engine's run
   * registry, across every node sharing the engine. Default 3.
   */
  readonly maxRunsPerUser?: number;
  /**
   * `--busy-policy`: what a message does when its thread already has a run (docs/protocol.md E), unless
   * it says (`data.on_busy`). Default `reject`.
   */
  readonly busyPolicy?: BusyPolicy;
  /** `--max-queued-runs-per-thread`: runs that may wait for their thread's turn. Default 2. */
  readonly maxQueuedRunsPerThread?: number;
  /** This node's name in the run registry (`--server-id`). Default `local`. */
  readonly node?: string;
  /**
   * `--run-lease-s` in ms: how long a run counts in the registry without a renewal. The runtime renews
   * its runs every third of it. Default 10000.
   */
  readonly runLeaseMs?: number;
  /** How long a `user_message.id` is remembered (docs/protocol.md §6: 10 minutes). Default 600000. */
  readonly idempotencyTtlMs?: number;
  readonly log: Logger;
  readonly metrics?: Metrics | undefined;
  /** The clock, in milliseconds (tool `duration_ms`). Default `Date.now`. */
  readonly now?: () => number;
  /** Makes run (`r`) and execution (`x`) ids. Default: 96 random bits, base64url. */
  readonly newId?: (prefix: IdPrefix) => string;
}

/** What the gateway needs to start a run from a `user_message` frame (docs/protocol.md §6). */
export interface StartRequest {
  /** `user_message.id`, the idempotency key. */
  readonly messageId: string;
  readonly text: string;
  readonly threadId?: string | undefined;
  /** `user_message.data.agent`; the default agent when absent. */
  readonly agent?: string | undefined;
  /** The conversation an edge received with the message (AG-UI, AI SDK), handed to the agent as is. */
  readonly context?: RunInputContext | undefined;
  /** `user_message.data.on_busy`: this message's busy policy; `--busy-policy` when absent. */
  readonly onBusy?: BusyPolicy | undefined;
}

/** The answer to `start()`: an `ack` (`run_id`, `duplicate`) or an `error` frame (docs/protocol.md §6). */
export type StartResult =
  | { readonly ok: true; readonly runId: string; readonly duplicate: boolean }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly message: string;
      /** With BUSY: the thread's run (its active run, else the first of its queue). */
      readonly runId?: string;
    };

/**
 * The answer to `cancel()`: accepted (`ended` when the run had already ended, so nothing is left to
 * cancel), `NOT_FOUND`, or `UNAVAILABLE` when the run is not this node's and the engine cannot be asked.
 */
export type CancelResult =
  | { readonly ok: true; readonly ended?: true }
  | {
      readonly ok: false;
      readonly code: typeof ErrorCode.NotFound | typeof ErrorCode.Unavailable;
      readonly message: string;
    };

/** A person's answer to an approval (docs/protocol.md G), from a frame or `POST /v1/approvals/:id`. */
export interface ApprovalReply {
  readonly decision: 'approved' | 'denied';
  readonly reason?: string | undefined;
  /** The answer's idempotency key: a repeat is acked `duplicate`. */
  readonly key?: string | undefined;
}

/** The answer to {@link AgentRuntime.answerApproval}. */
export type ApprovalReplyResult =
  | { readonly ok: true; readonly decision: ApprovalDecision; readonly duplicate: boolean }
  | {
      readonly ok: false;
      readonly code: typeof ErrorCode.NotFound | typeof ErrorCode.Conflict | typeof ErrorCode.Unavailable;
      readonly message: string;
      /** With CONFLICT: the decision that won. */
      readonly decision?: ApprovalDecision;
    };

/**
 * Starts, tracks and ends agent runs on this node (docs/protocol.md §3, §6, §9): one `agent_started`, then
 * the agent's events, then exactly one `agent_completed`, all through `engine.append`.
 * `open → draining → closed`: once draining, `start()` answers `UNAVAILABLE`.
 *
 * Every run is registered in the engine's run registry (docs/agents.md, "Runs across nodes") before it is
 * acked: that is where `maxRunsPerUser` is counted across nodes and where any node lists the user's runs.
 * One timer per runtime renews the leases of this node's registered runs; a run's registration ends
 * after its terminal event (retried on that timer while the engine is unreachable).
 */
export class AgentRuntime {
  readonly #engine: Engine;
  readonly #agents: ReadonlyMap<string, AgentDefinition>;
  readonly #defaultAgent: string;
  readonly #runTimeoutMs: number;
  readonly #approvalTimeoutMs: number;
  readonly #maxRunsPerUser: number;
  readonly #busyPolicy: BusyPolicy;
  readonly #maxQueuedRunsPerThread: number;
  readonly #idempotencyTtlMs: number;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #now: () => number;
  readonly #newId: (prefix: IdPrefix) => string;
  /** Runs not yet done, by run id. */
  readonly #runs = new Map<string, AgentRun>();
  /** Recently ended runs: run id -> user id. */
  readonly #ended = new Map<string, string>();
  /** Runs not yet done, by idempotency key: a retry at the run limit is still a duplicate, not RATE_LIMITED. */
  readonly #runByKey = new Map<string, string>();
  /** Runs and starts in progress per user: what max_runs_per_user counts. */
  readonly #perUser = new Map<string, number>();
  /** Starts awaiting their idempotency claim, so a concurrent duplicate on this node waits for the first. */
  readonly #starting = new Map<string, Promise<StartResult>>();
  readonly #node: string;
  readonly #runLeaseMs: number;
  /**
   * Runs this node registered in the engine and has not yet unregistered, by run id: renewed while
   * `running`; once over, `ending` while its endRun is under way, `unended` when that failed (retried on
   * the renew timer).
   */
  readonly #registered = new Map<
    string,
    { readonly ref: RunRef; state: 'running' | 'ending' | 'unended'; retrying?: boolean }
  >();
  /** endRun calls in flight, so a drain can wait for them. */
  readonly #ending = new Set<Promise<void>>();
  /** Renews leases and retries unregistrations; runs only while `#registered` is not empty. */
  #leaseTimer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  /** Runs cancelled after their registration but before their launch, with how: stopped as they launch. */
  readonly #cancelAtLaunch = new Map<string, RunEnd>();
  /** This node's queued runs waiting for their thread's turn (docs/protocol.md E), by run id. */
  readonly #queued = new Map<string, QueuedRun>();
  /** Listening for cancel requests other nodes send this node (Engine.onCancelRequest). */
  readonly #cancelListener: Promise<Unsubscribe | undefined>;
  /** Ends other nodes' runs whose lease lapsed (NODE_LOST); one per runtime, stopped once drained. */
  readonly #reaper: RunReaper;

  constructor(options: AgentRuntimeOptions) {
    this.#engine = options.engine;
    this.#agents = agentMap(options.agents);
    this.#defaultAgent = options.defaultAgent ?? 'demo';
    if (!this.#agents.has(this.#defaultAgent)) {
      throw agentInvalid(
        `AgentRuntime: defaultAgent "${this.#defaultAgent}" is not one of the agents (${[...this.#agents.keys()].join(', ')})`,
      );
    }
    this.#runTimeoutMs = positiveInt('runTimeoutMs', options.runTimeoutMs, 120_000);
    this.#approvalTimeoutMs = positiveInt('approvalTimeoutMs', options.approvalTimeoutMs, 600_000);
    this.#maxRunsPerUser = positiveInt('maxRunsPerUser', options.maxRunsPerUser, 3);
    this.#busyPolicy = options.busyPolicy ?? 'reject';
    this.#maxQueuedRunsPerThread = positiveInt(
      'maxQueuedRunsPerThread',
      options.maxQueuedRunsPerThread,
      DEFAULT_MAX_QUEUED_RUNS_PER_THREAD,
    );
    this.#idempotencyTtlMs = positiveInt('idempotencyTtlMs', options.idempotencyTtlMs, 600_000);
    this.#runLeaseMs = positiveInt('runLeaseMs', options.runLeaseMs, ENGINE_DEFAULTS.runLeaseMs);
    this.#node = options.node ?? 'local';
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? randomId;
    // A cancel sent on any node for a run of this node arrives here (docs/agents.md, "Runs across nodes").
    this.#cancelListener = this.#engine
      .onCancelRequest(this.#node, (userId, runId, reason) => {
        this.#cancelHere(userId, runId, reason);
      })
      .catch((error: unknown) => {
        // Only an engine already closed refuses; then no other node can reach this one anyway.
        this.#log.warn({ err_message: errorMessage(error) }, 'not listening for cancels from other nodes');
        return undefined;
      });
    this.#reaper = new RunReaper({
      engine: this.#engine,
      intervalMs: Math.max(1, Math.floor(this.#runLeaseMs / 3)),
      batch: REAP_BATCH,
      log: this.#log,
      metrics: this.#metrics,
    });
    this.#reaper.start();
  }

  /** One round of the run reaper now (tests; the runtime runs one every third of the lease). */
  reapLapsedRuns(): Promise<number> {
    return this.#reaper.reap();
  }

  /**
   * Starts a run for `userId`, or returns the run an earlier `user_message` with the same id started
   * (within `idempotencyTtlMs`, on any node sharing the engine) with `duplicate: true`. Never throws.
   * Errors: `NOT_FOUND` unknown agent, `RATE_LIMITED` max_runs_per_user reached (or the thread's queue
   * full), `BUSY` the thread has a run and the policy is `reject`, `UNAVAILABLE` engine down or draining.
   * The run's events are appended after this resolves (ack first, §6). With a `threadId` whose thread has a
   * run, `enqueue` and `interrupt` ack a queued run that starts when its turn comes (docs/protocol.md E).
   */
  start(userId: string, request: StartRequest): Promise<StartResult> {
    const key = idempotencyKey(userId, request.messageId);
    const inFlight = this.#starting.get(key);
    if (inFlight !== undefined) return inFlight.then(asDuplicate);
    const started = this.#start(userId, key, request).finally(() => this.#starting.delete(key));
    this.#starting.set(key, started);
    return started;
  }

  /**
   * Asks a run to end with `cancelled` / `CANCELLED` (docs/protocol.md §6), wherever it runs
   * (docs/agents.md, "Runs across nodes"). A run of this node is stopped here, before this returns
   * (nothing is awaited on that path). Any other run is looked up in the engine's run registry, which
   * sends the request to its owner node in the same step: `ok` then means the request was accepted for
   * delivery to the owner, whose run ends with its one `agent_completed` (`cancelled`, unless it ended
   * otherwise first; `failed` / `NODE_LOST` when the owner is dead and a reaper ends it). A run of the
   * user that already ended is `ok` with `ended` (a resent cancel). Another user's run and an unknown
   * run are `NOT_FOUND`; `UNAVAILABLE` when the registry cannot be asked. Never throws.
   */
  /**
   * A person answers an approval of one of their runs (docs/protocol.md G), on any node: the engine keeps
   * the first answer, stores its one `approval_resolved`, and the run's node learns it from the stream.
   */
  async answerApproval(
    userId: string,
    approvalId: string,
    reply: ApprovalReply,
  ): Promise<ApprovalReplyResult> {
    let outcome: ApprovalOutcome;
    try {
      outcome = await this.#engine.resolveApproval(userId, approvalId, { ...reply, by: 'user' });
    } catch (error) {
      if (!isEngineUnavailable(error)) throw error;
      return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    }
    switch (outcome.kind) {
      case 'resolved':
        return { ok: true, decision: reply.decision, duplicate: false };
      case 'duplicate':
        return { ok: true, decision: outcome.decision, duplicate: true };
      case 'conflict':
        return {
          ok: false,
          code: ErrorCode.Conflict,
          message: `approval ${approvalId} was already resolved: ${outcome.decision}`,
          decision: outcome.decision,
        };
      default:
        return { ok: false, code: ErrorCode.NotFound, message: `no approval ${approvalId}` };
    }
  }

  /** The user's approvals still waiting for an answer (`GET /v1/approvals`), oldest first. */
  pendingApprovals(userId: string): Promise<PendingApproval[]> {
    return this.#engine.pendingApprovals(userId);
  }

  async cancel(userId: string, runId: string): Promise<CancelResult> {
    const local = this.#cancelHere(userId, runId);
    if (local !== undefined) return local;
    if (!this.#engine.health().ok) {
      return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    }
    let delivery: CancelDelivery;
    try {
      delivery = await this.#engine.requestCancel(userId, runId);
    } catch (error) {
      this.#log.warn(
        { run_id: runId, user_id: userId, err_message: errorMessage(error) },
        'run cancel could not be sent',
      );
      return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    }
    switch (delivery.state) {
      case 'active':
      case 'lapsed':
        this.#log.info(
          { run_id: runId, user_id: userId, owner: delivery.node, owner_lease: delivery.state },
          'run cancel sent to its node',
        );
        return { ok: true };
      case 'ended':
        return { ok: true, ended: true };
      case 'unknown':
        return notFound(runId);
    }
  }

  /**
   * The part of a cancel this node answers alone: its own run (stopped now), a run it started but has not
   * launched yet (stopped at launch), one it remembers ended; `undefined` when the run is not this node's.
   * Also what a request from another node runs (the answer then goes nowhere).
   */
  #cancelHere(userId: string, runId: string, reason: CancelReason = 'cancel'): CancelResult | undefined {
    const end =
      reason === 'interrupted'
        ? failedEnd('cancelled', RunErrorCode.Interrupted, INTERRUPTED_MESSAGE)
        : failedEnd('cancelled', RunErrorCode.Cancelled, 'cancelled by the user');
    const run = this.#runs.get(runId);
    if (run !== undefined) {
      // §6: a user may not cancel another user's run, and must not learn that it exists.
      if (run.userId !== userId) return notFound(runId);
      if (run.stop(end)) {
        this.#log.info({ run_id: runId, user_id: userId, reason }, 'run cancel requested');
      }
      return { ok: true };
    }
    const registered = this.#registered.get(runId);
    if (registered?.state === 'running') {
      if (registered.ref.userId !== userId) return notFound(runId);
      // Registered (so listed, and cancellable from any node) but its start has not launched it yet.
      if (!this.#cancelAtLaunch.has(runId)) this.#cancelAtLaunch.set(runId, end);
      return { ok: true };
    }
    // A resent cancel (the client SDK resends unacked frames after a reconnect) for a run of this user
    // that has ended meanwhile is acked: the run is over, which is what the cancel asked for.
    if (this.#ended.get(runId) === userId) return { ok: true, ended: true };
    return undefined;
  }

  /**
   * Stops accepting runs, lets running ones finish for up to `timeoutMs`, then ends the rest with
   * `cancelled` / `SHUTDOWN` (docs/protocol.md §9). Resolves when every run's terminal event was appended.
   * Calling it again returns the first drain.
   */
  drain(timeoutMs: number): Promise<void> {
    this.#draining ??= this.#drain(timeoutMs);
    return this.#draining;
  }

  /** Runs on this node that have not yet stored their terminal event. */
  activeRuns(): number {
    return this.#runs.size;
  }

  /** Ends every run now with `cancelled` / `SHUTDOWN` and waits for their terminal events. Idempotent. */
  close(): Promise<void> {
    return this.drain(0);
  }

  async #start(userId: string, key: string, request: StartRequest): Promise<StartResult> {
    const running = this.#runByKey.get(key);
    if (running !== undefined) return { ok: true, runId: running, duplicate: true };
    if (this.#draining !== undefined) {
      return {
        ok: false,
        code: ErrorCode.Unavailable,
        message: 'the gateway is shutting down; retry on another node',
      };
    }
    const agentName = request.agent ?? this.#defaultAgent;
    const agent = this.#agents.get(agentName);
    if (agent === undefined) {
      return { ok: false, code: ErrorCode.NotFound, message: `no agent named "${agentName}"` };
    }
    const active = this.#perUser.get(userId) ?? 0;
    if (active >= this.#maxRunsPerUser) return this.#rateLimited();
    const health = this.#engine.health();
    if (!health.ok) return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    // Reserve the slot before the await, so concurrent starts cannot overshoot max_runs_per_user.
    this.#perUser.set(userId, active + 1);
    const runId = this.#newId('r');
    // Then across nodes, before the idempotency claim: a claimed key must always name a run that runs.
    // With a thread, the same step decides its turn (docs/protocol.md E).
    const thread: ThreadTurn | undefined =
      request.threadId === undefined
        ? undefined
        : {
            threadId: request.threadId,
            policy: request.onBusy ?? this.#busyPolicy,
            maxQueued: this.#maxQueuedRunsPerThread,
          };
    let reservation: Awaited<ReturnType<Engine['startRun']>>;
    try {
      reservation = await this.#engine.startRun(userId, {
        runId,
        agent: agent.name,
        node: this.#node,
        limit: this.#maxRunsPerUser,
        leaseMs: this.#runLeaseMs,
        key,
        thread,
      });
    } catch (error) {
      this.#release(userId);
      this.#log.warn({ user_id: userId, err_message: errorMessage(error) }, 'run registration failed');
      return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    }
    if (!reservation.ok) {
      this.#release(userId);
      // At the limit, a retry of a message whose run is active (on any node) is still a duplicate.
      if (reservation.reason === 'duplicate') return { ok: true, runId: reservation.runId, duplicate: true };
      if (reservation.reason === 'busy') {
        return {
          ok: false,
          code: ErrorCode.Busy,
          message: `thread ${request.threadId ?? ''} is busy with run ${reservation.runId}`,
          runId: reservation.runId,
        };
      }
      if (reservation.reason === 'queue_full') {
        return {
          ok: false,
          code: ErrorCode.RateLimited,
          message: `at most ${this.#maxQueuedRunsPerThread} runs may wait in a thread; wait for its run to end`,
        };
      }
      return this.#rateLimited();
    }
    this.#register(userId, runId);
    let claim: Awaited<ReturnType<Engine['claimIdempotency']>>;
    try {
      claim = await this.#engine.claimIdempotency(key, runId, this.#idempotencyTtlMs);
    } catch (error) {
      this.#release(userId);
      this.#unregister(runId);
      this.#log.warn({ user_id: userId, err_message: errorMessage(error) }, 'idempotency claim failed');
      return { ok: false, code: ErrorCode.Unavailable, message: ENGINE_UNAVAILABLE };
    }
    if (!claim.claimed) {
      this.#release(userId);
      this.#unregister(runId);
      return { ok: true, runId: claim.value, duplicate: true };
    }
    if (this.#draining !== undefined) {
      this.#release(userId);
      this.#unregister(runId);
      return {
        ok: false,
        code: ErrorCode.Unavailable,
        message: 'the gateway is shutting down; retry on another node',
      };
    }
    this.#launch(userId, key, runId, agent, request, reservation.queued === true);
    return { ok: true, runId, duplicate: false };
  }

  #launch(
    userId: string,
    key: string,
    runId: string,
    agent: AgentDefinition,
    request: StartRequest,
    queued: boolean,
  ): void {
    const waiting = queued ? this.#enqueue(userId, runId) : undefined;
    const run = new AgentRun({
      turn: waiting?.turn,
      engine: this.#engine,
      agent,
      userId,
      runId,
      input: {
        text: request.text,
        messageId: request.messageId,
        threadId: request.threadId,
        ...(request.context === undefined ? {} : { context: request.context }),
      },
      timeoutMs: this.#runTimeoutMs,
      log: this.#log.child({ user_id: userId }),
      metrics: this.#metrics,
      now: this.#now,
      executionId: () => this.#newId('x'),
      node: this.#node,
      approvalTimeoutMs: this.#approvalTimeoutMs,
      approvalId: () => this.#newId('a'),
    });
    this.#runs.set(runId, run);
    this.#runByKey.set(key, runId);
    const cancelled = this.#cancelAtLaunch.get(runId);
    if (cancelled !== undefined) {
      this.#cancelAtLaunch.delete(runId);
      run.stop(cancelled);
      this.#log.info({ run_id: runId, user_id: userId }, 'run cancel requested');
    }
    if (waiting !== undefined) {
      waiting.run = run;
      this.#log.info({ run_id: runId, user_id: userId }, 'run queued behind its thread');
      void this.#watchTurn(waiting);
    }
    this.#metrics?.runsStarted.inc({ agent: agent.name });
    this.#metrics?.runsActive.inc();
    this.#log.info({ run_id: runId, user_id: userId, agent: agent.name }, 'run started');
    void run.done.then(() => {
      if (waiting !== undefined) this.#dequeue(waiting);
      this.#runs.delete(runId);
      this.#rememberEnded(runId, userId);
      this.#runByKey.delete(key);
      this.#release(userId);
      // Its stored terminal ended the registration (or another node did): nothing to end. A terminal that
      // could not be stored leaves the registration to lapse, so a reaper ends the run NODE_LOST once
      // the engine is back. Otherwise (no terminal was due) it is ended here.
      if (run.registrationEnded || run.terminalLost) this.#forget(runId);
      else this.#unregister(runId);
      this.#metrics?.runsActive.dec();
    });
  }

  /** A queued run's turn: opened by {@link #promote} once the engine says the thread is its. */
  #enqueue(userId: string, runId: string): QueuedRun {
    let open: () => void = () => undefined;
    const turn = new Promise<void>((resolve) => {
      open = resolve;
    });
    const waiting: QueuedRun = { userId, runId, turn, open, busy: false, again: false };
    this.#queued.set(runId, waiting);
    return waiting;
  }

  /**
   * Listens for the user's `agent_completed` events (any node's: the thread's run may be anywhere) and
   * asks for the turn at each, and once now in case the thread's run ended before the subscription.
   * The renew timer asks too, so a missed event cannot stall the queue.
   */
  async #watchTurn(waiting: QueuedRun): Promise<void> {
    try {
      const stop = await this.#engine.subscribe(waiting.userId, (event) => {
        // After the step that stored it: the memory engine tells subscribers before it ends the run.
        if (event.type === EventType.AgentCompleted && event.run_id !== waiting.runId) {
          queueMicrotask(() => this.#promote(waiting));
        }
      });
      if (this.#queued.get(waiting.runId) === waiting) waiting.unsubscribe = stop;
      else void stop();
    } catch (error) {
      // The renew timer keeps asking.
      this.#log.warn({ run_id: waiting.runId, err_message: errorMessage(error) }, 'queued run not listening');
    }
    this.#promote(waiting);
  }

  /** Asks the engine for the queued run's turn; one call at a time per run, repeated if asked meanwhile. */
  #promote(waiting: QueuedRun): void {
    if (this.#queued.get(waiting.runId) !== waiting) return;
    if (waiting.busy) {
      waiting.again = true;
      return;
    }
    waiting.busy = true;
    waiting.again = false;
    this.#engine.promoteRun(waiting.userId, waiting.runId, this.#node).then(
      (promotion) => {
        waiting.busy = false;
        if (promotion === 'started') {
          this.#log.info({ run_id: waiting.runId, user_id: waiting.userId }, 'queued run takes its turn');
          this.#dequeue(waiting);
          waiting.open();
        } else if (promotion === 'gone') {
          // Its lease lapsed (this node was cut off) and another node ends it NODE_LOST.
          this.#dequeue(waiting);
          waiting.run?.lost();
        } else if (waiting.again) this.#promote(waiting);
      },
      () => {
        // The engine is away: the renew timer asks again.
        waiting.busy = false;
      },
    );
  }

  #dequeue(waiting: QueuedRun): void {
    if (this.#queued.get(waiting.runId) !== waiting) return;
    this.#queued.delete(waiting.runId);
    void waiting.unsubscribe?.();
  }

  #rateLimited(): StartResult {
    return {
      ok: false,
      code: ErrorCode.RateLimited,
      message: `at most ${this.#maxRunsPerUser} runs at once per user; wait for one to end or cancel one`,
    };
  }

  /** Tracks a run registered in the engine, whose lease this node now renews. */
  #register(userId: string, runId: string): void {
    this.#registered.set(runId, { ref: { userId, runId }, state: 'running' });
    if (this.#leaseTimer === undefined) {
      this.#leaseTimer = setInterval(() => this.#tick(), Math.max(1, Math.floor(this.#runLeaseMs / 3)));
      // Renewal only matters while runs exist; it must not keep a finished process alive.
      this.#leaseTimer.unref();
    }
  }

  /** Ends a run's registration (it no longer counts against the limit on any node); retried until done. */
  #unregister(runId: string): void {
    this.#cancelAtLaunch.delete(runId);
    const entry = this.#registered.get(runId);
    if (entry === undefined || entry.state === 'ending') return;
    entry.state = 'ending';
    const ending = this.#engine.endRun(entry.ref.userId, runId, this.#node).then(
      () => this.#forget(runId),
      (error: unknown) => {
        // Retried on the next tick; meanwhile its lease, no longer renewed, runs out by itself.
        entry.state = 'unended';
        // Logged once per run, not on every retry while the engine stays unreachable.
        if (entry.retrying === true) return;
        entry.retrying = true;
        this.#log.warn(
          { run_id: runId, user_id: entry.ref.userId, err_message: errorMessage(error) },
          'run registration not ended; retrying',
        );
      },
    );
    this.#ending.add(ending);
    void ending.finally(() => this.#ending.delete(ending));
  }

  #forget(runId: string): void {
    this.#registered.delete(runId);
    if (this.#registered.size === 0 && this.#leaseTimer !== undefined) {
      clearInterval(this.#leaseTimer);
      this.#leaseTimer = undefined;
    }
  }

  /** One renewal round: renews every running run's lease, retries failed unregistrations, asks for turns. */
  #tick(): void {
    for (const waiting of this.#queued.values()) this.#promote(waiting);
    const running: RunRef[] = [];
    for (const [runId, entry] of this.#registered) {
      if (entry.state === 'running') running.push(entry.ref);
      else if (entry.state === 'unended') this.#unregister(runId);
    }
    if (running.length === 0 || !this.#engine.health().ok) return;
    this.#engine.renewRuns(this.#node, running, this.#runLeaseMs).then(
      (lost) => {
        for (const runId of lost) {
          if (this.#registered.get(runId)?.state === 'running') {
            this.#log.warn({ run_id: runId }, 'run lease could not be renewed; the run no longer counts');
            // Another node reaped it (or the registry lost it): its agent stops, nothing more is stored.
            this.#runs.get(runId)?.lost();
          }
        }
      },
      () => {
        // The engine went away: health reports it; leases renew at the next tick after recovery.
      },
    );
  }

  /** Remembers recently ended runs (bounded, oldest forgotten first) so a resent cancel is acked. */
  #rememberEnded(runId: string, userId: string): void {
    this.#ended.set(runId, userId);
    if (this.#ended.size > ENDED_RUNS_REMEMBERED) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
  }

  #release(userId: string): void {
    const left = (this.#perUser.get(userId) ?? 1) - 1;
    if (left <= 0) this.#perUser.delete(userId);
    else this.#perUser.set(userId, left);
  }

  async #drain(timeoutMs: number): Promise<void> {
    // Starts already past their checks finish first, so their runs are drained too.
    await Promise.allSettled([...this.#starting.values()]);
    const all = () => Promise.all([...this.#runs.values()].map((run) => run.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), timeoutMs);
    });
    const outcome = await Promise.race([all(), deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      for (const run of this.#runs.values()) {
        run.stop(
          failedEnd('cancelled', RunErrorCode.Shutdown, 'the gateway shut down before the run finished'),
        );
        run.giveUp();
      }
      await all();
    }
    // The runs' registrations end too (an engine that cannot be told lets their leases run out).
    await Promise.allSettled([...this.#ending]);
    if (this.#leaseTimer !== undefined) clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    // No run of this node is left to cancel. Not awaited: while Redis is unreachable the subscription
    // waits for its return, and a drain must not.
    void this.#cancelListener.then((stop) => stop?.());
    this.#reaper.stop();
  }
}

/** Runs that may wait for their thread's turn unless `--max-queued-runs-per-thread` says. */
const DEFAULT_MAX_QUEUED_RUNS_PER_THREAD = 2;

/** `agent_completed.data.error.message` of a run a newer message of its thread interrupted. */
const INTERRUPTED_MESSAGE = 'interrupted by a newer message in its thread';

/** A run of this node waiting for its thread's turn (docs/protocol.md E). */
interface QueuedRun {
  readonly userId: string;
  readonly runId: string;
  /** Resolves when the run may start. */
  readonly turn: Promise<void>;
  readonly open: () => void;
  run?: AgentRun;
  unsubscribe?: Unsubscribe;
  /** A promoteRun call is in flight; `again`: another was asked for meanwhile. */
  busy: boolean;
  again: boolean;
}

function notFound(runId: string): CancelResult {
  return { ok: false, code: ErrorCode.NotFound, message: `no active run ${runId} for this user` };
}

function asDuplicate(result: StartResult): StartResult {
  return result.ok ? { ok: true, runId: result.runId, duplicate: true } : result;
}

/** The engine key of one user's message id; length-prefixed so no two (user, id) pairs collide. */
function idempotencyKey(userId: string, messageId: string): string {
  return `user_message:${userId.length}:${userId}:${messageId}`;
}

function agentMap(agents: readonly AgentDefinition[]): ReadonlyMap<string, AgentDefinition> {
  const map = new Map<string, AgentDefinition>();
  for (const agent of agents) {
    if (map.has(agent.name)) throw agentInvalid(`AgentRuntime: two agents are named "${agent.name}"`);
    map.set(agent.name, agent);
  }
  return map;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new TypeError(`AgentRuntime: ${name} must be a positive integer, got ${String(value)}`);
  }
  return v;
}
