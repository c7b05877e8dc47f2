import { z } from 'zod';
import type { CloseCode } from './close-codes.js';
import { canonicalFrameType } from './compat.js';
import { ErrorCode as Codes, type ErrorCode } from './error-codes.js';
import { idSchema } from './events.js';
import { formatIssues } from './issues.js';
import { CATCH_UP_MODES } from './resume-request.js';
import { ServerFrameType } from './server-frame-type.js';

/** The WebSocket subprotocol of this version of the wire protocol (docs/protocol.md §1). */
export const SUBPROTOCOL = 'agentcast.v1';
/** Prefix of the subprotocol that carries a token from browsers (docs/protocol.md §1, §2). */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

const sinceSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const pingIdSchema = z.union([z.string().max(128), z.number()]);

/** The data of a `user_message` frame (§6); POST /v1/messages takes the same fields (docs/protocol.md H). */
const userMessageData = z.object({
  text: z.string().min(1),
  thread_id: idSchema.optional(),
  agent: z.string().min(1).max(64).optional(),
  /** What this message does when its thread already has a run (docs/protocol.md E); `--busy-policy` when absent. */
  on_busy: z.enum(['reject', 'enqueue', 'interrupt']).optional(),
});

const clientFrameSchemas = {
  auth: z.object({
    type: z.literal('auth'),
    token: z.string().min(1).max(16384),
    since: sinceSchema.optional(),
    epoch: z.string().min(1).max(128).optional(),
    catch_up: z.enum(CATCH_UP_MODES).optional(),
  }),
  ping: z.object({ type: z.literal('ping'), id: pingIdSchema.optional() }),
  user_message: z.object({
    type: z.literal('user_message'),
    id: idSchema,
    data: userMessageData,
  }),
  cancel: z.object({
    type: z.literal('cancel'),
    id: idSchema.optional(),
    data: z.object({ run_id: idSchema }),
  }),
  approval: z.object({
    type: z.literal('approval'),
    id: idSchema,
    data: z.object({
      approval_id: idSchema,
      decision: z.enum(['approve', 'deny']),
      reason: z.string().max(1000).optional(),
    }),
  }),
  // Delivery receipt (docs/protocol.md B): the last seq the client handed to the application. No answer.
  seen: z.object({ type: z.literal('seen'), seq: sinceSchema }),
} as const;

export type AuthFrame = z.infer<typeof clientFrameSchemas.auth>;
export type PingFrame = z.infer<typeof clientFrameSchemas.ping>;
export type UserMessageFrame = z.infer<typeof clientFrameSchemas.user_message>;
export type CancelFrame = z.infer<typeof clientFrameSchemas.cancel>;
export type ApprovalFrame = z.infer<typeof clientFrameSchemas.approval>;
export type SeenFrame = z.infer<typeof clientFrameSchemas.seen>;
/** Every frame a client may send (docs/protocol.md §6, B, G), legacy aliases already mapped. */
export type ClientFrame = AuthFrame | PingFrame | UserMessageFrame | CancelFrame | ApprovalFrame | SeenFrame;
export type ClientFrameType = ClientFrame['type'];

/** A parsed frame, or the error frame to answer with (errors never close by themselves, §6). */
export type FrameParseResult =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string; readonly id?: string | number };

/** Parses one inbound text frame. Pure: no I/O, never throws. */
export function parseClientFrame(text: string): FrameParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: Codes.InvalidJson, message: 'frame is not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: Codes.InvalidMessage, message: 'frame must be a JSON object' };
  }
  const record = raw as Record<string, unknown>;
  const id = typeof record.id === 'string' || typeof record.id === 'number' ? record.id : undefined;
  const fail = (code: ErrorCode, message: string): FrameParseResult =>
    id === undefined ? { ok: false, code, message } : { ok: false, code, message, id };
  if (typeof record.type !== 'string') return fail(Codes.InvalidMessage, 'type: required string');
  const type = canonicalFrameType(record.type);
  if (!Object.hasOwn(clientFrameSchemas, type))
    return fail(Codes.UnknownType, `unknown frame type "${clientTypeLabel(record.type)}"`);
  const schema = clientFrameSchemas[type as ClientFrameType];
  const parsed = schema.safeParse(type === record.type ? record : { ...record, type });
  if (!parsed.success) return fail(Codes.InvalidMessage, formatIssues(parsed.error));
  return { ok: true, frame: parsed.data };
}

function clientTypeLabel(type: string): string {
  return type.length > 64 ? `${type.slice(0, 64)}…` : type;
}

export type { ResumeOutcome, WelcomeData } from '@agentcast/client';

import type { RunSnapshot, WelcomeData } from '@agentcast/client';

const AUTH_OK_FRAME = JSON.stringify({ type: ServerFrameType.AuthOk });

/**
 * Server frames that are not events (docs/protocol.md §2, §6). Encoded here so the wire shape lives in one
 * file; their types are {@link ServerFrameType}, which no event may use.
 */
export const encodeServerFrame = {
  welcome: (data: WelcomeData): string => JSON.stringify({ type: ServerFrameType.Welcome, data }),
  authOk: (): string => AUTH_OK_FRAME,
  pong: (id: string | number | undefined, ts: string): string =>
    JSON.stringify({ type: ServerFrameType.Pong, id, ts }),
  ack: (
    id: string | undefined,
    data:
      | { run_id: string; duplicate?: boolean }
      | { approval_id: string; decision: string; duplicate: boolean },
  ): string => JSON.stringify({ type: ServerFrameType.Ack, id, data }),
  /** `details` adds fields to `data`: `run_id` with BUSY (docs/protocol.md E), `decision` with CONFLICT (G). */
  error: (code: ErrorCode, message: string, id?: string | number, details?: ErrorDetails): string =>
    JSON.stringify({ type: ServerFrameType.Error, id, data: { code, message, ...details } }),
  runSnapshot: (data: RunSnapshot): string =>
    JSON.stringify({ type: ServerFrameType.RunSnapshot, run_id: data.run_id, data }),
  /** The last frame of an SSE stream (docs/protocol.md H): why it ends, as a WebSocket close code. */
  streamClosed: (closeCode: CloseCode, reason: string): string =>
    JSON.stringify({
      type: ServerFrameType.Error,
      data: { code: Codes.StreamClosed, message: reason, close_code: closeCode },
    }),
};

/**
 * Fields an error carries besides `code` and `message`: the thread's run of a BUSY (docs/protocol.md E), the
 * decision that won of a CONFLICT (G).
 */
export interface ErrorDetails {
  readonly run_id?: string;
  readonly decision?: string;
}

/** The body of POST /v1/messages (docs/protocol.md H): a `user_message` frame's `id` and `data` fields, flat. */
export const messageBodySchema = userMessageData.extend({ id: idSchema });
export type MessageBody = z.infer<typeof messageBodySchema>;

/** Parses the body of POST /v1/messages; a failure names the field, as for a frame. Pure, never throws. */
export function parseMessageBody(
  json: unknown,
): { readonly ok: true; readonly value: MessageBody } | { readonly ok: false; readonly message: string } {
  const parsed = messageBodySchema.safeParse(json);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, message: formatIssues(parsed.error) };
}
