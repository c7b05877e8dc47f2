import { z } from 'zod';
import { ID_MAX_LENGTH, ILL_FORMED_ID_MESSAGE, idSchema, isWellFormed } from './events.js';

/**
 * The AI SDK edge's request shapes (docs/protocol.md J): the chat body `DefaultChatTransport` POSTs (the
 * `send` frame of `WebSocketChatTransport` carries the same fields), checked as the SDK's own
 * `validateUIMessages` checks UI messages, and the chat routes' path and answers. The edge
 * (edges/ai-sdk/chat-request.ts) validates with these; the OpenAPI document is generated from them.
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

export const approvalSchema = z.looseObject({
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

export const messageSchema = z
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

export const chatBodySchema = z.looseObject({
  id: idSchema,
  messages: z.array(messageSchema).min(1, 'must not be empty'),
  trigger: z.enum(['submit-message', 'regenerate-message']).optional(),
  messageId: z.string().optional(),
  agent: z.string().min(1).max(64).optional(),
  on_busy: z.enum(['reject', 'enqueue', 'interrupt']).optional(),
});

/** `{chat_id}` of `/v1/ai-sdk/chat/{chat_id}/…`: the chat, the runs' `thread_id`. */
export const chatPathSchema = z.object({
  chat_id: z
    .string()
    .min(1)
    .max(ID_MAX_LENGTH)
    .refine(isWellFormed, { error: ILL_FORMED_ID_MESSAGE })
    .meta({ description: `The chat id, percent-encoded; 1..${ID_MAX_LENGTH} characters` }),
});

/** `POST /v1/ai-sdk/chat/{chat_id}/cancel` when the chat has no active run. */
export const chatIdleSchema = z.object({ chat_id: z.string(), status: z.literal('idle') });
