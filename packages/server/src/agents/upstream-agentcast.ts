import { z } from 'zod';
import { EventType, type JsonObject, MAX_DATA_DEPTH, nestsDeeperThan } from '../protocol/events.js';
import { formatIssues } from '../protocol/issues.js';
import { AgUiMapper } from './ag-ui-mapping.js';
import { parseJsonObject, parseWebhookValue } from './parse-webhook-line.js';
import type { ApprovalRequest } from './run-approval.js';
import type {
  BodyEnd,
  DecodeOutcome,
  DecoderSettings,
  Frame,
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
    body: (call: UpstreamCall): JsonObject => ({
      run_id: call.runId,
      user_id: call.userId,
      message: { id: call.input.messageId, text: call.input.text, thread_id: call.input.threadId ?? null },
      ...(call.approval === undefined ? {} : { approval: { ...call.approval } }),
    }),
    decoder: () => new WebhookLineDecoder(settings, true),
  };
}

/**
 * Decodes frames that each hold one agentcast event or one AG-UI event (validated by `@ag-ui/core`),
 * as `--agent-protocol agentcast` and `ag-ui` both answer. With `pauseOnApproval`, an `approval_requested`
 * is held: it must be the body's last frame, and then the body's end asks the user instead of failing.
 */
export class WebhookLineDecoder implements UpstreamDecoder {
  readonly #mapper: AgUiMapper;
  readonly #settings: DecoderSettings;
  readonly #pauseOnApproval: boolean;
  #approval: { readonly request: ApprovalRequest; readonly where: string } | undefined;

  constructor(settings: DecoderSettings, pauseOnApproval: boolean) {
    this.#settings = settings;
    this.#mapper = new AgUiMapper(settings.now, settings);
    this.#pauseOnApproval = pauseOnApproval;
  }

  frame(frame: Frame): DecodeOutcome {
    const { where } = frame;
    if (this.#approval !== undefined) {
      return {
        ok: false,
        message: `${where}: nothing may follow approval_requested (${this.#approval.where}); the run continues in a new request once it is answered`,
      };
    }
    const parsed = parseJsonObject(frame.text, where);
    if (!parsed.ok) return parsed;
    const value = parsed.value as { type?: unknown };
    if (this.#pauseOnApproval && value.type === EventType.ApprovalRequested) return this.#hold(value, where);
    return parseWebhookValue(parsed.value, where, this.#mapper);
  }

  end(): BodyEnd {
    if (this.#approval !== undefined) return { kind: 'approval', request: this.#approval.request };
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
    let timeoutMs: number | undefined;
    if (expires_at !== undefined) {
      const at = Date.parse(expires_at);
      if (Number.isNaN(at)) {
        return { ok: false, message: `${where}: approval_requested data.expires_at: not an ISO 8601 time` };
      }
      timeoutMs = Math.min(APPROVAL_WAIT_MAX_MS, Math.max(1, at - this.#settings.now()));
    }
    const request: ApprovalRequest = {
      tool_name,
      tool_args: tool_args as JsonObject,
      message,
      ...(timeoutMs === undefined ? {} : { timeout_ms: timeoutMs }),
    };
    this.#approval = { request, where };
    return { ok: true, events: [] };
  }
}
