import { RunFinishedEventSchema } from '@ag-ui/core/schemas';
import { z } from 'zod';
import { EventType, type JsonObject, MAX_DATA_DEPTH, nestsDeeperThan } from '../protocol/events.js';
import { formatIssues } from '../protocol/issues.js';
import { AgUiMapper } from './ag-ui-mapping.js';
import { parseJsonObject, parseWebhookValue } from './parse-webhook-line.js';
import type {
  BodyEnd,
  DecodeOutcome,
  DecoderSettings,
  Frame,
  Question,
  UpstreamCall,
  UpstreamDecoder,
  UpstreamProtocol,
} from './upstream-decoder.js';

/** The longest wait a backend's `expires_at` may ask for: the `--approval-timeout-ms` flag's maximum. */
const APPROVAL_WAIT_MAX_MS = 604_800_000;

/** An `approval_requested` line of a webhook body (docs/agents.md, "Approvals: the continuation"). */
const approvalLine = z.object({
  type: z.literal(EventType.ApprovalRequested),
  data: z.looseObject({
    tool_name: z.string().min(1),
    tool_args: z.record(z.string(), z.unknown()),
    message: z.string(),
    approval_id: z.string().optional(),
    expires_at: z.string().optional(),
  }),
});

/**
 * `--agent-protocol agentcast` (the default; docs/agents.md): POSTs `{run_id, user_id, message}` (plus
 * `approval` on a continuation) and reads agentcast or AG-UI events, one per NDJSON line or SSE event. A
 * body may end right after an `approval_requested` line: the run then waits for its user and continues
 * with one more request.
 */
export function agentcastProtocol(settings: DecoderSettings): UpstreamProtocol {
  return {
    accept: 'application/x-ndjson, application/json',
    body: (call: UpstreamCall): JsonObject => {
      const answer = call.answers?.[0];
      return {
        run_id: call.runId,
        user_id: call.userId,
        message: { id: call.input.messageId, text: call.input.text, thread_id: call.input.threadId ?? null },
        ...(answer === undefined
          ? {}
          : {
              approval: { approval_id: answer.approval_id, decision: answer.decision, reason: answer.reason },
            }),
      };
    },
    decoder: () => new WebhookLineDecoder(settings, 'agentcast'),
  };
}

/** Which protocol's questions a {@link WebhookLineDecoder} pauses on. */
export type LineMode = 'agentcast' | 'ag-ui';

/**
 * Decodes frames that each hold one agentcast event or one AG-UI event (validated by `@ag-ui/core`),
 * as `--agent-protocol agentcast` and `ag-ui` both answer, and the questions each may pause a run on:
 * in `agentcast` mode an `approval_requested` line, which must be the body's last; in `ag-ui` mode a
 * `RUN_FINISHED` whose outcome is `interrupt` (AG-UI's own pause). Each protocol refuses the other's.
 */
export class WebhookLineDecoder implements UpstreamDecoder {
  readonly #mapper: AgUiMapper;
  readonly #settings: DecoderSettings;
  readonly #mode: LineMode;
  #paused: { readonly questions: readonly Question[]; readonly where: string } | undefined;

  constructor(settings: DecoderSettings, mode: LineMode) {
    this.#settings = settings;
    this.#mapper = new AgUiMapper(settings.now, settings);
    this.#mode = mode;
  }

