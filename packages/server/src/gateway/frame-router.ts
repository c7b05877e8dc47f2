import { ErrorCode } from '../protocol/error-codes.js';
import { type ClientFrame, encodeServerFrame } from '../protocol/frames.js';
import type { ConnectionContext } from './connection-context.js';
import type { Session } from './session.js';

/** What the router uses of the context every connection shares: the agent runtime and the clock. */
export type RouterContext = Pick<ConnectionContext, 'runs' | 'now'>;

/** Answers one frame of an authenticated connection (docs/protocol.md §6). Never throws: failures become error frames. */
export function routeFrame(conn: Session, frame: ClientFrame, ctx: RouterContext): void {
  switch (frame.type) {
    case 'auth':
      void guard(conn, undefined, conn.refreshToken(frame.token));
      return;
    case 'ping':
      conn.send(encodeServerFrame.pong(frame.id, new Date(ctx.now()).toISOString()));
      return;
    case 'user_message':
      void guard(conn, frame.id, startRun(conn, frame, ctx));
      return;
    case 'cancel':
      void guard(conn, frame.id, cancelRun(conn, frame, ctx));
      return;
    case 'approval':
      void guard(conn, frame.id, answerApproval(conn, frame, ctx));
      return;
    case 'seen':
      conn.markSeen(frame.seq);
      return;
    default:
      assertNever(frame);
  }
}

async function startRun(
  conn: Session,
  frame: Extract<ClientFrame, { type: 'user_message' }>,
  ctx: RouterContext,
): Promise<void> {
  const { data } = frame;
  const outcome = await ctx.runs.start(conn.userId, {
    messageId: frame.id,
    text: data.text,
    threadId: data.thread_id,
    agent: data.agent,
    onBusy: data.on_busy,
  });
  if (outcome.ok)
    conn.send(encodeServerFrame.ack(frame.id, { run_id: outcome.runId, duplicate: outcome.duplicate }));
  else {
    // BUSY names the thread's run (docs/protocol.md E), so a client can show it or cancel it.
    const details = outcome.runId === undefined ? undefined : { run_id: outcome.runId };
    conn.sendError(outcome.code, outcome.message, frame.id, details);
  }
}

async function cancelRun(
  conn: Session,
  frame: Extract<ClientFrame, { type: 'cancel' }>,
  ctx: RouterContext,
): Promise<void> {
  const runId = frame.data.run_id;
  const outcome = await ctx.runs.cancel(conn.userId, runId);
  if (outcome.ok) conn.send(encodeServerFrame.ack(frame.id, { run_id: runId }));
  else conn.sendError(outcome.code, outcome.message, frame.id);
}

/** docs/protocol.md G: the first answer wins; a repeat of this frame's id is acked `duplicate`. */
async function answerApproval(
  conn: Session,
  frame: Extract<ClientFrame, { type: 'approval' }>,
  ctx: RouterContext,
): Promise<void> {
  const { approval_id: approvalId, decision, reason } = frame.data;
  const outcome = await ctx.runs.answerApproval(conn.userId, approvalId, {
    decision: decision === 'approve' ? 'approved' : 'denied',
    reason,
    key: frame.id,
  });
  if (outcome.ok) {
    conn.send(
      encodeServerFrame.ack(frame.id, {
        approval_id: approvalId,
        decision: outcome.decision,
        duplicate: outcome.duplicate,
      }),
    );
  } else {
    // G: a CONFLICT names the decision that won, for a client to show without parsing the message.
    const details = outcome.decision === undefined ? undefined : { decision: outcome.decision };
    conn.sendError(outcome.code, outcome.message, frame.id, details);
  }
}

/** Turns an unexpected failure of a handler into an INTERNAL error frame (nothing throws across the socket). */
async function guard(conn: Session, id: string | undefined, work: Promise<void>): Promise<void> {
  try {
    await work;
  } catch (err) {
    conn.log.error({ err }, 'frame handler failed');
    conn.sendError(ErrorCode.Internal, 'internal error; nothing accepted before was lost', id);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled frame ${JSON.stringify(value)}`);
}
