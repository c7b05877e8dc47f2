import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ReplayBuffer, type WireFrame } from '../../engine/replay-buffer.js';
import {
  acquireSessionSlot,
  authenticateSession,
  checkRefresh,
  closeIfRevoked,
  refusalClose,
  type SessionCredential,
} from '../../gateway/authenticate-session.js';
import type { ConnectionContext } from '../../gateway/connection-context.js';
import type { RegisteredSession } from '../../gateway/connection-registry.js';
import { sendError } from '../../gateway/http-api.js';
import type { Session } from '../../gateway/session.js';
import { handOverSocket } from '../../gateway/socket-handover.js';
import type { StreamTickets } from '../../gateway/stream-tickets.js';
import { closeIfSlow, deliverLive, openUserStream } from '../../gateway/user-stream.js';
import type { Logger } from '../../observability/logger.js';
import { isEngineUnavailable } from '../../protocol/agentcast-error.js';
import { CloseCode, CloseReason, closeCodeLabel } from '../../protocol/close-codes.js';
import type { ErrorCode } from '../../protocol/error-codes.js';
import { HttpErrorCode } from '../../protocol/error-codes.js';
import type { StoredEvent } from '../../protocol/events.js';
import { encodeServerFrame } from '../../protocol/frames.js';
import type { ResumeRequest } from '../../protocol/resume-request.js';
import { SSE_DATA, SSE_EVENT_END, SSE_PING, sseEventHead, ssePreamble } from './sse-frame.js';

/** What an SSE stream shares with every other session of its gateway, plus the ticket book. */
export type SseContext = ConnectionContext<SseSession> & {
  readonly tickets: Pick<StreamTickets, 'redeem'>;
  /** Called once when the stream is open (welcome and replay written): the heartbeat takes it. */
  readonly onOpened: (session: SseSession) => void;
};

/** What the endpoint learned from the request before the session began. */
export interface SseRequestInfo {
  readonly id: string;
  readonly ip: string;
  /** CORS headers the stream's answer carries (an allowed Origin echoed). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The close code used for metrics when the client went away: an SSE stream has no closing handshake,
 * like a WebSocket dropped without a close frame.
 */
const PEER_GONE = 1006;

const EVENT_END_BYTES = Buffer.from(SSE_EVENT_END);
const PING_BYTES = Buffer.from(SSE_PING);
const DATA_BYTES = Buffer.from(SSE_DATA);
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The SSE bytes of the last event framed, and the frame they were framed from: the hub hands one event's
 * frame (one Buffer) to every local session of its user in one loop, so every stream of that user writes
 * the same bytes, framed once, as every WebSocket of the user sends the same frame.
 */
let lastFrame: Uint8Array | undefined;
let lastBytes: Buffer = EVENT_END_BYTES;

/**
 * One Server-Sent Events stream of a user (docs/protocol.md H): `authenticating → joining → open → closed`.
 * A thin shell over the session core the WebSocket uses as well (authenticateSession, acquireSessionSlot,
 * openUserStream, deliverLive): it only frames, writes and ends. Until the stream's headers are written, a
 * refusal is a plain JSON answer (401, 503); afterwards the stream ends with one STREAM_CLOSED error frame
 * that carries the WebSocket close code of the same situation.
 */
export class SseSession implements Session, RegisteredSession {
  readonly id: string;
  readonly ip: string;
  /** When the token (or the token a ticket was issued for) expires; the expiry sweep ends the stream. */
  expiresAtMs = Number.POSITIVE_INFINITY;
  /** An SSE stream answers no pings; its liveness is TCP's, its heartbeat a comment line. */
  readonly pingsUnanswered = 0;
  #state: RegisteredSession['state'] = 'authenticating';
  #userId = '';
  #replay: ReplayBuffer | undefined;
  /**
   * The response until its socket is handed over (socket-handover.ts): before the headers a refusal is
   * written through it; once the stream is open the session keeps only the socket.
   */
  #res: ServerResponse | undefined;
  /**
   * The response's socket once the stream's headers are written: the body is written to it directly
   * (close-delimited, no chunked framing), one write per message, as a WebSocket writes its frames.
   */
  #socket: Socket | undefined;
  readonly #ctx: SseContext;
  #headers: Readonly<Record<string, string>>;
  #corked = false;
  #hasSlot = false;
  #closeCode: number = PEER_GONE;
  #log: Logger | undefined;

