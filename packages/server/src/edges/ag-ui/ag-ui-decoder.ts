import type { ConversationMessage } from '../../agents/define-agent.js';
import { WebhookLineDecoder } from '../../agents/upstream-agentcast.js';
import type {
  ContinuationAnswer,
  DecoderSettings,
  UpstreamCall,
  UpstreamProtocol,
} from '../../agents/upstream-decoder.js';
import type { JsonObject } from '../../protocol/events.js';

/**
 * `--agent-protocol ag-ui` (docs/agents.md, "AG-UI backends"): the webhook agent calls a standard AG-UI
 * agent server. It POSTs a `RunAgentInput` (`@ag-ui/core`'s schema) and reads AG-UI events from the
 * reply, as SSE (`data: <event>` per event, what `@ag-ui/encoder`'s EventEncoder writes) or NDJSON,
 * mapped as docs/agents.md's table says (ag-ui-mapping.ts).
 */
export function agUiProtocol(settings: DecoderSettings): UpstreamProtocol {
  return {
    accept: 'text/event-stream',
    body: runAgentInput,
    decoder: () => new WebhookLineDecoder(settings, 'ag-ui'),
  };
}

/**
 * The `RunAgentInput` of a run: `threadId` = the message's thread (or `user:<user id>`, one stable thread
 * per user), `runId` = the run's id, `messages` = the conversation an AG-UI edge received as is, else the
 * one an edge passed as plain messages, else the user's message alone; `state` and `forwardedProps` from
 * the edge; no tools and no context (the backend owns its tools).
 */
export function runAgentInput(call: UpstreamCall): JsonObject {
  const { input } = call;
  const context = input.context;
  const raw = context?.raw?.protocol === 'ag-ui' ? context.raw.messages : undefined;
  const messages =
    raw ??
    (context?.messages === undefined
      ? [{ id: input.messageId, role: 'user', content: input.text }]
      : context.messages.flatMap(agUiMessage));
  return {
    threadId: input.threadId ?? `user:${call.userId}`,
    runId: call.runId,
    messages: [...messages],
    tools: [],
    context: [],
    state: context?.state ?? {},
    forwardedProps: context?.forwardedProps ?? {},
    ...(call.answers === undefined ? {} : { resume: call.answers.map(resumeEntry) }),
  };
}

/**
 * The answer to one AG-UI interrupt (docs/agents.md, "AG-UI interrupts"): `resolved` with the person's
 * decision, `cancelled` when nobody answered in time (the approval expired).
 */
function resumeEntry(answer: ContinuationAnswer): JsonObject {
  const answered = answer.decision === 'approved' || answer.decision === 'denied';
  return {
    interruptId: answer.ref ?? answer.approval_id,
    status: answered ? 'resolved' : 'cancelled',
    payload: {
      approved: answer.decision === 'approved',
      decision: answer.decision,
      approval_id: answer.approval_id,
      ...(answer.reason === null ? {} : { reason: answer.reason }),
    },
  };
}

/** A plain conversation message as AG-UI's: a `tool` message needs a `toolCallId` it lacks, so it is left out. */
function agUiMessage(message: ConversationMessage): JsonObject[] {
  if (message.role === 'tool') return [];
  return [{ id: message.id, role: message.role, content: message.content }];
}
