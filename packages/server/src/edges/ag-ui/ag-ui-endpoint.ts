import type { IncomingMessage, ServerResponse } from 'node:http';
import { contentToText, type Message } from '@ag-ui/core';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import type { RunSnapshot } from '@agentcast/client';
import type { AgentRuntime } from '../../agents/agent-runtime.js';
import type { ConversationMessage } from '../../agents/define-agent.js';
import type { Config } from '../../config/config.js';
import type { Engine } from '../../engine/engine.js';
import type { AuthContext, RevocationContext } from '../../gateway/authenticate-session.js';
import { NO_BODY, readJsonBody, sendError } from '../../gateway/http-api.js';
import { runIdSegment } from '../../gateway/http-reply.js';
import type { RunFollower, RunStreamFrom, RunStreamSink, RunStreams } from '../../gateway/run-stream.js';
import type { StreamHeartbeat } from '../../gateway/stream-heartbeat.js';
import { requireUser, sendStartRefusal } from '../../gateway/user-api.js';
import { closeIfSlow } from '../../gateway/user-stream.js';
import { isEngineUnavailable } from '../../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../../protocol/error-codes.js';
import { EventType, ID_MAX_LENGTH, idSchema, type StoredEvent } from '../../protocol/events.js';
import { parseBody } from '../../protocol/http-bodies.js';
import { resumeFromLastEventId } from '../sse/sse-frame.js';
import { type AgUiFrame, AgUiRunEncoder, agUiSseFrame } from './ag-ui-encoder.js';

/** What the AG-UI routes need from their gateway: the session core and the one run control. */
export interface AgUiContext extends AuthContext, RevocationContext {
  readonly config: Pick<Config, 'agUiMaxBodyBytes' | 'maxBufferedBytes'>;
  readonly engine: RevocationContext['engine'] & Pick<Engine, 'runSnapshot'>;
  readonly runs: Pick<AgentRuntime, 'start'>;
  readonly runStreams: Pick<RunStreams, 'subscribe'>;
  /** Keeps open streams alive through proxies while a run is quiet (a question waiting for its user). */
  readonly heartbeat: Pick<StreamHeartbeat, 'add' | 'delete'>;
}

const RUN_PATH = /^\/v1\/ag-ui\/runs\/([^/]+)$/;

/** Whether `path` is one of the AG-UI routes (docs/protocol.md I). */
export function isAgUiRoute(path: string): boolean {
  return path === '/v1/ag-ui' || RUN_PATH.test(path);
}

/**
 * The AG-UI routes (docs/protocol.md I), with the user's JWT: `POST /v1/ag-ui` starts a run from a
 * RunAgentInput and streams it back as AG-UI events; `GET /v1/ag-ui/runs/:run_id` streams a run from the
 * start or after `Last-Event-ID`. False for any other path.
 */
export async function handleAgUi(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AgUiContext,
  url: URL,
): Promise<boolean> {
  const path = url.pathname;
  const run = RUN_PATH.exec(path);
  if (path !== '/v1/ag-ui' && run === null) return false;
  const method = run === null ? 'POST' : 'GET';
  if (req.method !== method) {
    sendError(res, 405, HttpErrorCode.MethodNotAllowed, `use ${method}`, { Allow: method });
    return true;
  }
  const auth = await requireUser(req, res, ctx);
  if (auth === undefined) return true;
  try {
    if (run === null) await startRun(req, res, ctx, auth.userId);
    else await streamRun(req, res, ctx, auth.userId, run[1] as string, url);
  } catch (err) {
    if (!isEngineUnavailable(err)) throw err;
    if (res.headersSent) res.end();
    else unavailable(res);
  }
  return true;
}

function unavailable(res: ServerResponse): void {
  sendError(res, 503, ErrorCode.Unavailable, 'the engine is unavailable; retry later', {
    'Retry-After': '1',
  });
}

/** The AG-UI roles a conversation passes to an agent (RunInputContext.messages); the rest are left out. */
const CONVERSATION_ROLES: ReadonlySet<string> = new Set(['user', 'assistant', 'system', 'developer', 'tool']);

function textOf(message: Message): string {
  const content = (message as { content?: unknown }).content;
  if (typeof content === 'string') return content;
  return Array.isArray(content) ? contentToText(content as Parameters<typeof contentToText>[0]) : '';
}

/**
 * POST /v1/ag-ui: the RunAgentInput's last user message starts a run through the one run control, as a
 * `user_message` would (idempotent by the message's id, same agents and limits), and the response streams
 * that run (docs/protocol.md I). A closed response only detaches: the run goes on.
 */