  frame(frame: Frame): DecodeOutcome {
    const { where } = frame;
    if (this.#paused !== undefined) {
      return {
        ok: false,
        message: `${where}: nothing may follow approval_requested (${this.#paused.where}); the run continues in a new request once it is answered`,
      };
    }
    const parsed = parseJsonObject(frame.text, where);
    if (!parsed.ok) return parsed;
    const value = parsed.value as { type?: unknown; outcome?: { type?: unknown } };
    if (this.#mode === 'agentcast' && value.type === EventType.ApprovalRequested)
      return this.#hold(value, where);
    if (value.type === 'RUN_FINISHED' && value.outcome?.type === 'interrupt')
      return this.#interrupt(value, where);
    return parseWebhookValue(parsed.value, where, this.#mapper);
  }

  end(): BodyEnd {
    const paused = this.#paused;
    this.#paused = undefined;
    if (paused !== undefined) return { kind: 'approval', questions: paused.questions };
    return {
      kind: 'incomplete',
      message: 'backend response ended without agent_completed, RUN_FINISHED or RUN_ERROR',
    };
  }

  #hold(value: object, where: string): DecodeOutcome {
    const line = approvalLine.safeParse(value);
    if (!line.success)
      return { ok: false, message: `${where}: approval_requested ${formatIssues(line.error)}` };
    const { tool_name, tool_args, message, expires_at } = line.data.data;
    if (nestsDeeperThan(tool_args, MAX_DATA_DEPTH)) {
      return {
        ok: false,
        message: `${where}: approval_requested data.tool_args: nested deeper than ${MAX_DATA_DEPTH} levels`,
      };
    }
    const timeout = this.#timeout(expires_at, `${where}: approval_requested data.expires_at`);
    if (!timeout.ok) return timeout;
    const request = { tool_name, tool_args: tool_args as JsonObject, message, ...timeout.value };
    this.#paused = { questions: [{ request }], where };
    return { ok: true, events: [] };
  }

  /**
   * AG-UI's pause (docs/agents.md, "AG-UI interrupts"): each interrupt becomes one question, about the
   * tool call it names when the stream opened one. The body is over for the run: nothing after it is read.
   */
  #interrupt(value: object, where: string): DecodeOutcome {
    if (this.#mode !== 'ag-ui') {
      return {
        ok: false,
        message: `${where}: RUN_FINISHED with an interrupt outcome needs --agent-protocol ag-ui (this protocol pauses on approval_requested)`,
      };
    }
    const event = RunFinishedEventSchema.safeParse(value);
    if (!event.success) return { ok: false, message: `${where}: RUN_FINISHED ${formatIssues(event.error)}` };
    const outcome = event.data.outcome as { interrupts: readonly Interrupt[] };
    const questions: Question[] = [];
    for (const interrupt of outcome.interrupts) {
      const timeout = this.#timeout(
        interrupt.expiresAt,
        `${where}: RUN_FINISHED interrupt ${interrupt.id} expiresAt`,
      );
      if (!timeout.ok) return timeout;
      const call =
        interrupt.toolCallId === undefined ? undefined : this.#mapper.openCall(interrupt.toolCallId);
      const request = {
        tool_name: call?.name || interrupt.reason || 'interrupt',
        tool_args: (call?.args ?? {}) as JsonObject,
        message: interrupt.message ?? interrupt.reason,
        ...timeout.value,
      };
      questions.push({ request, ref: interrupt.id });
    }
    this.#paused = { questions, where };
    return { ok: true, events: [], last: true };
  }

  /** A question's `expires_at` as the wait `ctx.approval()` takes: at least 1 ms, at most 7 days. */
  #timeout(
    expiresAt: string | undefined,
    field: string,
  ):
    | { readonly ok: true; readonly value: { timeout_ms?: number } }
    | { readonly ok: false; readonly message: string } {
    if (expiresAt === undefined) return { ok: true, value: {} };
    const at = Date.parse(expiresAt);
    if (Number.isNaN(at)) return { ok: false, message: `${field}: not an ISO 8601 time` };
    return {
      ok: true,
      value: { timeout_ms: Math.min(APPROVAL_WAIT_MAX_MS, Math.max(1, at - this.#settings.now())) },
    };
  }
}

/** An AG-UI interrupt (`RUN_FINISHED.outcome.interrupts[]`, `@ag-ui/core` 1.0), the fields read here. */
interface Interrupt {
  readonly id: string;
  readonly reason: string;
  readonly message?: string | undefined;
  readonly toolCallId?: string | undefined;
  readonly expiresAt?: string | undefined;
}
