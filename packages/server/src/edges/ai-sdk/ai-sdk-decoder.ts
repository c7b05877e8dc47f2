import { z } from 'zod';
import type { AgentEvent, ConversationMessage } from '../../agents/define-agent.js';
import { parseJsonObject } from '../../agents/parse-webhook-line.js';
import { appendFinalText, clip, ERROR_MESSAGE_MAX } from '../../agents/run-end.js';
import { RunErrorCode } from '../../agents/run-error-code.js';
import type {
  BodyEnd,
  DecodeOutcome,
  DecoderSettings,
  Frame,
  UpstreamCall,
  UpstreamDecoder,
  UpstreamProtocol,
} from '../../agents/upstream-decoder.js';
import { EventType, ID_MAX_LENGTH, type JsonObject, parseNewEvent } from '../../protocol/events.js';
import { formatIssues } from '../../protocol/issues.js';

const WEBHOOK_RUN_ERROR = RunErrorCode.WebhookRunError;

/** The end marker of a UI message stream: `data: [DONE]`. */
const DONE = '[DONE]';

/**
 * The chunks of the AI SDK's UI message stream the gateway reads, with the fields it reads, as the SDK's
 * own `uiMessageChunkSchema` (ai@7) declares them; a test checks both agree on what they accept. Other
 * chunk types (`start`, `text-start`, `source-url`, `file`, `message-metadata`, …) carry nothing an
 * agentcast event holds and are skipped, as are types a later SDK adds.
 */
const chunkSchemas = {
  'text-delta': z.looseObject({ id: z.string(), delta: z.string() }),
  'reasoning-delta': z.looseObject({ id: z.string(), delta: z.string() }),
  'tool-input-available': z.looseObject({ toolCallId: z.string(), toolName: z.string(), input: z.unknown() }),
  'tool-input-error': z.looseObject({
    toolCallId: z.string(),
    toolName: z.string(),
    input: z.unknown(),
    errorText: z.string(),
  }),
  'tool-output-available': z.looseObject({
    toolCallId: z.string(),
    output: z.unknown(),
    preliminary: z.boolean().optional(),
  }),
  'tool-output-error': z.looseObject({ toolCallId: z.string(), errorText: z.string() }),
  'tool-output-denied': z.looseObject({ toolCallId: z.string() }),
  error: z.looseObject({ errorText: z.string() }),
  abort: z.looseObject({ reason: z.string().optional() }),
  finish: z.looseObject({
    finishReason: z.enum(['stop', 'length', 'content-filter', 'tool-calls', 'error', 'other']).optional(),
  }),
  data: z.looseObject({ data: z.unknown(), id: z.string().optional(), transient: z.boolean().optional() }),
} as const;

/** agentcast types a `data-*` chunk may not carry: each has its own chunk (docs/agents.md). */
const NATIVE_TYPES: ReadonlySet<string> = new Set([
  EventType.AgentStarted,
  EventType.AgentCompleted,
  EventType.StreamChunk,
  EventType.AgentThinking,
  EventType.ToolExecuting,
  EventType.ToolCompleted,
]);

/**
 * `--agent-protocol ai-sdk` (docs/agents.md, "AI SDK backends"): the webhook agent calls an AI SDK route
 * (`streamText(…).toUIMessageStreamResponse()`). It POSTs the body `DefaultChatTransport` sends and reads
 * the UI message stream back (SSE `data:` chunks, `data: [DONE]` at the end).
 */
export function aiSdkProtocol(settings: DecoderSettings): UpstreamProtocol {
  return {
    accept: 'text/event-stream',
    body: chatRequestBody,
    decoder: () => new AiSdkDecoder(settings),
  };
}

/**
 * The body `DefaultChatTransport.sendMessages` POSTs: `id` = the thread (or `user:<user id>`), `messages` =
 * the UI messages an AI SDK edge received as is, else UI messages built from the conversation an edge
 * passed, else one user message with the text; `trigger: 'submit-message'`, `messageId` left out (it is
 * for regenerations); the extra `body` fields an AI SDK edge received (`forwardedProps`) beside them.
 */
export function chatRequestBody(call: UpstreamCall): JsonObject {
  const { input } = call;
  const context = input.context;
  const raw = context?.raw?.protocol === 'ai-sdk' ? context.raw.messages : undefined;
  const messages =
    raw ??
    (context?.messages === undefined
      ? [textMessage(input.messageId, 'user', input.text)]
      : context.messages.flatMap(uiMessage));
  const extra = raw !== undefined && isObject(context?.forwardedProps) ? context.forwardedProps : {};
  return {
    ...extra,
    id: input.threadId ?? `user:${call.userId}`,
    messages: [...messages],
    trigger: 'submit-message',
  };
}

