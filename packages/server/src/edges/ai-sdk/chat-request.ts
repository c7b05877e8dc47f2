import { z } from 'zod';
import type { ConversationMessage, RunInputContext } from '../../agents/define-agent.js';
import { ID_MAX_LENGTH, idSchema } from '../../protocol/events.js';
import { formatIssues } from '../../protocol/issues.js';

/**
 * The body `DefaultChatTransport` POSTs and the `send` frame of `WebSocketChatTransport` (docs/protocol.md J):
 * `id` (the chat), `messages` (UI messages), `trigger`, `messageId`, plus the app's own `body` fields. The
 * messages are checked as the SDK's `validateUIMessages` checks them, so a body the SDK would refuse is
 * refused here with a 400 naming the field, and one it accepts is accepted.
 */

/** The states of a tool part (the SDK's `ToolUIPart` / `DynamicToolUIPart`). */
const TOOL_STATES = [
  'input-streaming',
  'input-available',
  'approval-requested',
  'approval-responded',
  'output-available',
  'output-error',
  'output-denied',
] as const;

/** Part types of the SDK besides text, reasoning, tools and `data-*`; their fields are the SDK's business. */
const OTHER_PART_TYPES = new Set([
  'custom',
  'source-url',
  'source-document',
  'file',
  'reasoning-file',
  'steering-message',
  'step-start',
]);

const approvalSchema = z.looseObject({
  id: z.string(),
  approved: z.boolean().optional(),
  reason: z.string().optional(),
});

const toolPartSchema = z
  .looseObject({
    type: z.string(),
    toolCallId: z.string(),
    toolName: z.string().optional(),
    state: z.enum(TOOL_STATES),
    approval: approvalSchema.optional(),
  })
  .superRefine((part, ctx) => {
    if (part.type === 'dynamic-tool' && part.toolName === undefined) {
      ctx.addIssue({ code: 'custom', message: 'required', path: ['toolName'] });
    }
    const needsAnswer = part.state === 'approval-responded' || part.state === 'output-denied';
    if (part.state === 'approval-requested' || needsAnswer) {
      if (part.approval === undefined)
        ctx.addIssue({ code: 'custom', message: 'required', path: ['approval'] });
      else if (part.state === 'approval-responded' && part.approval.approved === undefined) {
        ctx.addIssue({ code: 'custom', message: 'required', path: ['approval', 'approved'] });
      }
    }
  });

const partSchema = z.looseObject({ type: z.string() }).superRefine((part, ctx) => {
  const issue = (message: string, path: (string | number)[]) =>
    ctx.addIssue({ code: 'custom', message, path });
  const { type } = part;
  const fields = part as Record<string, unknown>;
  if (type === 'text' || type === 'reasoning') {
    if (typeof fields.text !== 'string') issue('required, a string', ['text']);
    return;
  }
  if (type.startsWith('tool-') || type === 'dynamic-tool') {
    const tool = toolPartSchema.safeParse(part);
    if (!tool.success) for (const i of tool.error.issues) issue(i.message, i.path as (string | number)[]);
    return;
  }
  if (type.startsWith('data-') || OTHER_PART_TYPES.has(type)) return;
  issue('unknown part type; expected text, reasoning, step-start, a "tool-*" or "data-*" type, …', ['type']);
});

const messageSchema = z
  .looseObject({
    id: z.string(),
    role: z.enum(['system', 'user', 'assistant']),
    metadata: z.unknown().optional(),
    parts: z.array(partSchema),
  })
  .superRefine((message, ctx) => {
    if (message.role !== 'assistant' && message.parts.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must contain at least one part', path: ['parts'] });
    }
  });

const chatBodySchema = z.looseObject({
  id: idSchema,
  messages: z.array(messageSchema).min(1, 'must not be empty'),
  trigger: z.enum(['submit-message', 'regenerate-message']).optional(),
  messageId: z.string().optional(),
  agent: z.string().min(1).max(64).optional(),
});

/** One UI message as received (checked as above). */
export type UiMessageIn = z.infer<typeof messageSchema>;

