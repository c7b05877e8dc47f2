import type { EventSchema } from '@ag-ui/core/schemas';
import type { z } from 'zod';
import { EventType, ID_MAX_LENGTH } from '../protocol/events.js';
import type { AgentEvent } from './define-agent.js';
import { appendFinalText, clip, ERROR_MESSAGE_MAX } from './run-end.js';
import { RunErrorCode } from './run-error-code.js';

/** One AG-UI event, validated by `@ag-ui/core`'s schema. */
export type AgUiEvent = z.output<typeof EventSchema>;

/** The agentcast events one AG-UI event maps to, or why the stream is wrong. */
export type MapOutcome =
  | { readonly ok: true; readonly events: readonly AgentEvent[] }
  | { readonly ok: false; readonly message: string };

/** A tool call between TOOL_CALL_START and TOOL_CALL_RESULT. */
interface OpenToolCall {
  readonly name: string;
  args: string;
  readonly startedAt: number;
  announced: boolean;
  /** The parsed arguments, once announced (the text is dropped then). */
  parsed?: Record<string, unknown>;
}

/** `RUN_ERROR.code` is passed on when it fits `agent_completed.error.code` (1..64 characters). */
const ERROR_CODE_MAX = 64;

/**
 * What one run's mapper may hold between events (docs/agents.md, flags `--agent-max-tool-call-length`
 * and `--agent-max-open-tool-calls`). Past either, the stream is refused.
 */
export interface AgUiLimits {
  /** Characters of one tool call's name and streamed arguments together. */
  readonly maxToolCallLength: number;
  /** Tool calls started and not yet given their TOOL_CALL_RESULT. */
  readonly maxOpenToolCalls: number;
}

/** The defaults of {@link AgUiLimits}; the flags' defaults in src/config/options.ts are the same. */
export const AG_UI_LIMITS: AgUiLimits = { maxToolCallLength: 65_536, maxOpenToolCalls: 32 };

const none: MapOutcome = { ok: true, events: [] };

/**
 * Maps AG-UI events onto agentcast events (docs/agents.md has the table), one at a time, keeping what
 * spans events: tool-call arguments streamed in deltas and the text that becomes `final_response`.
 * Both are bounded: the text to FINAL_TEXT_MAX (later text still streams, it is just not kept), the
 * tool calls by `limits`. Pure apart from `now`, which times tool calls for `duration_ms`.
 */
export class AgUiMapper {
  readonly #now: () => number;
  readonly #limits: AgUiLimits;
  readonly #calls = new Map<string, OpenToolCall>();
  #text = '';

  constructor(now: () => number, limits: AgUiLimits = AG_UI_LIMITS) {
    this.#now = now;
    this.#limits = limits;
  }

  map(event: AgUiEvent): MapOutcome {
    switch (event.type) {
      case 'RUN_STARTED':
      case 'TEXT_MESSAGE_START':
      case 'TEXT_MESSAGE_END':
      case 'REASONING_START':
      case 'REASONING_MESSAGE_START':
      case 'REASONING_MESSAGE_END':
      case 'REASONING_END':
      case 'REASONING_ENCRYPTED_VALUE':
        // agent_started is the runtime's; message and reasoning brackets carry no content.
        return none;
      case 'TEXT_MESSAGE_CONTENT':
      case 'TEXT_MESSAGE_CHUNK':
        return this.#textDelta(event.delta);
      case 'REASONING_MESSAGE_CONTENT':
      case 'REASONING_MESSAGE_CHUNK':
        return thinking(event.delta);
      case 'TOOL_CALL_START':
        return this.#open(event.type, event.toolCallId, event.toolCallName, '');
      case 'TOOL_CALL_CHUNK':
        return this.#chunk(event.toolCallId, event.toolCallName, event.delta ?? '');
      case 'TOOL_CALL_ARGS':
        return this.#args(event.toolCallId, event.delta);
      case 'TOOL_CALL_END':
        return this.#end(event.toolCallId);
      case 'TOOL_CALL_RESULT':
        return this.#result(event.toolCallId, event.content);
      case 'RUN_FINISHED':
        return this.#finished(event.outcome?.type === 'cancelled', event.result);
      case 'RUN_ERROR':
        return this.#failed(event.code, event.message);
      default:
        return namespaced(event);
    }
  }

  /**
   * A tool call started and not yet given its result: its name and arguments (those streamed so far when
   * it was not announced, `{}` when they do not parse yet). An interrupt may be about it.
   */
  openCall(id: string): { readonly name: string; readonly args: Record<string, unknown> } | undefined {
    const call = this.#calls.get(id);
    if (call === undefined) return undefined;
    return { name: call.name, args: call.parsed ?? parseArgs(call.args) ?? {} };
  }

