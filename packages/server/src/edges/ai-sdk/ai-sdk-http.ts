import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunSnapshot } from '@agentcast/client';
import type {
  ApprovalReplyResult,
  CancelResult,
  StartRequest,
  StartResult,
} from '../../agents/agent-runtime.js';
import type { Config } from '../../config/config.js';
import type { AuthContext, RevocationContext } from '../../gateway/authenticate-session.js';
import { answerCancel, NO_BODY, readJsonBody, sendError, sendJson } from '../../gateway/http-api.js';
import { decodedSegment } from '../../gateway/http-reply.js';
import type { RunFollow, RunFollower, RunStreamEnd, RunStreams } from '../../gateway/run-stream.js';
import type { StreamHeartbeat } from '../../gateway/stream-heartbeat.js';
import { requireUser, sendStartRefusal } from '../../gateway/user-api.js';
import type { Logger } from '../../observability/logger.js';
import { isEngineUnavailable } from '../../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../../protocol/error-codes.js';
import { ID_MAX_LENGTH, idSchema } from '../../protocol/events.js';
import { type ChatRequest, parseChatRequest, runContextOf } from './chat-request.js';
import { type UiMessageChunk, UiMessageEncoder } from './ui-message-encoder.js';

/** What the AI SDK routes need from their gateway: the session core and the one run control. */
export interface AiSdkContext extends AuthContext, RevocationContext {
  readonly config: Pick<Config, 'aiSdkMaxBodyBytes' | 'maxBufferedBytes'>;
  readonly runStreams: Pick<RunStreams, 'subscribe' | 'activeRunOfThread'>;
  readonly runs: {
    start(userId: string, request: StartRequest): Promise<StartResult>;
    cancel(userId: string, runId: string): Promise<CancelResult> | CancelResult;
    answerApproval(
      userId: string,
      approvalId: string,
      reply: { readonly decision: 'approved' | 'denied'; readonly reason?: string | undefined },
    ): Promise<ApprovalReplyResult>;
  };
  readonly log: Logger;
  /**
   * The gateway's one heartbeat of single-run streams (`: ping` every `--sse-heartbeat-ms`, which the SDK's
   * SSE parser skips), so proxies do not cut a stream that waits, for an approval say.
   */
  readonly heartbeat?: Pick<StreamHeartbeat, 'add' | 'delete'> | undefined;
}

/**
 * The headers of a UI message stream, as the SDK's `UI_MESSAGE_STREAM_HEADERS` lists them (docs/protocol.md
 * J): Server-Sent Events, the stream's version, and no buffering by proxies.
 */
export const UI_MESSAGE_STREAM_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
  'x-vercel-ai-ui-message-stream': 'v1',
  'X-Accel-Buffering': 'no',
};

const CHAT_PATH = '/v1/ai-sdk/chat';
const CHAT_ROUTE = /^\/v1\/ai-sdk\/chat\/([^/]+)\/(stream|cancel)$/;

/**
 * The AI SDK's HTTP routes (docs/protocol.md J), for `DefaultChatTransport`: `POST /v1/ai-sdk/chat`,
 * `GET /v1/ai-sdk/chat/:chat_id/stream`, `POST /v1/ai-sdk/chat/:chat_id/cancel`, each with the user's JWT.
 * False for any other path. CORS was decided by the caller (handleHttp), as for every user route.
 */
export async function handleAiSdkHttp(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AiSdkContext,
  path: string,
): Promise<boolean> {
  const route = CHAT_ROUTE.exec(path);
  if (path !== CHAT_PATH && route === null) return false;
  const method = route?.[2] === 'stream' ? 'GET' : 'POST';
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
    sendError(res, 405, HttpErrorCode.MethodNotAllowed, `use ${method}`, { Allow: method });
    return true;
  }
  const auth = await requireUser(req, res, ctx);
  if (auth === undefined) return true;
  let chatId: string | undefined;
  if (route !== null) {
    chatId = decodedId(route[1] as string);
    if (chatId === undefined) {
      sendError(res, 400, ErrorCode.InvalidMessage, `chat_id: must be 1..${ID_MAX_LENGTH} characters`);
      return true;
    }
  }
  try {
    if (chatId === undefined) await postChat(req, res, ctx, auth.userId);
    else if (route?.[2] === 'stream') await resumeChat(res, ctx, auth.userId, chatId, req.method === 'HEAD');
    else await cancelChat(res, ctx, auth.userId, chatId);
  } catch (err) {
    if (!isEngineUnavailable(err)) throw err;
    if (res.headersSent) res.destroy();
    else
      sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
        'Retry-After': '1',
      });
  }
  return true;
}