async function startRun(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AgUiContext,
  userId: string,
): Promise<void> {
  const json = await readJsonBody(req, res, ctx.config.agUiMaxBodyBytes, ' (--ag-ui-max-body-bytes)');
  if (json === NO_BODY) return;
  const parsed = parseBody(RunAgentInputSchema, json.value);
  if (!parsed.ok) return sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
  const input = parsed.value;
  const messages = input.messages as Message[];
  const last = messages.findLast((m) => m.role === 'user');
  const text = last === undefined ? '' : textOf(last);
  if (last === undefined || text === '') {
    return sendError(
      res,
      400,
      ErrorCode.InvalidMessage,
      'messages: needs a user message with text, the last one starts the run',
    );
  }
  for (const [field, value] of [
    ['threadId', input.threadId],
    [`messages.${messages.indexOf(last)}.id`, last.id],
  ] as const) {
    if (!idSchema.safeParse(value).success) {
      return sendError(
        res,
        400,
        ErrorCode.InvalidMessage,
        `${field}: must be 1..${ID_MAX_LENGTH} characters`,
      );
    }
  }
  const conversation: ConversationMessage[] = messages
    .filter((m) => CONVERSATION_ROLES.has(m.role))
    .map((m) => ({ id: m.id, role: m.role as ConversationMessage['role'], content: textOf(m) }));
  // Subscribed before the run starts (docs/protocol.md §4): nothing of the run can be missed.
  const follower = await ctx.runStreams.subscribe(userId);
  let started: Awaited<ReturnType<AgUiContext['runs']['start']>>;
  try {
    started = await ctx.runs.start(userId, {
      messageId: last.id,
      text,
      threadId: input.threadId,
      context: {
        messages: conversation,
        state: input.state,
        forwardedProps: input.forwardedProps,
        raw: { protocol: 'ag-ui', messages },
      },
    });
  } catch (err) {
    follower.close();
    throw err;
  }
  if (!started.ok) {
    follower.close();
    return sendStartRefusal(res, started);
  }
  const encoder = new AgUiRunEncoder({ runId: started.runId, threadId: input.threadId });
  await follow(res, ctx, follower, started.runId, { kind: 'start' }, encoder, true);
}

/**
 * GET /v1/ag-ui/runs/:run_id: the run's AG-UI events after `Last-Event-ID` (or `?since=<epoch>:<seq>`),
 * then live; without either, the run so far (its snapshot) then live. 404 for an unknown run or another
 * user's (docs/protocol.md I).
 */
async function streamRun(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AgUiContext,
  userId: string,
  segment: string,
  url: URL,
): Promise<void> {
  const runId = runIdSegment(res, segment);
  if (runId === undefined) return;
  const header = req.headers['last-event-id'];
  const given =
    (Array.isArray(header) ? header.join(',') : header) || url.searchParams.get('since') || undefined;
  const position = resumeFromLastEventId(given);
  if (position === null) {
    return sendError(
      res,
      400,
      ErrorCode.InvalidMessage,
      'Last-Event-ID: must be <epoch>:<seq>, an id this stream wrote (or ?since= with the same)',
    );
  }
  const follower = await ctx.runStreams.subscribe(userId);
  let snapshot: RunSnapshot | undefined;
  try {
    snapshot = await ctx.engine.runSnapshot(userId, runId);
  } catch (err) {
    follower.close();
    throw err;
  }
  if (snapshot === undefined) {
    follower.close();
    return sendError(res, 404, HttpErrorCode.NotFound, `no run ${runId}`);
  }
  const threadId = snapshot.thread_id ?? runId;
  if (position === undefined) {
    await follow(
      res,
      ctx,
      follower,
      runId,
      { kind: 'start' },
      new AgUiRunEncoder({ runId, threadId }),
      false,
    );
    return;
  }
  const from = { kind: 'after', epoch: position.epoch as string, seq: position.since as number } as const;
  await follow(res, ctx, follower, runId, from, new ResumeAlignment(runId, threadId, snapshot, from), false);
}

/** What encodes a run for one response: the encoder itself, or a ResumeAlignment in front of it. */
interface RunEncoding {
  event(ev: StoredEvent): AgUiFrame[];
  snapshot(snapshot: RunSnapshot, reason: 'start' | 'reset'): AgUiFrame[];
  /** Frames held back, given when the stream ends. */
  flush?(): AgUiFrame[];
}

