import type { ReplayBuffer, WireFrame } from '../engine/replay-buffer.js';
import type { Metrics } from '../observability/metrics.js';
import { CloseCode, CloseReason } from '../protocol/close-codes.js';
import type { StoredEvent } from '../protocol/events.js';
import type { ResumeRequest } from '../protocol/resume-request.js';
import { type JoinContext, joinUser } from './join-user.js';
import type { Session } from './session.js';

/** What opening a stream uses of the context every session shares. */
export type StreamContext = JoinContext & { readonly metrics: Pick<Metrics, 'eventsDelivered'> };

/**
 * Opens an authenticated session's stream, the same for every transport (docs/protocol.md §2, §4): joins
 * the user (welcome, replay), then hands over the live events `replay` held meanwhile, each once and in
 * order. `replay` must be the one the session's `deliver` pushes to, set before this is called.
 * Returns false when the session closed, or was closed because the replay could not be completed.
 */
export async function openUserStream(
  session: Session,
  replay: ReplayBuffer,
  ctx: StreamContext,
  request: ResumeRequest,
): Promise<boolean> {
  const position = await joinUser(session, ctx, request);
  if (session.isClosed() || position === null) return false;
  const outcome = replay.finish(position);
  // An overflow never gets here: deliverLive closed the session when the buffer overflowed.
  if (outcome.kind !== 'ok') {
    session.log.warn({ outcome: outcome.kind }, 'replay could not be completed');
    session.close(CloseCode.InternalError, CloseReason.ReplayIncomplete);
    return false;
  }
  const { events, frames } = outcome;
  for (let i = 0; i < frames.length; i += 1)
    session.sendEvent(events[i] as StoredEvent, frames[i] as WireFrame);
  ctx.metrics.eventsDelivered.inc(frames.length);
  return true;
}

/**
 * Takes one live event for a session from the hub (§3, §4). While joining it is held until the replay
 * is written; afterwards each seq is written once, in order; a gap closes the session so the client
 * resumes from history rather than silently missing an event. True when the frame was written.
 */
export function deliverLive(
  session: Session,
  replay: ReplayBuffer | undefined,
  event: StoredEvent,
  frame: Buffer,
): boolean {
  if (replay === undefined) return false;
  switch (replay.push(event, frame)) {
    case 'send':
      session.sendEvent(event, frame);
      return true;
    case 'overflow':
      session.close(CloseCode.SlowConsumer, CloseReason.ReplayOverflow);
      return false;
    case 'gap':
      session.close(CloseCode.InternalError, CloseReason.LiveGap);
      return false;
    default: // buffered, skip (already sent), failed (already closing)
      return false;
  }
}

/**
 * §5, the same for every transport: once a tick's writes were flushed and the kernel took what it could,
 * a session with more than `maxBufferedBytes` still unsent is a slow consumer: it is closed with 4013, and
 * it resumes and loses nothing. Each transport reads its own unsent count (a WebSocket's bufferedAmount, an
 * SSE response's writableLength).
 */
export function closeIfSlow(
  session: Pick<Session, 'close'>,
  unsentBytes: number,
  maxBufferedBytes: number,
): void {
  if (unsentBytes > maxBufferedBytes) session.close(CloseCode.SlowConsumer, CloseReason.SlowConsumer);
}
