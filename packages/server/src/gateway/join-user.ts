import type { Config } from '../config/config.js';
import type { Engine, HistoryResult, LogHead } from '../engine/engine.js';
import type { ReplayPosition } from '../engine/replay-buffer.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import { encodeEvent } from '../protocol/events.js';
import { encodeServerFrame, type ResumeOutcome } from '../protocol/frames.js';
import type { ResumeRequest } from '../protocol/resume-request.js';
import type { Session } from './session.js';
import type { UserHub } from './user-hub.js';

/** What the join uses of the context every connection shares (a ConnectionContext is one). */
export interface JoinContext {
  readonly engine: Pick<Engine, 'head' | 'history' | 'catchUp'>;
  readonly hub: Pick<UserHub<Session>, 'join'>;
  readonly config: Pick<Config, 'historySize' | 'serverId' | 'heartbeatMs'>;
  readonly metrics: Pick<Metrics, 'eventsDelivered'>;
}

/**
 * Joins an authenticated connection to its user and writes the welcome and the replay (docs/protocol.md
 * §2, §4). §4: subscribe before reading history, or events published in between are lost; the
 * connection's ReplayBuffer holds live events until this returns the position the replay reached.
 * Returns null when the connection closed meanwhile.
 */
export async function joinUser(
  conn: Session,
  ctx: JoinContext,
  request: ResumeRequest,
): Promise<ReplayPosition | null> {
  const { engine, hub } = ctx;
  await hub.join(conn);
  if (conn.isClosed()) return null;
  const { since } = request;
  const catchUp = request.catchUp === 'snapshot';
  if (since === undefined && catchUp) return sendCatchUp(conn, ctx, request);
  if (since === undefined) {
    // No resume asked: only the head is needed, never the history itself.
    const head = await engine.head(conn.userId);
    if (conn.isClosed()) return null;
    sendWelcome(conn, ctx, head, 'none');
    return { epoch: head.epoch, lastSentSeq: head.seq, complete: true };
  }
  const first = await engine.history(conn.userId, {
    since,
    epoch: request.epoch,
    limit: ctx.config.historySize,
  });
  if (conn.isClosed()) return null;
  // F: a client that asked for catch-up gets its runs' snapshots instead of a bare reset.
  if (first.kind === 'reset' && catchUp) return sendCatchUp(conn, ctx, request);
  const { head } = first;
  sendWelcome(conn, ctx, head, first.kind === 'ok' ? 'ok' : 'reset');
  if (first.kind === 'reset') return { epoch: head.epoch, lastSentSeq: head.seq, complete: true };
  return replay(conn, ctx, first, since);
}

/**
 * Catch-up (docs/protocol.md F): the head and the snapshots at that head come from one atomic engine read,
 * so each snapshot holds exactly its run's events with seq <= head.seq; the welcome announces that head, and
 * the ReplayBuffer sends only the held and live events after it. Neither a gap nor a duplicate.
 */
async function sendCatchUp(
  conn: Session,
  ctx: JoinContext,
  request: ResumeRequest,
): Promise<ReplayPosition | null> {
  const { head, runs } = await ctx.engine.catchUp(conn.userId, {
    since: request.since,
    epoch: request.epoch,
  });
  if (conn.isClosed()) return null;
  sendWelcome(conn, ctx, head, 'snapshot');
  for (const run of runs) conn.send(encodeServerFrame.runSnapshot(run));
  return { epoch: head.epoch, lastSentSeq: head.seq, complete: true };
}

function sendWelcome(conn: Session, ctx: JoinContext, head: LogHead, resume: ResumeOutcome): void {
  const { config } = ctx;
  conn.send(
    encodeServerFrame.welcome({
      connection_id: conn.id,
      user_id: conn.userId,
      server_id: config.serverId,
      epoch: head.epoch,
      seq: head.seq,
      heartbeat_ms: config.heartbeatMs,
      resume,
    }),
  );
}

/** Writes the history after `since`, page by page, while live events keep being held. */
async function replay(
  conn: Session,
  ctx: JoinContext,
  first: Extract<HistoryResult, { kind: 'ok' }>,
  since: number,
): Promise<ReplayPosition | null> {
  const { engine, config } = ctx;
  const epoch = first.head.epoch;
  let page = first;
  let lastSeq = since;
  for (;;) {
    for (const event of page.events) {
      conn.sendEvent(event, encodeEvent(event));
      lastSeq = event.seq;
    }
    ctx.metrics.eventsDelivered.inc(page.events.length);
    if (page.complete || page.events.length === 0 || conn.isClosed()) {
      return { epoch, lastSentSeq: lastSeq, complete: page.complete };
    }
    const next = await engine.history(conn.userId, { since: lastSeq, epoch, limit: config.historySize });
    if (next.kind === 'reset') {
      // The rest expired between two pages: the replay can no longer be exact, so end the connection;
      // its next resume is answered with `reset`.
      conn.close(CloseCode.InternalError, CloseReason.HistoryChanged);
      return null;
    }
    page = next;
  }
}
