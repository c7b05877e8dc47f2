import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import type { JsonObject } from '../protocol/events.js';
import type { ApprovalRequest, ApprovalResult } from './run-approval.js';

/**
 * One event an agent yields: `{ type, data }` as in docs/protocol.md §3. The runtime adds `run_id` (any
 * `run_id` the agent sets is replaced), validates it with the protocol schema and stores it.
 */
export interface AgentEvent {
  readonly type: string;
  readonly data: JsonObject;
}

/** What started the run: the user's message (docs/protocol.md §6 `user_message`). */
export interface AgentInput {
  /** The message text. */
  readonly text: string;
  /** The client's idempotency key of the message (`user_message.id`). */
  readonly messageId: string;
  /** `user_message.data.thread_id`, when the client sent one. */
  readonly threadId?: string | undefined;
  /**
   * What the client sent with the message beyond its text, when it came through an edge that carries a
   * conversation (AG-UI's `RunAgentInput`, the AI SDK's chat body; docs/protocol.md E). Absent for a plain
   * `user_message`. Bounded by the route's body limit.
   */
  readonly context?: RunInputContext | undefined;
}

/** One message of a conversation as an edge received it (AG-UI `messages`, AI SDK UI messages' text). */
export interface ConversationMessage {
  readonly id: string;
  readonly role: 'user' | 'assistant' | 'system' | 'developer' | 'tool';
  /** The message's text (the AI SDK's text parts joined). */
  readonly content: string;
}

/** The conversation and state an edge passes to the run's agent (see {@link AgentInput.context}). */
export interface RunInputContext {
  /** The conversation so far, oldest first, the new user message last. */
  readonly messages?: readonly ConversationMessage[] | undefined;
  /** AG-UI `state`: the front end's shared state, passed through untouched. */
  readonly state?: unknown;
  /** AG-UI `forwardedProps` / the AI SDK's extra `body` fields, passed through untouched. */
  readonly forwardedProps?: unknown;
  /** The protocol's own messages as received (AI SDK UI messages), for an upstream of the same protocol. */
  readonly raw?: { readonly protocol: 'ag-ui' | 'ai-sdk'; readonly messages: readonly unknown[] } | undefined;
}

/**
 * A tool body for {@link AgentContext.tool}. It gets the run's signal: abort work when it fires.
 * Its return value becomes `tool_completed.data.results` (`undefined` is sent as `null`).
 */
export type ToolFn<T> = (signal: AbortSignal) => T | Promise<T>;

/** The stream of events an agent produces; its return value (a string) may be the final response. */
export type AgentEventStream = AsyncGenerator<AgentEvent, unknown, undefined>;

/** What the runtime gives each run. */
export interface AgentContext {
  /**
   * Aborted when the run is cancelled, times out or the gateway drains. The run's terminal event is
   * published without waiting for the agent, so an agent that ignores it only wastes its own work.
   */
  readonly signal: AbortSignal;
  /** The user the run belongs to (the JWT `sub`). */
  readonly userId: string;
  /** The run's id (`r_…`), on every event of the run. */
  readonly runId: string;
  /**
   * The run's W3C trace context (`00-<trace id>-<span id>-01`, a new trace per run): the webhook agent
   * sends it to the backend as the `traceparent` header (docs/protocol.md D, "Trace context").
   */
  readonly traceparent: string;
  /**
   * Runs `fn` as a tool call, framed by `tool_executing` and `tool_completed` (with an `execution_id`
   * it assigns, `duration_ms` and `success`). Delegate to it with `yield*`, which also hands back the
   * tool's result:
   * ```ts
   * const hits = yield* ctx.tool('web_search', { query }, (signal) => search(query, signal));
   * ```
   * When `fn` throws, `tool_completed` carries `success: false`, `results: null` and
   * `error: { code: 'TOOL_ERROR', message }`, then the error is rethrown: catch it to carry on, or let it
   * end the run as `failed` / `AGENT_ERROR`. The message is `the tool failed` (the error is logged) unless
   * `fn` threw an `AgentRunError`, whose message is meant for users.
   */
  tool<T>(name: string, args: JsonObject, fn: ToolFn<T>): AsyncGenerator<AgentEvent, T, undefined>;
  /**
   * Asks the user before acting (docs/protocol.md G): stores an `approval_requested`, shown on every tab,
   * and resolves once with the decision stored for it: `approved` or `denied` by the first answer from any
   * tab or node, `expired` after `timeout_ms` (`--approval-timeout-ms` by default), `cancelled` when the
   * run ends first. The run's timeout does not run while it waits. One question at a time.
   * ```ts
   * const { decision } = await ctx.approval({ tool_name: 'send_email', tool_args: { to }, message: `Send to ${to}?` });
   * if (decision === 'approved') yield* ctx.tool('send_email', { to }, () => send(to));
   * ```
   */
  approval(request: ApprovalRequest): Promise<ApprovalResult>;
}

/**
 * An agent: a name users pick it by (`user_message.data.agent`) and an async generator of events.
 * The runtime publishes `agent_started` itself before calling `run`, and ends the run with exactly one
 * `agent_completed`: the one the agent yields, or one the runtime builds (docs/protocol.md §3).
 */
export interface AgentDefinition {
  readonly name: string;
  run(input: AgentInput, ctx: AgentContext): AgentEventStream;
}

/** Agent names: what `user_message.data.agent` may carry (1..64 characters). */
const AGENT_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * Declares an agent. Throws AC_ERR_AGENT_INVALID naming the problem when the definition is malformed.
 * ```ts
 * const echo = defineAgent({
 *   name: 'echo',
 *   async *run(input) {
 *     yield { type: 'stream_chunk', data: { text: input.text } };
 *     return input.text; // becomes agent_completed.final_response
 *   },
 * });
 * ```
 */
export function defineAgent(definition: AgentDefinition): AgentDefinition {
  if (typeof definition.name !== 'string' || !AGENT_NAME.test(definition.name)) {
    throw agentInvalid(
      `defineAgent: name ${JSON.stringify(definition.name)} must match ${AGENT_NAME.source}`,
    );
  }
  if (typeof definition.run !== 'function') {
    throw agentInvalid(`defineAgent: agent "${definition.name}" needs a run(input, ctx) async generator`);
  }
  return Object.freeze({ name: definition.name, run: definition.run.bind(definition) });
}

/** The error of a malformed agent definition or registration: AC_ERR_AGENT_INVALID (docs/protocol.md). */
export function agentInvalid(message: string): AgentcastError {
  return new AgentcastError(AgentcastErrorCode.AgentInvalid, message);
}