/**
 * A resume after `from` must name text messages as the first stream did: they count the run's tool
 * calls before them. The snapshot read when the resume began counts the tool calls up to its `last_seq`;
 * the run's events after `from` up to there are held until they are all in (history gives them first),
 * and the tool calls among them are taken off the count. Then the encoder starts with the count at `from`.
 */
class ResumeAlignment implements RunEncoding {
  readonly #runId: string;
  readonly #threadId: string;
  readonly #snapshot: RunSnapshot;
  #held: StoredEvent[] | undefined = [];
  #encoder: AgUiRunEncoder | undefined;

  constructor(runId: string, threadId: string, snapshot: RunSnapshot, from: { epoch: string; seq: number }) {
    this.#runId = runId;
    this.#threadId = threadId;
    this.#snapshot = snapshot;
    // Nothing after `from` is in the snapshot (or it is of another epoch): the count is the snapshot's.
    if (snapshot.epoch !== from.epoch || snapshot.last_seq <= from.seq) this.#begin(snapshot.tools.length);
  }

  #begin(toolCallsBefore: number): AgUiRunEncoder {
    this.#encoder = new AgUiRunEncoder({ runId: this.#runId, threadId: this.#threadId, toolCallsBefore });
    return this.#encoder;
  }

  event(ev: StoredEvent): AgUiFrame[] {
    if (this.#encoder !== undefined) return this.#encoder.event(ev);
    (this.#held as StoredEvent[]).push(ev);
    if (ev.seq < this.#snapshot.last_seq && ev.type !== EventType.AgentCompleted) return [];
    return this.flush();
  }

  snapshot(snapshot: RunSnapshot, reason: 'start' | 'reset'): AgUiFrame[] {
    // A reset: history could not serve the position; the snapshot says everything, from a fresh encoder.
    this.#held = [];
    return (this.#encoder ?? this.#begin(0)).snapshot(snapshot, reason);
  }

  flush(): AgUiFrame[] {
    if (this.#encoder !== undefined) return [];
    const held = this.#held ?? [];
    this.#held = undefined;
    const calls = held.filter(
      (ev) => ev.type === EventType.ToolExecuting && ev.seq <= this.#snapshot.last_seq,
    );
    const encoder = this.#begin(Math.max(0, this.#snapshot.tools.length - calls.length));
    return held.flatMap((ev) => encoder.event(ev));
  }
}

/**
 * Follows `runId` into `res` as AG-UI SSE frames (docs/protocol.md I) until the run ends, the stream is
 * lost (the client resumes with its last id) or the client goes away (that only detaches).
 */
async function follow(
  res: ServerResponse,
  { heartbeat, config: { maxBufferedBytes } }: Pick<AgUiContext, 'heartbeat' | 'config'>,
  follower: RunFollower,
  runId: string,
  from: RunStreamFrom,
  encoding: RunEncoding,
  pending: boolean,
): Promise<void> {
  let gone = false;
  let close: (() => void) | undefined;
  res.on('close', () => {
    gone = true;
    heartbeat.delete(res);
    close?.();
  });
  const open = (): void => {
    if (res.headersSent) return;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    heartbeat.add(res);
  };
  const write = (frames: readonly AgUiFrame[]): void => {
    if (gone || frames.length === 0) return;
    open();
    // The slow-consumer rule of every transport (closeIfSlow): bytes still unsent from earlier writes
    // over max_buffered_bytes drop the stream; the client resumes from the last id it got.
    closeIfSlow(
      {
        close: () => {
          gone = true;
          res.destroy();
        },
      },
      res.writableLength,
      maxBufferedBytes,
    );
    if (!gone) res.write(frames.map(agUiSseFrame).join(''));
  };
  const sink: RunStreamSink = {
    snapshot: (snapshot, reason) => write(encoding.snapshot(snapshot, reason)),
    event: (event) => write(encoding.event(event)),
    end: () => {
      write(encoding.flush?.() ?? []);
      open();
      heartbeat.delete(res);
      res.end();
    },
  };
  const followed = await follower.follow(runId, from, sink, { pending });
  if (!followed.ok) {
    if (res.headersSent) res.end();
    else if (followed.code === 'NOT_FOUND') sendError(res, 404, HttpErrorCode.NotFound, `no run ${runId}`);
    else unavailable(res);
    return;
  }
  close = followed.close;
  if (gone) followed.close();
  else if (!res.writableEnded) {
    open();
    res.flushHeaders();
  }
}
