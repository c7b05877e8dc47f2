import type { ApprovalOutcome, Engine, Unsubscribe } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import {
  type ApprovalAnswer,
  type ApprovalDecision,
  EventType,
  type JsonObject,
  type NewEvent,
} from '../protocol/events.js';

/** What an agent asks its user (`ctx.approval()`, docs/agents.md; docs/protocol.md G). */
export interface ApprovalRequest {
  readonly tool_name: string;
  readonly tool_args: JsonObject;
  /** The question, as the user reads it. */
  readonly message: string;
  /** How long the user has to answer; `--approval-timeout-ms` when left out. */
  readonly timeout_ms?: number;
}

/** How an approval was settled: once, by the first answer (a person's, the timeout's, or the run's end). */
export interface ApprovalResult {
  readonly decision: ApprovalDecision;
  readonly reason?: string;
  /** The question's id (`approval_requested.approval_id`); absent when the run had ended before it was asked. */
  readonly approval_id?: string;
}

/** What a {@link RunApproval} needs of its run. */
export interface RunApprovalOptions {
  readonly engine: Pick<Engine, 'subscribe' | 'resolveApproval'>;
  readonly userId: string;
  readonly runId: string;
  readonly approvalId: string;
  readonly request: ApprovalRequest;
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly log: Logger;
  /** Stores the run's `approval_requested` (fenced, as every event of the run). */
  readonly append: (event: NewEvent) => Promise<void>;
}

/**
 * One question of a run to its user (docs/protocol.md G), from its `approval_requested` to the one
 * `approval_resolved` the engine stores for it. The run learns the answer from the user's stream (every
 * node receives it), so an answer given on any node reaches it; when the approval expires the run answers
 * `expired` itself, and when the run ends first it answers `cancelled`, each through the engine, where the
 * first answer wins. So the agent gets exactly the decision that was stored, once.
 */
export class RunApproval {
  readonly approvalId: string;
  /** Resolves once with the decision the engine stored. */
  readonly settled: Promise<ApprovalResult>;
  readonly #options: RunApprovalOptions;
  #settle: (result: ApprovalResult) => void = () => undefined;
  #done = false;
  #unsubscribe: Unsubscribe | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RunApprovalOptions) {
    this.#options = options;
    this.approvalId = options.approvalId;
    this.settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  /** Subscribes to the user's stream, then stores the question and arms its expiry. */
  async ask(): Promise<void> {
    const { engine, userId, request, timeoutMs, now } = this.#options;
    this.#unsubscribe = await engine.subscribe(userId, (event) => {
      if (event.type === EventType.ApprovalResolved && event.data.approval_id === this.approvalId) {
        this.#finish({
          decision: event.data.decision as ApprovalDecision,
          ...(typeof event.data.reason === 'string' ? { reason: event.data.reason } : {}),
        });
      }
    });
    const expiresAt = new Date(now() + timeoutMs).toISOString();
    await this.#options.append({
      type: EventType.ApprovalRequested,
      run_id: this.#options.runId,
      data: {
        approval_id: this.approvalId,
        tool_name: request.tool_name,
        tool_args: request.tool_args,
        message: request.message,
        expires_at: expiresAt,
      },
    });
    if (this.#done) return;
    this.#timer = setTimeout(() => void this.answer({ decision: 'expired', by: 'timeout' }), timeoutMs);
    this.#timer.unref();
  }

  /**
   * Answers for the run (`expired`, `cancelled`): stores the answer unless another won first, and settles
   * with whatever was stored. An answer the engine cannot take is logged; the stream may still bring one.
   */
  async answer(answer: ApprovalAnswer): Promise<void> {
    if (this.#done) return;
    let outcome: ApprovalOutcome;
    try {
      outcome = await this.#options.engine.resolveApproval(this.#options.userId, this.approvalId, answer);
    } catch (error) {
      this.#options.log.warn({ err: error, approval_id: this.approvalId }, 'approval answer not stored');
      return;
    }
    if (outcome.kind === 'resolved') this.#finish({ decision: answer.decision });
    else if (outcome.kind !== 'unknown') this.#finish({ decision: outcome.decision });
  }

  /** Stops listening; the approval stays as the engine holds it. */
  close(): void {
    clearTimeout(this.#timer);
    void this.#unsubscribe?.();
  }

  #finish(result: ApprovalResult): void {
    if (this.#done) return;
    this.#done = true;
    this.close();
    this.#settle({ ...result, approval_id: this.approvalId });
  }
}
