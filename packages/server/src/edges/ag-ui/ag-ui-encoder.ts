import type { EventSchema } from '@ag-ui/core/schemas';
import type { JsonObject, RunSnapshot } from '@agentcast/client';
import type { z } from 'zod';
import { EventType, type StoredEvent } from '../../protocol/events.js';

/**
 * agentcast events -> AG-UI events, for the AG-UI edge (docs/protocol.md I has the mapping table). Pure:
 * no I/O, no clock. One encoder per run and per response; it keeps only what spans events (the open text
 * message, how many tool calls came before it, how much text and reasoning it has sent).
 */

/** One AG-UI event, as `@ag-ui/core`'s EventSchema accepts it. */
export type AgUiEvent = z.output<typeof EventSchema>;

/** An AG-UI event and the id of the agentcast event it came from, `<epoch>:<seq>` (the SSE `id:` line). */
export interface AgUiFrame {
  readonly id: string;
  readonly event: AgUiEvent;
}

/** Where an encoder starts: the run, its thread, and what of the run came before (a resume). */
export interface AgUiEncoderStart {
  readonly runId: string;
  /** The AG-UI thread: the run's `thread_id`, else the run id. */
  readonly threadId: string;
  /**
   * How many `tool_executing` events of the run came before the first event this encoder gets (0 from
   * the start). Text message ids count them, so a resume names a message as the first stream did.
   */
  readonly toolCallsBefore?: number;
}

/**
 * The id of the text message of the run's `stream_chunk`s after `toolCalls` tool calls
 * (docs/protocol.md I): one message per stretch of text between tool calls, the same id on every stream
 * of the run (the first, a resume, a snapshot), so an AG-UI client that sees the id again appends to the
 * message it has instead of starting another.
 */
export function textMessageId(runId: string, toolCalls: number): string {
  return `${runId}.text.${toolCalls}`;
}

/**
 * The CUSTOM event before a snapshot that answers a resume history could no longer serve (docs/protocol.md
 * I): what the client has of the run may have a hole; @agentcast/ag-ui drops it, the snapshot rebuilds it.
 */
export const AG_UI_RESET = 'agentcast_reset';

/** The id of the TOOL_CALL_RESULT message of tool call `executionId`. */
export function toolResultMessageId(executionId: string): string {
  return `${executionId}.result`;
}

interface Ending {
  readonly status: string;
  readonly finalResponse?: string | null | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/**
 * Encodes one run. Every method returns the AG-UI frames to send for its input, in order. RUN_STARTED
 * comes first whatever the first input is (AG-UI's verifier wants it first); after RUN_FINISHED or
 * RUN_ERROR nothing more is produced.
 */
export class AgUiRunEncoder {
  readonly #runId: string;
  readonly #threadId: string;
  #toolCalls: number;
  #started = false;
  #ended = false;
  /** The open text message's id, between its TEXT_MESSAGE_START and TEXT_MESSAGE_END. */
  #openText: string | undefined;
  /** Characters of text and reasoning sent, and the tool calls, results and approvals: what a reset snapshot need not repeat. */
  #textSent = 0;
  #reasoningSent = 0;
  readonly #toolsSent = new Set<string>();
  readonly #resultsSent = new Set<string>();
  readonly #approvalsSent = new Set<string>();
  readonly #resolutionsSent = new Set<string>();

  constructor(start: AgUiEncoderStart) {
    this.#runId = start.runId;
    this.#threadId = start.threadId;
    this.#toolCalls = start.toolCallsBefore ?? 0;
  }

