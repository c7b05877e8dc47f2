import type { RunSnapshot, RunSnapshotApproval, RunSnapshotTool } from '@agentcast/client';
import { RunErrorCode } from '../../agents/run-error-code.js';
import { EventType, type JsonObject, type StoredEvent } from '../../protocol/events.js';

/**
 * The UI message stream chunks the gateway writes (docs/protocol.md J): the subset of the AI SDK's
 * `UIMessageChunk` (its `uiMessageChunkSchema`) that agentcast events map to. Declared here, not imported:
 * `ai` is only a development dependency of the gateway.
 */
export type UiMessageChunk =
  | { readonly type: 'start'; readonly messageId: string }
  | { readonly type: 'start-step' }
  | { readonly type: 'finish-step' }
  | { readonly type: 'text-start' | 'text-end' | 'reasoning-start' | 'reasoning-end'; readonly id: string }
  | { readonly type: 'text-delta' | 'reasoning-delta'; readonly id: string; readonly delta: string }
  | {
      readonly type: 'tool-input-available';
      readonly toolCallId: string;
      readonly toolName: string;
      readonly input: unknown;
    }
  | { readonly type: 'tool-output-available'; readonly toolCallId: string; readonly output: unknown }
  | { readonly type: 'tool-output-error'; readonly toolCallId: string; readonly errorText: string }
  | { readonly type: 'tool-output-denied'; readonly toolCallId: string }
  | {
      readonly type: 'tool-approval-request';
      readonly approvalId: string;
      readonly toolCallId: string;
      readonly reason?: string;
    }
  | {
      readonly type: 'tool-approval-response';
      readonly approvalId: string;
      readonly approved: boolean;
      readonly reason?: string;
    }
  | { readonly type: `data-${string}`; readonly data: unknown }
  | { readonly type: 'finish'; readonly finishReason: 'stop' | 'error' }
  | { readonly type: 'abort'; readonly reason: string }
  | { readonly type: 'error'; readonly errorText: string };

/**
 * What a user reads when a run fails or times out (docs/protocol.md J): a fixed sentence per code, never
 * the run's own `error.message`, which a webhook backend or an agent may fill with internal details.
 */
const FAILURE_TEXT: Readonly<Record<string, string>> = {
  [RunErrorCode.Timeout]: 'The run took too long and was stopped.',
  [RunErrorCode.Unavailable]: 'The service is unavailable; try again.',
  [RunErrorCode.NodeLost]: 'The server running the agent was lost; try again.',
  [RunErrorCode.InvalidEvent]: 'The agent sent something invalid.',
};

/** The generic `errorText` of a run that ended `failed` or `timed_out` with `code`. */
export function failureText(code: string | undefined): string {
  const text = (code !== undefined && FAILURE_TEXT[code]) || 'The agent failed to answer.';
  return code === undefined ? text : `${text} (${code})`;
}

/** Tool inputs are objects on both sides (agentcast `tool_args`, the SDK's `input`). */
function asObject(value: unknown): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}

/**
 * Turns one run, as the run-stream core delivers it (a snapshot, then events), into AI SDK UI message
 * chunks (docs/protocol.md J, the mapping table in docs/ai-sdk.md). Pure: no I/O, one instance per
 * response. Text and reasoning are one part per contiguous stretch; a tool call is a tool part keyed by
 * `execution_id`; an approval is a tool part keyed by `approval_id` that the tool it approved then
 * completes; every other event type is a `data-<type>` part.
 */
export class UiMessageEncoder {
  /** The open text or reasoning part: the SDK needs its `*-end` before anything else starts. */
  #open: { readonly kind: 'text' | 'reasoning'; readonly id: string } | undefined;
  #started = false;
  /** Text and reasoning parts started so far, for their ids. */
  readonly #parts = { text: 0, reasoning: 0 };
  #ended = false;
  /** Approved approvals whose tool has not run yet: tool name -> approval id (its tool part's id). */
  readonly #approvedTools = new Map<string, string>();
  /** Tool calls shown as an approval's part: execution id -> approval id. */
  readonly #callIds = new Map<string, string>();
  /** The tool name of each approval this stream knows, by approval id. */
  readonly #approvalTools = new Map<string, string>();

