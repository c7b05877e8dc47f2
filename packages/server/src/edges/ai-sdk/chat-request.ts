import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ConversationMessage, RunInputContext } from '../../agents/define-agent.js';
import { type approvalSchema, chatBodySchema, type messageSchema } from '../../protocol/ai-sdk-chat.js';
import { ID_MAX_LENGTH, idSchema } from '../../protocol/events.js';
import { formatIssues } from '../../protocol/issues.js';

/**
 * The body `DefaultChatTransport` POSTs and the `send` frame of `WebSocketChatTransport` (docs/protocol.md J):
 * `id` (the chat), `messages` (UI messages), `trigger`, `messageId`, plus the app's own `body` fields. The
 * messages are checked as the SDK's `validateUIMessages` checks them, so a body the SDK would refuse is
 * refused here with a 400 naming the field, and one it accepts is accepted.
 */

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
  /**
   * The run's idempotency key (`user_message.id`, E): the last user message's id, or for `regenerate-message`
   * a key of that id and the regenerated message's (`messageId`), so a regenerate starts a new run and a
   * retried one does not start two.
   */
  readonly runKey: string;
  /** Approval answers in the last message when it is the assistant's (`addToolApprovalResponse` + resend). */
  readonly approvals: readonly ApprovalResponseIn[];
  /** The body's `agent` field: which agent runs it, as `user_message.data.agent` (the default agent when absent). */
  readonly agent?: string | undefined;
  /** The body's `on_busy` field: this message's busy policy, as `user_message.data.on_busy` (E). */
  readonly onBusy?: 'reject' | 'enqueue' | 'interrupt' | undefined;
  /** The body's fields besides the SDK's own: the app's `body` option, passed to the agent untouched. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** The fields of the body that are the SDK's own, not the app's. */
const SDK_FIELDS = new Set(['id', 'messages', 'trigger', 'messageId', 'agent', 'on_busy']);
/** WebSocket `send` frames carry these too; they are the transport's, not the app's. */
const FRAME_FIELDS = new Set(['type', 'requestId', 'headers', 'body', 'metadata']);

/** The idempotency key of a regenerate: `regenerate:` and a digest of the two ids (at most 128 characters). */
function regenerateKey(userMessageId: string, messageId: string | undefined): string {
  const digest = createHash('sha256')
    .update(`${userMessageId}\n${messageId ?? ''}`)
    .digest('base64url');
  return `regenerate:${digest}`;
}

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
      runKey:
        body.trigger === 'regenerate-message' ? regenerateKey(userId.data, body.messageId) : userId.data,
      approvals,
      agent: body.agent,
      onBusy: body.on_busy,
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