  constructor(res: ServerResponse, ctx: SseContext, info: SseRequestInfo) {
    this.id = info.id;
    this.ip = info.ip;
    this.#res = res;
    this.#ctx = ctx;
    this.#headers = info.headers;
    // `on`, not `once`: 'close' is emitted once anyway, and once's wrapper would be kept per stream. After
    // the hand-over the socket's 'close' ends the session; the response's own close is then not the end.
    res.on('close', () => {
      if (this.#res === res) this.#onClose();
    });
  }

  get state(): RegisteredSession['state'] {
    return this.#state;
  }

  isClosed(): boolean {
    return this.#state === 'closed';
  }

  get userId(): string {
    return this.#userId;
  }

  /** Child logger bound to this stream, created on first use. */
  get log(): Logger {
    this.#log ??= this.#ctx.log.child({
      conn_id: this.id,
      transport: 'sse',
      ...(this.#userId === '' ? {} : { user_id: this.#userId }),
    });
    return this.#log;
  }

  /** Authenticates, takes a slot, writes the stream's headers, then joins the user (§2, §4, H). */
  start(credential: SessionCredential, resume: ResumeRequest): void {
    this.#state = 'joining';
    this.#join(credential, resume).catch((err: unknown) => {
      if (isEngineUnavailable(err)) {
        this.log.debug('join refused: engine unavailable');
        this.close(CloseCode.InternalError, CloseReason.EngineUnavailable);
        return;
      }
      this.log.error({ err }, 'join failed');
      this.close(CloseCode.InternalError, CloseReason.Internal);
    });
  }

  async #join(credential: SessionCredential, resume: ResumeRequest): Promise<void> {
    const auth = await authenticateSession(this.#ctx, credential, this);
    if (this.isClosed()) return;
    if (!auth.ok) {
      const { code, reason } = refusalClose(auth.refusal);
      this.close(code, reason);
      return;
    }
    this.#userId = auth.userId;
    this.expiresAtMs = auth.expiresAtMs;
    this.#log = undefined;
    // After the user id is set, as on a WebSocket (docs/protocol.md D, "Disconnecting a user").
    if (await closeIfRevoked(this.#ctx, this, auth.issuedAtS)) return;
    if (!(await acquireSessionSlot(this.#ctx, this.#userId, this.id))) {
      this.close(CloseCode.TooManyConnections, CloseReason.TooManyConnections);
      return;
    }
    this.#hasSlot = true;
    if (this.isClosed()) {
      this.#releaseSlot(); // closed while the slot was being taken
      return;
    }
    const res = this.#res;
    if (res === undefined) return;
    // The body ends with the connection (Connection: close), so it needs no chunked framing: each
    // message is one write of its own bytes to the socket (RFC 9112 §6.3: a close-delimited body).
    res.removeHeader('Transfer-Encoding');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      // F: no proxy may cache, transform or buffer the stream; it is never compressed.
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'close',
      ...this.#headers,
    });
    res.flushHeaders();
    this.#headers = NO_HEADERS;
    this.#socket = res.socket ?? undefined;
    this.#socket?.write(ssePreamble(this.#ctx.config.sseRetryMs));
    const replay = new ReplayBuffer({ maxBuffered: this.#ctx.config.historySize });
    this.#replay = replay;
    if (!(await openUserStream(this, replay, this.#ctx, resume))) return;
    this.#state = 'open';
    this.#ctx.handshakes.release(this.ip);
    this.#ctx.onOpened(this);
    // On a later turn: node:http's parser must not be freed while it may still be executing.
    setImmediate(SseSession.#handOver, this);
  }

  /**
   * Keeps only the socket of an open stream (gateway/socket-handover.ts): node:http's parser, request and
   * response go, as they do for a WebSocket after its upgrade. Where node:http offers no hand-over, the
   * stream keeps its response and works the same.
   */
  static #handOver(session: SseSession): void {
    const res = session.#res;
    if (res === undefined || session.#state !== 'open') return;
    session.#res = undefined;
    const socket = handOverSocket(res);
    if (socket === undefined) {
      session.#res = res;
      return;
    }
    socket.on('close', () => session.#onClose());
  }

  /** Takes one event of the user from the hub (§3, §4; the rule lives in deliverLive). */
  deliver(event: StoredEvent, frame: Buffer): boolean {
    return deliverLive(this, this.#replay, event, frame);
  }

  /** A control frame: `data:` only, no `id:` (H), so EventSource's Last-Event-ID stays the last event's. */
  send(frame: WireFrame): void {
    this.#write(Buffer.concat([DATA_BYTES, Buffer.from(frame), EVENT_END_BYTES]));
  }

  /**
   * Delivery receipts come as `seen` frames (docs/protocol.md B), which an SSE client has no socket to send:
   * an SSE stream reports no `seen_seq`.
   */
  markSeen(_seq: number): void {}

  /**
   * An event: `id: <epoch>:<seq>` then the WebSocket's bytes of it as the `data:` line (H). A live event's
   * frame is the hub's one Buffer for every session of the user: its SSE bytes are framed once.
   */
  sendEvent(event: StoredEvent, frame: WireFrame): void {
    if (typeof frame === 'string') {
      this.#write(`${sseEventHead(event.epoch, event.seq)}${frame}${SSE_EVENT_END}`);
      return;
    }
    if (frame !== lastFrame) {
      lastBytes = Buffer.concat([Buffer.from(sseEventHead(event.epoch, event.seq)), frame, EVENT_END_BYTES]);
      lastFrame = frame;
    }
    this.#write(lastBytes);
  }

  /** The heartbeat's comment line (H); written only to open streams. */
  writePing(): void {
    if (this.#state !== 'open') return;
    this.#write(PING_BYTES);
  }

  /**
   * Writes one whole message. Writes of one tick share one corked write, like a WebSocket's
   * (docs/architecture.md, "Hot path").
   */
  #write(message: string | Buffer): void {
    const socket = this.#socket;
    if (this.#state === 'closed' || socket === undefined) return;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(SseSession.#flush, this, socket);
    }
    socket.write(message);
  }

  /** §5 after the flush, as for a WebSocket: unsent bytes over max_buffered_bytes end the stream (4013). */
  static #flush(session: SseSession, socket: Socket): void {
    session.#corked = false;
    socket.uncork();
    closeIfSlow(session, socket.writableLength, session.#ctx.config.maxBufferedBytes);
  }

  sendError(code: ErrorCode, message: string, id?: string | number): void {
    this.#ctx.metrics.frameErrors.inc({ code });
    this.send(encodeServerFrame.error(code, message, id));
  }

  /**
   * Ends the stream for the reason a WebSocket would close with `code`. Idempotent. Before the stream's
   * headers: a JSON error answer (H). After: one STREAM_CLOSED error frame, then the end of the response;
   * a peer too slow to take even that loses its socket at once.
   */
  close(code: CloseCode, reason: string): void {
    if (this.#state === 'closed') return;
    this.#enterClosed();
    this.#closeCode = code;
    this.log.info({ close_code: code, reason }, 'closing stream');
    const res = this.#res;
    const socket = this.#socket;
    if (socket === undefined) {
      // Before the headers (a socket is only ever given up after them, so the response is still here).
      if (res?.headersSent) res.destroy();
      else if (res !== undefined) {
        const refusal = httpRefusal(code);
        sendError(res, refusal.status, refusal.code, reason, { ...this.#headers, ...refusal.headers });
      }
      return;
    }
    if (socket.writableLength > this.#ctx.config.maxBufferedBytes) {
      socket.destroy();
      return;
    }
    socket.write(`${SSE_DATA}${encodeServerFrame.streamClosed(code, reason)}${SSE_EVENT_END}`);
    // A close-delimited body ends with the connection (docs/protocol.md H): once its last bytes are
    // written the socket is closed, whether or not the peer ends its side.
    if (res !== undefined) res.end();
    else socket.end(() => socket.destroy());
  }

  /** Drops the stream without a last frame. */
  terminate(): void {
    this.#enterClosed();
    (this.#res ?? this.#socket)?.destroy();
  }

  /** The registry's WebSocket ping: nothing to do, the SSE heartbeat is the comment line. */
  ping(): void {}

  /** A refreshed token for the same user moves the stream's expiry (the same rule as §2's refresh). */
  async refreshToken(token: string): Promise<void> {
    const refresh = await checkRefresh(this.#ctx, this.#userId, token, this);
    if (this.#state !== 'open') return;
    if (!refresh.ok) {
      this.close(refresh.code, refresh.reason);
      return;
    }
    if (await closeIfRevoked(this.#ctx, this, refresh.issuedAtS)) return;
    this.expiresAtMs = refresh.expiresAtMs;
  }

  #enterClosed(): void {
    if (this.#state === 'authenticating' || this.#state === 'joining') this.#ctx.handshakes.release(this.ip);
    this.#state = 'closed';
    this.#replay = undefined;
  }

  #releaseSlot(): void {
    if (!this.#hasSlot) return;
    this.#hasSlot = false;
    this.#ctx.engine
      .releaseConnectionSlot(this.#userId, this.id)
      .catch((err: unknown) => this.log.warn({ err }, 'could not release connection slot'));
  }

  #onClose(): void {
    const wasAuthenticated = this.#userId !== '';
    this.#enterClosed();
    this.#ctx.metrics.closes.inc({ code: closeCodeLabel(this.#closeCode) });
    if (wasAuthenticated) this.#ctx.hub.leave(this);
    this.#releaseSlot();
    this.#ctx.onClosed(this);
  }
}

/** The plain HTTP answer of a stream refused before its headers (docs/protocol.md H). */
function httpRefusal(code: CloseCode): {
  status: 401 | 503;
  code: string;
  headers: Record<string, string>;
} {
  if (code === CloseCode.Unauthorized || code === CloseCode.TokenExpired)
    return { status: 401, code: HttpErrorCode.Unauthorized, headers: { 'WWW-Authenticate': 'Bearer' } };
  return { status: 503, code: 'UNAVAILABLE', headers: { 'Retry-After': '1' } };
}
