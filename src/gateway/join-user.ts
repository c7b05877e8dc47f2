import type { ReplayPosition } from '../engine/replay-buffer.js';
import { CloseCode } from '../protocol/close-codes.js';
import { encodeEvent } from '../protocol/events.js';
import { encodeServerFrame, type ResumeOutcome } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { ConnectionContext } from './connection-context.js';

/** A client's resume request: the last seq it saw and that seq's epoch (PROTOCOL.md §4). */
export interface ResumeRequest {
  readonly since?: number | undefined;
  readonly epoch?: string | undefined;
}

/**
 * Joins an authenticated connection to its user and writes the welcome and the replay (PROTOCOL.md
 * §2, §4). §4: subscribe before reading history, or events published in between are lost; the
 * connection's ReplayBuffer holds live events until this returns the position the replay reached.
 * Returns null when the connection closed meanwhile.
 */
export async function joinUser(
  conn: Connection,
  ctx: ConnectionContext,
  request: ResumeRequest,
): Promise<ReplayPosition | null> {
  const { engine, hub, config } = ctx;
  await hub.join(conn);
  if (conn.isClosed()) return null;
  const since = request.since;
  let result = await engine.history(conn.userId, {
    since: since ?? 0,
    epoch: request.epoch,
    limit: config.historySize,
  });
  if (conn.isClosed()) return null;
  const head = result.head;
  const resume: ResumeOutcome = since === undefined ? 'none' : result.kind === 'ok' ? 'ok' : 'reset';
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
  if (resume !== 'ok') return { epoch: head.epoch, lastSentSeq: head.seq, complete: true };
  let lastSeq = since ?? 0;
  let complete = false;
  // Page through the history until it is complete; live events keep being held meanwhile.
  while (result.kind === 'ok') {
    for (const event of result.events) {
      conn.send(encodeEvent(event));
      lastSeq = event.seq;
    }
    ctx.metrics.eventsDelivered.inc(result.events.length);
    complete = result.complete;
    if (complete || result.events.length === 0 || conn.isClosed()) break;
    result = await engine.history(conn.userId, {
      since: lastSeq,
      epoch: head.epoch,
      limit: config.historySize,
    });
    if (result.kind === 'reset') {
      // The rest expired between two pages: the replay can no longer be exact, so end the connection;
      // its next resume is answered with `reset`.
      conn.close(CloseCode.InternalError, 'history changed during replay; resume again');
      return null;
    }
  }
  return { epoch: head.epoch, lastSentSeq: lastSeq, complete };
}