  /** True once the run's ending was encoded: nothing follows it. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Approvals the client already shows (a stream that starts after them, as when an approval response
   * resumes the run): their resolution and their tool's call then complete the same parts.
   */
  knowApprovals(approvals: readonly RunSnapshotApproval[]): void {
    for (const approval of approvals) this.#approvalTools.set(approval.approval_id, approval.tool_name);
  }

  /**
   * The opening of a stream that continues a message the client already holds (its run id is the message
   * id): `start` only, no new step.
   */
  resume(runId: string): UiMessageChunk[] {
    this.#started = true;
    return [{ type: 'start', messageId: runId }];
  }

  /** The message's opening: `start` (the message id is the run id) and `start-step`, once. */
  start(runId: string): UiMessageChunk[] {
    if (this.#started) return [];
    this.#started = true;
    return [{ type: 'start', messageId: runId }, { type: 'start-step' }];
  }

  /**
   * A run so far, as parts in a fixed order (the snapshot keeps no order across kinds): reasoning,
   * approvals, tools, then text, left open so the next `stream_chunk` continues it. A snapshot of an
   * ended run is followed by its ending.
   */
  snapshot(snapshot: RunSnapshot): UiMessageChunk[] {
    const chunks = this.start(snapshot.run_id);
    if (snapshot.reasoning !== '') chunks.push(...this.#delta('reasoning', snapshot.reasoning));
    for (const approval of snapshot.approvals) chunks.push(...this.#approval(approval));
    for (const tool of snapshot.tools) chunks.push(...this.#tool(tool));
    if (snapshot.text !== '') chunks.push(...this.#delta('text', snapshot.text));
    if (snapshot.status !== 'running' && snapshot.status !== 'waiting') {
      chunks.push(...this.#ending(snapshot.status, snapshot.error?.code));
    }
    return chunks;
  }

  /** The chunks of one event of the run (docs/protocol.md J). */
  event(event: StoredEvent): UiMessageChunk[] {
    if (this.#ended) return [];
    const data = event.data;
    switch (event.type) {
      case EventType.AgentStarted:
        return this.start(event.run_id ?? '');
      case EventType.StreamChunk:
        return [...this.start(event.run_id ?? ''), ...this.#delta('text', String(data.text))];
      case EventType.AgentThinking:
        return [...this.start(event.run_id ?? ''), ...this.#delta('reasoning', String(data.reasoning))];
      case EventType.ToolExecuting:
        return this.#tool({
          execution_id: String(data.execution_id),
          tool_name: String(data.tool_name),
          tool_args: asObject(data.tool_args),
        });
      case EventType.ToolCompleted:
        return this.#toolResult(String(data.execution_id), data.success === true, data.results, data.error);
      case EventType.ApprovalRequested:
        return this.#approval({
          approval_id: String(data.approval_id),
          tool_name: String(data.tool_name),
          tool_args: asObject(data.tool_args),
          message: String(data.message),
          expires_at: String(data.expires_at),
        });
      case EventType.ApprovalResolved:
        return this.#resolution(
          String(data.approval_id),
          String(data.decision),
          typeof data.reason === 'string' ? data.reason : undefined,
        );
      case EventType.AgentCompleted: {
        const error = asObject(data.error);
        return this.#ending(String(data.status), typeof error.code === 'string' ? error.code : undefined);
      }
      default:
        return [...this.#close(), { type: `data-${event.type}`, data }];
    }
  }

  /** Ends the open text or reasoning part, if any. */
  #close(): UiMessageChunk[] {
    const open = this.#open;
    if (open === undefined) return [];
    this.#open = undefined;
    return [{ type: `${open.kind}-end`, id: open.id }];
  }

  /**
   * A delta of text or reasoning: continues the open part of that kind, or closes the other and starts
   * one. Part ids count the parts of each kind (`text-0`, `reasoning-0`, …), so a run replayed from its
   * snapshot gets the ids it got live.
   */
  #delta(kind: 'text' | 'reasoning', delta: string): UiMessageChunk[] {
    const chunks: UiMessageChunk[] = [];
    if (this.#open?.kind !== kind) {
      const id = `${kind}-${this.#parts[kind]++}`;
      chunks.push(...this.#close(), { type: `${kind}-start`, id });
      this.#open = { kind, id };
    }
    chunks.push({ type: `${kind}-delta`, id: this.#open.id, delta });
    return chunks;
  }

  /** A tool call; when an approval of that tool was granted, the call completes the approval's part. */
  #tool(tool: RunSnapshotTool): UiMessageChunk[] {
    const approval = this.#approvedTools.get(tool.tool_name);
    const chunks = this.#close();
    if (approval === undefined) {
      chunks.push({
        type: 'tool-input-available',
        toolCallId: tool.execution_id,
        toolName: tool.tool_name,
        input: tool.tool_args,
      });
    } else {
      this.#approvedTools.delete(tool.tool_name);
      this.#callIds.set(tool.execution_id, approval);
    }
    if (tool.success !== undefined) {
      chunks.push(...this.#toolResult(tool.execution_id, tool.success, tool.results, undefined));
    }
    return chunks;
  }

  #toolResult(executionId: string, success: boolean, results: unknown, error: unknown): UiMessageChunk[] {
    const toolCallId = this.#callIds.get(executionId) ?? executionId;
    this.#callIds.delete(executionId);
    if (success)
      return [...this.#close(), { type: 'tool-output-available', toolCallId, output: results ?? null }];
    // A tool's own error message is written for users (docs/agents.md, ctx.tool); anything else is generic.
    const message = asObject(error).message;
    const errorText = typeof message === 'string' && message !== '' ? message : 'the tool failed';
    return [...this.#close(), { type: 'tool-output-error', toolCallId, errorText }];
  }

  /** A question for the user: the tool's part (keyed by the approval id) and the SDK's approval request. */
  #approval(approval: RunSnapshotApproval): UiMessageChunk[] {
    const chunks: UiMessageChunk[] = [
      ...this.#close(),
      {
        type: 'tool-input-available',
        toolCallId: approval.approval_id,
        toolName: approval.tool_name,
        input: approval.tool_args,
      },
      {
        type: 'tool-approval-request',
        approvalId: approval.approval_id,
        toolCallId: approval.approval_id,
        ...(approval.message === '' ? {} : { reason: approval.message }),
      },
    ];
    this.#approvalTools.set(approval.approval_id, approval.tool_name);
    if (approval.decision !== undefined) {
      chunks.push(...this.#resolution(approval.approval_id, approval.decision, approval.reason));
    }
    return chunks;
  }

  /**
   * An approval resolved: the SDK's approval response; a granted one waits for its tool's call to
   * complete its part, anything else (denied, expired, cancelled) is the SDK's denied output.
   */
  #resolution(approvalId: string, decision: string, reason: string | undefined): UiMessageChunk[] {
    const approved = decision === 'approved';
    const chunks: UiMessageChunk[] = [
      ...this.#close(),
      { type: 'tool-approval-response', approvalId, approved, ...(reason === undefined ? {} : { reason }) },
    ];
    const toolName = this.#approvalTools.get(approvalId);
    if (approved && toolName !== undefined) this.#approvedTools.set(toolName, approvalId);
    if (!approved) chunks.push({ type: 'tool-output-denied', toolCallId: approvalId });
    return chunks;
  }

  /** `finish` (succeeded), `abort` (cancelled), `error` + `finish` (failed, timed out). */
  #ending(status: string, code: string | undefined): UiMessageChunk[] {
    if (this.#ended) return [];
    this.#ended = true;
    const chunks: UiMessageChunk[] = [...this.#close(), { type: 'finish-step' }];
    if (status === 'succeeded') chunks.push({ type: 'finish', finishReason: 'stop' });
    else if (status === 'cancelled') chunks.push({ type: 'abort', reason: code ?? RunErrorCode.Cancelled });
    else
      chunks.push({ type: 'error', errorText: failureText(code) }, { type: 'finish', finishReason: 'error' });
    return chunks;
  }
}