function textMessage(id: string, role: 'user' | 'assistant' | 'system', text: string): JsonObject {
  return { id, role, parts: [{ type: 'text', text }] };
}

/** UI messages have the roles system, user and assistant: `developer` is a system message, `tool` has no UI message. */
function uiMessage(message: ConversationMessage): JsonObject[] {
  if (message.role === 'tool') return [];
  const role = message.role === 'developer' ? 'system' : message.role;
  return [textMessage(message.id, role, message.content)];
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A tool call between its `tool-input-available` and its output. */
interface OpenCall {
  readonly name: string;
  readonly startedAt: number;
}

const none: DecodeOutcome = { ok: true, events: [] };

/**
 * Maps UI message stream chunks onto agentcast events (docs/agents.md has the table), keeping what spans
 * chunks: the text that becomes `final_response` (bounded as every run's) and the open tool calls (bounded
 * by `--agent-max-open-tool-calls`; a call's name and input by `--agent-max-tool-call-length`).
 */
export class AiSdkDecoder implements UpstreamDecoder {
  readonly #settings: DecoderSettings;
  readonly #calls = new Map<string, OpenCall>();
  #text = '';
  #done = false;

  constructor(settings: DecoderSettings) {
    this.#settings = settings;
  }

  frame(frame: Frame): DecodeOutcome {
    const { where } = frame;
    if (this.#done) return { ok: false, message: `${where}: a chunk after [DONE]` };
    if (frame.text.trim() === DONE) {
      this.#done = true;
      return none;
    }
    const parsed = parseJsonObject(frame.text, where);
    if (!parsed.ok) return parsed;
    const type = (parsed.value as { type?: unknown }).type;
    if (typeof type !== 'string') return { ok: false, message: `${where}: type: expected a string` };
    if (type === 'tool-approval-request') {
      // Answering one needs the assistant message rebuilt and sent back; not done yet (docs/agents.md).
      return {
        ok: false,
        message: `${where}: tool-approval-request: AI SDK tool approvals are not supported upstream; ask with approval_requested under --agent-protocol agentcast`,
      };
    }
    const key = type.startsWith('data-') ? 'data' : type;
    if (!Object.hasOwn(chunkSchemas, key)) return none;
    const schema = chunkSchemas[key as keyof typeof chunkSchemas];
    const chunk = schema.safeParse(parsed.value);
    if (!chunk.success) return { ok: false, message: `${where}: ${type} ${formatIssues(chunk.error)}` };
    const mapped = this.#map(type, chunk.data as Record<string, unknown>);
    return mapped.ok ? mapped : { ok: false, message: `${where}: ${mapped.message}` };
  }

  end(): BodyEnd {
    // [DONE] closes a stream properly even without `finish`: the run succeeded with what it said.
    if (this.#done) return { kind: 'ended', events: [this.#completed('succeeded')] };
    return { kind: 'incomplete', message: 'backend UI message stream ended without finish or [DONE]' };
  }

  #map(type: string, chunk: Record<string, unknown>): DecodeOutcome {
    switch (type) {
      case 'text-delta':
        return this.#textDelta(chunk.delta as string);
      case 'reasoning-delta':
        return chunk.delta === ''
          ? none
          : {
              ok: true,
              events: [{ type: EventType.AgentThinking, data: { reasoning: chunk.delta as string } }],
            };
      case 'tool-input-available':
        return this.#open(chunk.toolCallId as string, chunk.toolName as string, chunk.input);
      case 'tool-input-error':
        return this.#inputError(chunk);
      case 'tool-output-available':
        // A preliminary output is a progress report; the call completes with the final one.
        if (chunk.preliminary === true) return none;
        return this.#close(chunk.toolCallId as string, true, chunk.output, undefined);
      case 'tool-output-error':
        return this.#close(chunk.toolCallId as string, false, null, {
          code: RunErrorCode.ToolError,
          message: clip(chunk.errorText as string, ERROR_MESSAGE_MAX),
        });
      case 'tool-output-denied':
        return this.#close(chunk.toolCallId as string, false, null, {
          code: RunErrorCode.ToolError,
          message: 'the tool call was denied',
        });
      case 'error':
        return {
          ok: true,
          events: [
            this.#completed('failed', {
              code: WEBHOOK_RUN_ERROR,
              message: clip(chunk.errorText as string, ERROR_MESSAGE_MAX),
            }),
          ],
        };
      case 'abort':
        return {
          ok: true,
          events: [
            this.#completed('cancelled', {
              code: RunErrorCode.Cancelled,
              message: 'the backend aborted the run',
            }),
          ],
        };
      case 'finish':
        return {
          ok: true,
          events: [
            chunk.finishReason === 'error'
              ? this.#completed('failed', {
                  code: WEBHOOK_RUN_ERROR,
                  message: 'the backend finished with an error',
                })
              : this.#completed('succeeded'),
          ],
        };
      default:
        return this.#data(type.slice('data-'.length), chunk.data);
    }
  }

  #textDelta(delta: string): DecodeOutcome {
    if (delta === '') return none;
    this.#text = appendFinalText(this.#text, delta);
    return { ok: true, events: [{ type: EventType.StreamChunk, data: { text: delta } }] };
  }

  #open(id: string, name: string, input: unknown): DecodeOutcome {
    const checked = this.#checkCall(id, name, input);
    if (!checked.ok) return checked;
    this.#calls.set(id, { name, startedAt: this.#settings.now() });
    return {
      ok: true,
      events: [
        {
          type: EventType.ToolExecuting,
          data: { tool_name: name, tool_args: toolArgs(input), execution_id: id },
        },
      ],
    };
  }

  #checkCall(id: string, name: string, input: unknown): DecodeOutcome {
    if (id.length === 0 || id.length > ID_MAX_LENGTH) {
      return { ok: false, message: `toolCallId: 1 to ${ID_MAX_LENGTH} characters` };
    }
    if (this.#calls.has(id)) return { ok: false, message: `tool call ${id} is already open` };
    const { maxOpenToolCalls, maxToolCallLength } = this.#settings;
    if (this.#calls.size >= maxOpenToolCalls) {
      return { ok: false, message: `tool call ${id}: more than ${maxOpenToolCalls} tool calls open at once` };
    }
    if (name.length + JSON.stringify(input).length > maxToolCallLength) {
      return {
        ok: false,
        message: `tool call ${id}: name and input longer than ${maxToolCallLength} characters`,
      };
    }
    return none;
  }

  /** The model produced input the tool refused: the call is announced and fails at once. */
  #inputError(chunk: Record<string, unknown>): DecodeOutcome {
    const id = chunk.toolCallId as string;
    const opened = this.#calls.has(id) ? none : this.#open(id, chunk.toolName as string, chunk.input);
    if (!opened.ok) return opened;
    const error = {
      code: RunErrorCode.ToolError,
      message: clip(chunk.errorText as string, ERROR_MESSAGE_MAX),
    };
    const completed = this.#complete(id, this.#calls.get(id) as OpenCall, false, null, error);
    return { ok: true, events: [...opened.events, completed] };
  }

  #close(
    id: string,
    success: boolean,
    results: unknown,
    error: { code: string; message: string } | undefined,
  ): DecodeOutcome {
    const call = this.#calls.get(id);
    if (call === undefined) {
      return { ok: false, message: `output of tool call ${id}, which no tool-input-available opened` };
    }
    return { ok: true, events: [this.#complete(id, call, success, results, error)] };
  }

  /** The call's one `tool_completed`; the call is no longer open. */
  #complete(
    id: string,
    call: OpenCall,
    success: boolean,
    results: unknown,
    error: { code: string; message: string } | undefined,
  ): AgentEvent {
    this.#calls.delete(id);
    const data: JsonObject = {
      tool_name: call.name,
      execution_id: id,
      success,
      results,
      duration_ms: Math.max(0, this.#settings.now() - call.startedAt),
      ...(error === undefined ? {} : { error }),
    };
    return { type: EventType.ToolCompleted, data };
  }

  /** `data-<type>`: an agentcast event of that type, its `data` the chunk's (not an object: `{ value }`). */
  #data(type: string, data: unknown): DecodeOutcome {
    if (NATIVE_TYPES.has(type)) {
      return { ok: false, message: `data-${type}: ${type} comes from its own chunk type, not a data part` };
    }
    const event = { type, data: isObject(data) ? data : { value: data } };
    const parsed = parseNewEvent(event);
    if (!parsed.ok) return { ok: false, message: `data-${type}: ${parsed.message}` };
    return { ok: true, events: [{ type: parsed.value.type, data: parsed.value.data }] };
  }

  #completed(
    status: 'succeeded' | 'failed' | 'cancelled',
    error?: { code: string; message: string },
  ): AgentEvent {
    const finalResponse = this.#text === '' ? null : this.#text;
    return {
      type: EventType.AgentCompleted,
      data: { status, final_response: finalResponse, ...(error === undefined ? {} : { error }) },
    };
  }
}

/** A tool's input as `tool_args`: an object as is, anything else as `{ input }`. */
function toolArgs(input: unknown): JsonObject {
  return isObject(input) ? input : { input };
}