/** An answer the user gave to an approval, found in the assistant message the SDK resends. */
export interface ApprovalResponseIn {
  readonly approvalId: string;
  readonly approved: boolean;
  readonly reason?: string | undefined;
}

/** A chat request, checked. */
export interface ChatRequest {
  /** The chat id: the run's `thread_id`. */
  readonly chatId: string;
  readonly messages: readonly UiMessageIn[];
  /**
   * The last user message: its `id` is the run's idempotency key (`user_message.id`), its text parts joined
   * are the run's text.
   */
  readonly userMessage: { readonly id: string; readonly text: string };
  /** Approval answers in the last message when it is the assistant's (`addToolApprovalResponse` + resend). */
  readonly approvals: readonly ApprovalResponseIn[];
  /** The body's `agent` field: which agent runs it, as `user_message.data.agent` (the default agent when absent). */
  readonly agent?: string | undefined;
  /** The body's fields besides the SDK's own: the app's `body` option, passed to the agent untouched. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** The fields of the body that are the SDK's own, not the app's. */
const SDK_FIELDS = new Set(['id', 'messages', 'trigger', 'messageId', 'agent']);
/** WebSocket `send` frames carry these too; they are the transport's, not the app's. */
const FRAME_FIELDS = new Set(['type', 'requestId', 'headers', 'body', 'metadata']);

/** The text of a UI message: its text parts, joined. */
function textOf(message: UiMessageIn): string {
  let text = '';
  for (const part of message.parts) {
    const fields = part as Record<string, unknown>;
    if (part.type === 'text' && typeof fields.text === 'string') text += fields.text;
  }
  return text;
}

/**
 * Checks a chat body (a parsed JSON value). The message names the first failing fields
 * (`messages.0.parts.1.text: required`), as every 400 of the gateway does.
 */
export function parseChatRequest(
  json: unknown,
): { readonly ok: true; readonly value: ChatRequest } | { readonly ok: false; readonly message: string } {
  const parsed = chatBodySchema.safeParse(json);
  if (!parsed.success) {
    const message = formatIssues(parsed.error);
    return {
      ok: false,
      message: /^id:/.test(message) ? `${message} (the chat id, 1..${ID_MAX_LENGTH} characters)` : message,
    };
  }
  const body = parsed.data;
  const lastUser = body.messages.findLast((m) => m.role === 'user');
  if (lastUser === undefined) return { ok: false, message: 'messages: must contain a user message' };
  const userId = idSchema.safeParse(lastUser.id);
  if (!userId.success) {
    return {
      ok: false,
      message: `messages.${body.messages.lastIndexOf(lastUser)}.id: the last user message's id must be 1..${ID_MAX_LENGTH} characters`,
    };
  }
  const last = body.messages.at(-1);
  const approvals: ApprovalResponseIn[] = [];
  if (last?.role === 'assistant') {
    for (const part of last.parts) {
      const fields = part as Record<string, unknown>;
      const approval = fields.approval as z.infer<typeof approvalSchema> | undefined;
      if (fields.state === 'approval-responded' && approval?.approved !== undefined) {
        approvals.push({ approvalId: approval.id, approved: approval.approved, reason: approval.reason });
      }
    }
  }
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!SDK_FIELDS.has(key) && !FRAME_FIELDS.has(key)) extra[key] = value;
  }
  return {
    ok: true,
    value: {
      chatId: body.id,
      messages: body.messages,
      userMessage: { id: userId.data, text: textOf(lastUser) },
      approvals,
      agent: body.agent,
      extra,
    },
  };
}

/**
 * What the run's agent gets with the message (docs/protocol.md E, AgentInput.context): the conversation as
 * text, the app's extra fields, and the UI messages as received for an AI SDK backend behind the gateway.
 */
export function runContextOf(request: ChatRequest): RunInputContext {
  const messages: ConversationMessage[] = request.messages.map((m) => ({
    id: m.id,
    role: m.role,
    content: textOf(m),
  }));
  return {
    messages,
    forwardedProps: request.extra,
    raw: { protocol: 'ai-sdk', messages: request.messages },
  };
}
