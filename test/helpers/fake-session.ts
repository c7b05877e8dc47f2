import type { WireFrame } from '../../packages/server/src/engine/replay-buffer.js';
import type { Session } from '../../packages/server/src/gateway/session.js';
import { type Logger, silentLogger } from '../../packages/server/src/observability/logger.js';
import type { CloseCode } from '../../packages/server/src/protocol/close-codes.js';
import type { ErrorCode } from '../../packages/server/src/protocol/error-codes.js';
import type { StoredEvent } from '../../packages/server/src/protocol/events.js';
import { encodeServerFrame } from '../../packages/server/src/protocol/frames.js';

/** A wire frame as the fake session received it, parsed. */
export type SentFrame = Record<string, unknown> & { readonly type: string };

/**
 * A Session without a socket, for driving the frame router and the join directly. It keeps what a
 * Connection would have written (parsed, in order), the live events the hub handed it and how it was
 * closed; like a Connection, it writes nothing once closed and its close is idempotent.
 */
export class FakeSession implements Session {
  readonly id: string;
  readonly userId: string;
  readonly log: Logger;
  /** Frames written while open, parsed. */
  readonly frames: SentFrame[] = [];
  /** Live events the hub delivered while open. */
  readonly delivered: StoredEvent[] = [];
  /** Tokens passed to refreshToken, in order. */
  readonly refreshed: string[] = [];
  /** What refreshToken does after recording the token; resolves by default. */
  onRefresh: (token: string) => Promise<void> = async () => undefined;
  closedWith: { readonly code: CloseCode; readonly reason: string } | undefined;
  /** Seqs passed to markSeen, in order. */
  readonly seen: number[] = [];

  constructor(options: { readonly userId?: string; readonly id?: string; readonly log?: Logger } = {}) {
    this.userId = options.userId ?? 'u1';
    this.id = options.id ?? 'c_test';
    this.log = options.log ?? silentLogger();
  }

  markSeen(seq: number): void {
    this.seen.push(seq);
  }

  isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  send(frame: WireFrame): void {
    if (this.isClosed()) return;
    const text = typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8');
    this.frames.push(JSON.parse(text) as SentFrame);
  }

  sendEvent(_event: StoredEvent, frame: WireFrame): void {
    this.send(frame);
  }

  sendError(code: ErrorCode, message: string, id?: string | number): void {
    this.send(encodeServerFrame.error(code, message, id));
  }

  close(code: CloseCode, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  refreshToken(token: string): Promise<void> {
    this.refreshed.push(token);
    return this.onRefresh(token);
  }

  deliver(event: StoredEvent, _frame: Buffer): boolean {
    if (this.isClosed()) return false;
    this.delivered.push(event);
    return true;
  }

  /** The frames of one type. */
  framesOf(type: string): SentFrame[] {
    return this.frames.filter((f) => f.type === type);
  }
}