function decodedId(segment: string): string | undefined {
  const id = decodedSegment(segment);
  return id !== undefined && idSchema.safeParse(id).success ? id : undefined;
}

/**
 * POST /v1/ai-sdk/chat: starts a run from the chat's last user message, as `user_message` would (same
 * agents, limits, idempotency by the message id), and answers with that run's UI message stream. When the
 * last message is the assistant's with approval answers (`addToolApprovalResponse` + resend), the answers
 * settle the run's pending approvals instead, and the stream continues the run from there.
 */
async function postChat(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AiSdkContext,
  userId: string,
): Promise<void> {
  const json = await readJsonBody(req, res, ctx.config.aiSdkMaxBodyBytes, ' (ai_sdk_max_body_bytes)');
  if (json === NO_BODY) return;
  const parsed = parseChatRequest(json.value);
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  const request = parsed.value;
  // §4: subscribed before the run is started or looked up, so nothing of it is missed.
  const follower = await ctx.runStreams.subscribe(userId);
  if (request.approvals.length > 0) return continueChat(res, ctx, userId, request, follower);
  const started = await ctx.runs.start(userId, {
    messageId: request.runKey,
    text: request.userMessage.text,
    threadId: request.chatId,
    agent: request.agent,
    onBusy: request.onBusy,
    context: runContextOf(request),
  });
  if (!started.ok) {
    follower.close();
    return sendStartRefusal(res, started);
  }
  // A run just started may have no stored event yet: waited for. A duplicate's run was stored long ago.
  await streamRun(
    res,
    ctx,
    follower,
    started.runId,
    new UiMessageEncoder(),
    { kind: 'start' },
    [],
    !started.duplicate,
  );
}

/** The approval answers of a resent chat: settled through the one run control, then the run goes on. */
async function continueChat(
  res: ServerResponse,
  ctx: AiSdkContext,
  userId: string,
  request: ChatRequest,
  follower: RunFollower,
): Promise<void> {
  const settled = await answerChatApprovals(ctx, userId, request);
  if (!settled.ok) {
    follower.close();
    const status = settled.code === ErrorCode.NotFound ? 404 : 503;
    return sendError(
      res,
      status,
      settled.code,
      settled.message,
      status === 503 ? { 'Retry-After': '1' } : {},
    );
  }
  const { active } = settled;
  if (active === undefined) {
    // The run has ended meanwhile: the message the client holds is its last word.
    follower.close();
    res.writeHead(200, UI_MESSAGE_STREAM_HEADERS);
    res.end('data: [DONE]\n\n');
    return;
  }
  const encoder = new UiMessageEncoder();
  encoder.knowApprovals(active.approvals);
  const from = { kind: 'after', epoch: active.epoch, seq: active.last_seq } as const;
  await streamRun(res, ctx, follower, active.run_id, encoder, from, encoder.resume(active.run_id));
}

/** The outcome of {@link answerChatApprovals}. */
export type ChatApprovals =
  | { readonly ok: true; readonly active: RunSnapshot | undefined }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * Settles the approval answers of a resent chat through the one run control (docs/protocol.md G, J): the
 * first answer wins; a later one (CONFLICT) is no error here, the stream shows the decision that won. The
 * chat's active run is read first, so the stream can continue it after what the client already holds.
 */
export async function answerChatApprovals(
  ctx: AiSdkContext,
  userId: string,
  request: ChatRequest,
): Promise<ChatApprovals> {
  const active = await ctx.runStreams.activeRunOfThread(userId, request.chatId);
  for (const answer of request.approvals) {
    const outcome = await ctx.runs.answerApproval(userId, answer.approvalId, {
      decision: answer.approved ? 'approved' : 'denied',
      reason: answer.reason,
    });
    if (!outcome.ok && outcome.code !== ErrorCode.Conflict) {
      return { ok: false, code: outcome.code, message: outcome.message };
    }
  }
  return { ok: true, active };
}

