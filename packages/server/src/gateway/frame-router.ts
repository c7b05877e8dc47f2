import { ErrorCode } from '../protocol/error-codes.js';
import { type ClientFrame, encodeServerFrame } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { ConnectionContext } from './connection-context.js';

/**
 * Answers one frame of an authenticated connection (docs/protocol.md §6). Never throws: failures become
 * error frames.
 */
export function routeFrame(conn: Connection, frame: ClientFrame, ctx: ConnectionContext): void {
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
    default:
      assertNever(frame);
  }
}

async function startRun(
  conn: Connection,
  frame: Extract<ClientFrame, { type: 'user_message' }>,
  ctx: ConnectionContext,
): Promise<void> {
  const { data } = frame;
  const outcome = await ctx.runs.start(conn.userId, {
    messageId: frame.id,
    text: data.text,
    threadId: data.thread_id,
    agent: data.agent,
  });
  if (outcome.ok)
    conn.send(encodeServerFrame.ack(frame.id, { run_id: outcome.runId, duplicate: outcome.duplicate }));
  else conn.sendError(outcome.code, outcome.message, frame.id);
}

async function cancelRun(
  conn: Connection,
  frame: Extract<ClientFrame, { type: 'cancel' }>,
  ctx: ConnectionContext,
): Promise<void> {
  const runId = frame.data.run_id;
  const outcome = await ctx.runs.cancel(conn.userId, runId);
  if (outcome.ok) conn.send(encodeServerFrame.ack(frame.id, { run_id: runId }));
  else conn.sendError(outcome.code, outcome.message, frame.id);
}

/** Turns an unexpected failure of a handler into an INTERNAL error frame (nothing throws across the socket). */
async function guard(conn: Connection, id: string | undefined, work: Promise<void>): Promise<void> {
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
