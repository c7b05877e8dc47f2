import type { WireFrame } from '../engine/replay-buffer.js';
import type { Logger } from '../observability/logger.js';
import type { CloseCode } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/error-codes.js';
import type { StoredEvent } from '../protocol/events.js';
import type { ErrorDetails } from '../protocol/frames.js';
import type { HubMember } from './user-hub.js';

/**
 * One authenticated connection of a user, as the frame router, the join and the hub see it: who it is,
 * how to write to it, how it ends. Connection is the implementation; the router and the join depend on
 * this instead, so they can be tested without a socket and need no import of the Connection class.
 */
export interface Session extends HubMember {
  /** The connection id, sent in the welcome. */
  readonly id: string;
  /** The verified user; set before the session joins the hub. */
  readonly userId: string;
  /** Logger bound to this connection. */
  readonly log: Logger;
  /** A method, not a getter, so checks after an await are not narrowed away by the compiler. */
  isClosed(): boolean;
  /** Writes one control frame (welcome, ack, error…); a no-op once the socket is no longer open. */
  send(frame: WireFrame): void;
  /**
   * Writes one event's frame. The WebSocket writes the frame as it is; Server-Sent Events also need the
   * event's `epoch:seq` for its `id:` line (docs/protocol.md H).
   */
  sendEvent(event: StoredEvent, frame: WireFrame): void;
  /** Sends an error frame (docs/protocol.md §6); it never closes by itself. */
  sendError(code: ErrorCode, message: string, id?: string | number, details?: ErrorDetails): void;
  /** Closes with a code of the docs/protocol.md §7 table. Idempotent. */
  close(code: CloseCode, reason: string): void;
  /** Takes a refreshed token of the same user (`auth` on an open connection, docs/protocol.md §2). */
  refreshToken(token: string): Promise<void>;
  /** Takes a delivery receipt: the client handed events up to `seq` to its application (`seen`, B). */
  markSeen(seq: number): void;
}