/** GET /v1/ai-sdk/chat/:chat_id/stream: the user's active run of the chat from its first chunk, or 204. */
async function resumeChat(
  res: ServerResponse,
  ctx: AiSdkContext,
  userId: string,
  chatId: string,
  head: boolean,
): Promise<void> {
  const follower = await ctx.runStreams.subscribe(userId);
  const active = await ctx.runStreams.activeRunOfThread(userId, chatId);
  if (active === undefined || head) {
    // HEAD: whether there is something to resume, without following it.
    follower.close();
    res.writeHead(active === undefined ? 204 : 200, active === undefined ? {} : UI_MESSAGE_STREAM_HEADERS);
    res.end();
    return;
  }
  await streamRun(res, ctx, follower, active.run_id, new UiMessageEncoder(), { kind: 'start' });
}

/** POST /v1/ai-sdk/chat/:chat_id/cancel: cancels the chat's active run, on any node (`stop()` over HTTP). */
async function cancelChat(
  res: ServerResponse,
  ctx: AiSdkContext,
  userId: string,
  chatId: string,
): Promise<void> {
  const active = await ctx.runStreams.activeRunOfThread(userId, chatId);
  if (active === undefined) return sendJson(res, 200, { chat_id: chatId, status: 'idle' });
  answerCancel(res, active.run_id, await ctx.runs.cancel(userId, active.run_id));
}

/**
 * Streams one run as `data: <chunk>` lines, `data: [DONE]` once it ended. A closed response only detaches:
 * the run goes on. A stream that could not stay exact (`lost`) is cut without `[DONE]`, so the SDK sees a
 * network error and the client resumes (GET …/stream).
 */
async function streamRun(
  res: ServerResponse,
  ctx: AiSdkContext,
  follower: RunFollower,
  runId: string,
  encoder: UiMessageEncoder,
  from: { readonly kind: 'start' } | { readonly kind: 'after'; readonly epoch: string; readonly seq: number },
  opening: readonly UiMessageChunk[] = [],
  pending = false,
): Promise<void> {
  const write = (chunks: readonly UiMessageChunk[]): void => {
    if (res.destroyed || chunks.length === 0) return;
    let text = '';
    for (const chunk of chunks) text += `data: ${JSON.stringify(chunk)}\n\n`;
    res.write(text);
    // §5, as on every transport: a reader that falls this far behind is cut; it resumes and loses nothing.
    if (res.writableLength > ctx.config.maxBufferedBytes) res.destroy();
  };
  res.writeHead(200, UI_MESSAGE_STREAM_HEADERS);
  ctx.heartbeat?.add(res);
  write(opening);
  let follow: RunFollow | undefined;
  res.on('close', () => {
    ctx.heartbeat?.delete(res);
    if (follow?.ok === true) follow.close();
    else follower.close();
  });
  follow = await follower.follow(
    runId,
    from,
    {
      snapshot: (snapshot, reason) => {
        // A reset mid-continuation cannot be appended to what the client holds: cut, it resumes from the start.
        if (reason === 'reset' && from.kind === 'after') res.destroy();
        else write(encoder.snapshot(snapshot));
      },
      event: (event) => write(encoder.event(event)),
      end: (reason: RunStreamEnd) => {
        ctx.heartbeat?.delete(res); // nothing may be written after the end
        if (reason === 'lost') res.destroy();
        else if (!res.destroyed) res.end(encoder.ended ? 'data: [DONE]\n\n' : '');
      },
    },
    { pending },
  );
  if (!follow.ok) {
    // NOT_FOUND: the run's snapshot is gone (older than --run-snapshot-ttl-s): nothing left to give.
    ctx.log.debug({ run_id: runId, code: follow.code }, 'AI SDK stream could not follow its run');
    ctx.heartbeat?.delete(res);
    if (follow.code === 'NOT_FOUND') res.end();
    else res.destroy();
  } else if (res.destroyed) {
    follow.close();
  }
}