  /** True once RUN_FINISHED or RUN_ERROR was produced. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The frames of one event of the run (its `run_id` is this run's). */
  event(ev: StoredEvent): AgUiFrame[] {
    if (this.#ended) return [];
    const id = `${ev.epoch}:${ev.seq}`;
    const out: AgUiEvent[] = [];
    this.#start(out, Date.parse(ev.ts));
    const d = ev.data;
    switch (ev.type) {
      case EventType.AgentStarted:
        break;
      case EventType.StreamChunk:
        this.#text(out, String(d.text));
        break;
      case EventType.AgentThinking:
        this.#closeText(out);
        this.#reasoning(out, `${this.#runId}.reasoning.${ev.seq}`, String(d.reasoning));
        break;
      case EventType.ToolExecuting:
        this.#closeText(out);
        this.#toolCall(out, String(d.execution_id), String(d.tool_name), d.tool_args as JsonObject);
        break;
      case EventType.ToolCompleted:
        this.#closeText(out);
        this.#toolResult(out, String(d.execution_id), d.success === true, d.results);
        break;
      case EventType.AgentCompleted:
        this.#end(out, {
          status: String(d.status),
          finalResponse: d.final_response as string | null | undefined,
          error: d.error as Ending['error'],
        });
        break;
      case EventType.ApprovalRequested:
        this.#closeText(out);
        this.#approvalsSent.add(String(d.approval_id));
        out.push(custom(ev.type, { ...d, run_id: this.#runId }));
        break;
      case EventType.ApprovalResolved:
        this.#closeText(out);
        this.#resolutionsSent.add(String(d.approval_id));
        out.push(custom(ev.type, { ...d, run_id: this.#runId }));
        break;
      default:
        out.push(custom(ev.type, d));
    }
    return out.map((event) => ({ id, event }));
  }

  /**
   * The frames of a run snapshot (docs/protocol.md F): on a fresh encoder, the whole run so far folded
   * (tool calls, reasoning, approvals, then its text as the current text message, left open while the
   * run goes on); on an encoder that has sent part of the run (a reset), only what it has not sent yet.
   * Every frame's id is the snapshot's position, `<epoch>:<last_seq>`.
   */
  snapshot(snapshot: RunSnapshot, reason: 'start' | 'reset' = 'start'): AgUiFrame[] {
    if (this.#ended) return [];
    const out: AgUiEvent[] = [];
    this.#start(out, Date.parse(snapshot.started_at));
    // A resume history could not serve: the client's copy of the run may miss events, so it is told to
    // drop what it has of the run before the snapshot rebuilds it (docs/protocol.md I).
    if (reason === 'reset') {
      out.push(
        custom(AG_UI_RESET, { run_id: this.#runId, epoch: snapshot.epoch, last_seq: snapshot.last_seq }),
      );
    }
    const reasoning = snapshot.reasoning.slice(this.#reasoningSent);
    if (reasoning !== '') {
      this.#closeText(out);
      this.#reasoning(out, `${this.#runId}.reasoning.${snapshot.last_seq}`, reasoning);
    }
    for (const tool of snapshot.tools) {
      if (!this.#toolsSent.has(tool.execution_id)) {
        this.#closeText(out);
        this.#toolCall(out, tool.execution_id, tool.tool_name, tool.tool_args);
      }
      if (tool.success !== undefined && !this.#resultsSent.has(tool.execution_id)) {
        this.#closeText(out);
        this.#toolResult(out, tool.execution_id, tool.success, tool.results);
      }
    }
    // The snapshot keeps tools in order but not where text fell between them: the text not yet sent
    // goes into the message after the last tool call, the one live chunks continue.
    this.#toolCalls = Math.max(this.#toolCalls, snapshot.tools.length);
    for (const approval of snapshot.approvals) {
      const { decision, reason, by, ...asked } = approval;
      if (!this.#approvalsSent.has(approval.approval_id)) {
        this.#closeText(out);
        this.#approvalsSent.add(approval.approval_id);
        out.push(custom(EventType.ApprovalRequested, { ...asked, run_id: this.#runId }));
      }
      if (decision !== undefined && !this.#resolutionsSent.has(approval.approval_id)) {
        this.#closeText(out);
        this.#resolutionsSent.add(approval.approval_id);
        const resolved = { approval_id: approval.approval_id, decision, by: by ?? 'user' };
        out.push(
          custom(EventType.ApprovalResolved, {
            ...resolved,
            ...(reason === undefined ? {} : { reason }),
            run_id: this.#runId,
          }),
        );
      }
    }
    this.#text(out, snapshot.text.slice(this.#textSent));
    if (snapshot.status !== 'running' && snapshot.status !== 'waiting') {
      this.#end(out, {
        status: snapshot.status,
        finalResponse: snapshot.final_response,
        error: snapshot.error,
      });
    }
    const id = `${snapshot.epoch}:${snapshot.last_seq}`;
    return out.map((event) => ({ id, event }));
  }

  #start(out: AgUiEvent[], timestamp: number): void {
    if (this.#started) return;
    this.#started = true;
    out.push({
      type: 'RUN_STARTED',
      threadId: this.#threadId,
      runId: this.#runId,
      ...(Number.isFinite(timestamp) ? { timestamp } : {}),
    } as AgUiEvent);
  }

  #text(out: AgUiEvent[], text: string): void {
    if (text === '') return;
    if (this.#openText === undefined) {
      this.#openText = textMessageId(this.#runId, this.#toolCalls);
      out.push({ type: 'TEXT_MESSAGE_START', messageId: this.#openText, role: 'assistant' } as AgUiEvent);
    }
    this.#textSent += text.length;
    out.push({ type: 'TEXT_MESSAGE_CONTENT', messageId: this.#openText, delta: text } as AgUiEvent);
  }

  #closeText(out: AgUiEvent[]): void {
    if (this.#openText === undefined) return;
    out.push({ type: 'TEXT_MESSAGE_END', messageId: this.#openText } as AgUiEvent);
    this.#openText = undefined;
  }

  #reasoning(out: AgUiEvent[], messageId: string, text: string): void {
    this.#reasoningSent += text.length;
    out.push(
      { type: 'REASONING_START', messageId } as AgUiEvent,
      { type: 'REASONING_MESSAGE_START', messageId, role: 'reasoning' } as AgUiEvent,
    );
    if (text !== '') out.push({ type: 'REASONING_MESSAGE_CONTENT', messageId, delta: text } as AgUiEvent);
    out.push(
      { type: 'REASONING_MESSAGE_END', messageId } as AgUiEvent,
      { type: 'REASONING_END', messageId } as AgUiEvent,
    );
  }

  #toolCall(out: AgUiEvent[], toolCallId: string, toolCallName: string, args: JsonObject): void {
    this.#toolsSent.add(toolCallId);
    this.#toolCalls += 1;
    out.push(
      { type: 'TOOL_CALL_START', toolCallId, toolCallName } as AgUiEvent,
      { type: 'TOOL_CALL_ARGS', toolCallId, delta: JSON.stringify(args) } as AgUiEvent,
      { type: 'TOOL_CALL_END', toolCallId } as AgUiEvent,
    );
  }

  #toolResult(out: AgUiEvent[], toolCallId: string, success: boolean, results: unknown): void {
    this.#resultsSent.add(toolCallId);
    const content = typeof results === 'string' ? results : JSON.stringify(results ?? null);
    out.push({
      type: 'TOOL_CALL_RESULT',
      messageId: toolResultMessageId(toolCallId),
      toolCallId,
      role: 'tool',
      content: success ? content : JSON.stringify({ error: results }),
    } as AgUiEvent);
  }

  /** agent_completed: succeeded -> RUN_FINISHED, cancelled -> RUN_FINISHED outcome cancelled, else RUN_ERROR. */
  #end(out: AgUiEvent[], ending: Ending): void {
    this.#closeText(out);
    this.#ended = true;
    const ids = { threadId: this.#threadId, runId: this.#runId };
    if (ending.status === 'succeeded') {
      const result = ending.finalResponse;
      out.push({ type: 'RUN_FINISHED', ...ids, ...(result == null ? {} : { result }) } as AgUiEvent);
    } else if (ending.status === 'cancelled') {
      out.push({ type: 'RUN_FINISHED', ...ids, outcome: { type: 'cancelled' } } as AgUiEvent);
    } else {
      out.push({
        type: 'RUN_ERROR',
        message: ending.error?.message ?? `run ${ending.status}`,
        code: ending.error?.code ?? (ending.status === 'timed_out' ? 'RUN_TIMEOUT' : 'AGENT_ERROR'),
      } as AgUiEvent);
    }
  }
}

/** A CUSTOM event named after the agentcast type, its value the event's data. */
function custom(name: string, value: JsonObject): AgUiEvent {
  return { type: 'CUSTOM', name, value } as AgUiEvent;
}

/**
 * One AG-UI SSE frame as the official `@ag-ui/encoder` EventEncoder writes it (`data: <json>\n\n`),
 * preceded by `id: <epoch>:<seq>` so a client can resume with Last-Event-ID (docs/protocol.md I).
 */
export function agUiSseFrame(frame: AgUiFrame): string {
  return `id: ${frame.id}\ndata: ${JSON.stringify(frame.event)}\n\n`;
}