  #textDelta(delta: string | undefined): MapOutcome {
    if (delta === undefined || delta === '') return none;
    this.#text = appendFinalText(this.#text, delta);
    return { ok: true, events: [{ type: EventType.StreamChunk, data: { text: delta } }] };
  }

  #open(type: string, id: string, name: string, args: string): MapOutcome {
    // The id becomes tool_executing's execution_id; refused here, before the call is held.
    if (id.length > ID_MAX_LENGTH) {
      return { ok: false, message: `${type} toolCallId: longer than ${ID_MAX_LENGTH} characters` };
    }
    const { maxOpenToolCalls } = this.#limits;
    if (!this.#calls.has(id) && this.#calls.size >= maxOpenToolCalls) {
      return {
        ok: false,
        message: `${type} of ${id}: more than ${maxOpenToolCalls} tool calls open at once`,
      };
    }
    if (name.length + args.length > this.#limits.maxToolCallLength) return this.#tooLong(id);
    this.#calls.set(id, { name, args, startedAt: this.#now(), announced: false });
    return none;
  }

  #chunk(id: string | undefined, name: string | undefined, delta: string): MapOutcome {
    if (id === undefined) return { ok: false, message: 'TOOL_CALL_CHUNK without toolCallId' };
    if (this.#calls.has(id)) return this.#args(id, delta);
    if (name === undefined)
      return { ok: false, message: `first TOOL_CALL_CHUNK of ${id} has no toolCallName` };
    return this.#open('TOOL_CALL_CHUNK', id, name, delta);
  }

  #args(id: string, delta: string): MapOutcome {
    const call = this.#calls.get(id);
    if (call === undefined) return unknownCall('TOOL_CALL_ARGS', id);
    if (call.name.length + call.args.length + delta.length > this.#limits.maxToolCallLength) {
      return this.#tooLong(id);
    }
    call.args += delta;
    return none;
  }

  #tooLong(id: string): MapOutcome {
    const max = this.#limits.maxToolCallLength;
    return { ok: false, message: `tool call ${id}: name and arguments longer than ${max} characters` };
  }

  /** TOOL_CALL_END: the arguments are complete, so the one tool_executing goes out now. */
  #end(id: string): MapOutcome {
    const call = this.#calls.get(id);
    if (call === undefined) return unknownCall('TOOL_CALL_END', id);
    return this.#announce(id, call);
  }

  #announce(id: string, call: OpenToolCall): MapOutcome {
    if (call.announced) return none;
    const args = parseArgs(call.args);
    if (args === undefined)
      return { ok: false, message: `arguments of tool call ${id} are not a JSON object` };
    call.announced = true;
    call.parsed = args;
    // Published; the text is no longer needed while the call waits for its result.
    call.args = '';
    return {
      ok: true,
      events: [
        { type: EventType.ToolExecuting, data: { tool_name: call.name, tool_args: args, execution_id: id } },
      ],
    };
  }

  #result(id: string, content: unknown): MapOutcome {
    const call = this.#calls.get(id);
    if (call === undefined) return unknownCall('TOOL_CALL_RESULT', id);
    // A backend may skip TOOL_CALL_END (TOOL_CALL_CHUNK streams often do): announce the call first.
    const announced = this.#announce(id, call);
    if (!announced.ok) return announced;
    this.#calls.delete(id);
    const completed: AgentEvent = {
      type: EventType.ToolCompleted,
      data: {
        tool_name: call.name,
        execution_id: id,
        success: true,
        results: content,
        duration_ms: Math.max(0, this.#now() - call.startedAt),
      },
    };
    return { ok: true, events: [...announced.events, completed] };
  }

  #finished(cancelled: boolean, result: unknown): MapOutcome {
    const data = cancelled
      ? {
          status: 'cancelled',
          final_response: this.#finalResponse(),
          error: { code: RunErrorCode.Cancelled, message: 'the backend cancelled the run' },
        }
      : { status: 'succeeded', final_response: this.#finalResponse() };
    return {
      ok: true,
      events: [{ type: EventType.AgentCompleted, data: result === undefined ? data : { ...data, result } }],
    };
  }

  #failed(code: string | undefined, message: string): MapOutcome {
    const usable = code !== undefined && code.length >= 1 && code.length <= ERROR_CODE_MAX;
    const error = {
      code: usable ? code : RunErrorCode.AgentError,
      message: clip(message, ERROR_MESSAGE_MAX),
    };
    return {
      ok: true,
      events: [
        {
          type: EventType.AgentCompleted,
          data: { status: 'failed', final_response: this.#finalResponse(), error },
        },
      ],
    };
  }

  #finalResponse(): string | null {
    return this.#text === '' ? null : this.#text;
  }
}

function thinking(delta: string | undefined): MapOutcome {
  if (delta === undefined || delta === '') return none;
  return { ok: true, events: [{ type: EventType.AgentThinking, data: { reasoning: delta } }] };
}

/** Other AG-UI events pass through as `ag_ui.<type in lower case>` with their fields as `data`. */
function namespaced(event: AgUiEvent): MapOutcome {
  const { type, ...data } = event;
  return { ok: true, events: [{ type: `ag_ui.${type.toLowerCase()}`, data }] };
}

function unknownCall(type: string, id: string): MapOutcome {
  return { ok: false, message: `${type} for tool call ${id}, which no TOOL_CALL_START opened` };
}

/** Streamed tool arguments: JSON text of an object; no text at all means no arguments. */
function parseArgs(text: string): Record<string, unknown> | undefined {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    // Not JSON: reported to the caller as arguments that are not a JSON object.
    return undefined;
  }
}
