import type { Socket } from 'node:net';
import { type RawData, WebSocket } from 'ws';
import { ReplayBuffer, type WireFrame } from '../engine/replay-buffer.js';
import type { Logger } from '../observability/logger.js';
import { isEngineUnavailable } from '../protocol/agentcast-error.js';
import { CloseCode, CloseReason, closeCodeLabel } from '../protocol/close-codes.js';
import { ErrorCode as Codes, type ErrorCode } from '../protocol/error-codes.js';
import type { StoredEvent } from '../protocol/events.js';
import { type ErrorDetails, encodeServerFrame, parseClientFrame } from '../protocol/frames.js';
import type { CatchUpMode, ResumeRequest } from '../protocol/resume-request.js';
import { BadFrameCounter } from '../security/bad-frame-counter.js';
import { FrameRateLimiter } from '../security/frame-rate-limiter.js';
import {
  acquireSessionSlot,
  authenticateSession,
  checkRefresh,
  closeIfRevoked,
  refusalClose,
} from './authenticate-session.js';
import type { ConnectionContext } from './connection-context.js';
import { routeFrame } from './frame-router.js';
import { PresenceState } from './presence-state.js';
import type { Session } from './session.js';
import { closeIfSlow, deliverLive, openUserStream } from './user-stream.js';

/**
 * The lifecycle of one WebSocket (docs/protocol.md §2, A):
 * `authenticating → joining → open → closed`.
 * Parsing, policy and resume live elsewhere; this file moves a connection between states.
 */
export type ConnectionState = 'authenticating' | 'joining' | 'open' | 'closed';

/** What the upgrade learned before the socket became a WebSocket. */
export interface UpgradeInfo {
  readonly id: string;
  readonly ip: string;
  readonly token?: string | undefined;
  readonly resume: ResumeRequest;
}

/**
 * §4: `since`/`epoch` of the auth frame win; the upgrade URL's apply when the frame carries neither. The
 * same for `catch_up` (F).
 */
function resumeOf(
  frame: { readonly since?: number; readonly epoch?: string; readonly catch_up?: CatchUpMode },
  query: ResumeRequest | undefined,
): ResumeRequest {
  const catchUp = frame.catch_up ?? query?.catchUp;
  if (frame.since !== undefined || frame.epoch !== undefined)
    return { since: frame.since, epoch: frame.epoch, catchUp };
  return { ...query, catchUp };
}

/** A frame that arrived before the welcome, kept raw: it is parsed only once the connection is open. */
interface EarlyFrame {
  readonly data: RawData;
  readonly isBinary: boolean;
}

/** Send options for every frame: text, even when the frame is a Buffer shared across connections. */
const TEXT_FRAME = Object.freeze({ binary: false });

/**
 * The gateway's WebSocket (passed to the WebSocketServer as its `WebSocket` class): it hands its events
 * straight to its Connection instead of through listeners. An idle connection then carries no closure per
 * event and its emitter's listener table stays empty: four listeners cost each connection about 450 bytes
 * of heap (closures, their context and a grown dictionary), a third of what it holds beyond a bare `ws`.
 * Events the Connection does not take (and every event before it is attached) go to listeners as usual.
 */
export class ConnectionSocket extends WebSocket {
  /** Set once by the Connection built on this socket. */
  connection: Connection | undefined = undefined;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (this.connection?.onSocketEvent(event, args[0], args[1]) === true) return true;
    return super.emit(event, ...args);
  }
}

/** One client connection. Per-connection state is kept to a few small fields (docs/architecture.md, "Hot path"). */
export class Connection implements Session {
  readonly id: string;
  readonly ip: string;
  #state: ConnectionState = 'authenticating';
  #userId = '';
  /** When the current token expires (ms since the epoch); 4002 after it (§2). */
  expiresAtMs = Number.POSITIVE_INFINITY;
  /** Holds live events during the replay, then guards the live stream: each seq once, in order (§3, §4). */
  #replay: ReplayBuffer | undefined;
  /** Presence (docs/protocol.md D): set once the connection is open, reported by the registry's sweep. */
  presence: PresenceState | undefined;
  /** Unanswered protocol pings; the heartbeat closes the connection at 2 (§6). */
  pingsUnanswered = 0;
  readonly #ws: ConnectionSocket;
  readonly #socket: Socket;
  readonly #ctx: ConnectionContext<Connection>;
  /**
   * Made at the first frame after the welcome, and the counter at the first bad frame: most connections
   * only listen, so an idle one carries neither (docs/architecture.md, "Hot path"). A bucket made then is
   * full, as one made at the upgrade would be by then.
   */
  #rate: FrameRateLimiter | undefined;
  #badFrames: BadFrameCounter | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  #corked = false;
  #hasSlot = false;
  /** The resume request of the upgrade URL, kept only until the auth frame arrives. */
  #queryResume: ResumeRequest | undefined;
  /** Frames received between `auth` and the welcome; undefined on almost every connection. */
  #early: EarlyFrame[] | undefined;
  #log: Logger | undefined;
  /** When the upgrade was accepted (ctx.now()), for the duration in the `connection closed` line. */
  readonly #openedAt: number;
  /** The code the gateway closed with, when it did: the socket may then report 1006 (dropped after it). */
  #closedWith: CloseCode | undefined;

  constructor(ws: ConnectionSocket, socket: Socket, ctx: ConnectionContext<Connection>, info: UpgradeInfo) {
    this.id = info.id;
    this.ip = info.ip;
    this.#ws = ws;
    this.#socket = socket;
    this.#ctx = ctx;
    const { config } = ctx;
    const now = ctx.now();
    this.#openedAt = now;
    // Guarded: a disabled debug line must not cost each connection a child logger.
    if (ctx.log.isLevelEnabled('debug')) this.log.debug({ ip: this.ip }, 'connection opened');
    // Its events come to onSocketEvent: message, pong, close, error.
    ws.connection = this;
    if (info.token !== undefined) {
      this.#authenticate(info.token, info.resume);
    } else {
      this.#queryResume = info.resume;
      // §2: without a token on the upgrade, the first frame must be `auth` within auth_timeout_ms.
      this.#authTimer = setTimeout(
        () => this.close(CloseCode.AuthTimeout, CloseReason.AuthTimeout),
        config.authTimeoutMs,
      );
    }
  }

  /**
   * An event of this connection's WebSocket (ConnectionSocket.emit); true when it was taken. ws reports
   * protocol errors (e.g. a frame over maxPayload) as `error`, then closes with the matching code (1009);
   * the close does the bookkeeping, so the error only needs a debug line.
   */
  onSocketEvent(event: string | symbol, a: unknown, b: unknown): boolean {
    switch (event) {
      case 'message':
        this.#onMessage(a as RawData, b as boolean);
        return true;
      case 'pong':
        this.pingsUnanswered = 0;
        return true;
      case 'close':
        this.#onClose(a as number);
        return true;
      case 'error':
        this.log.debug({ err: (a as Error).message }, 'websocket error');
        return true;
      default:
        return false;
    }
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** A method, not a getter, so checks after an await are not narrowed away by the compiler. */
  isClosed(): boolean {
    return this.#state === 'closed';
  }

  get userId(): string {
    return this.#userId;
  }

  /** Child logger bound to this connection, created on first use so idle connections carry none. */
  get log(): Logger {
    this.#log ??= this.#ctx.log.child({
      conn_id: this.id,
      ...(this.#userId === '' ? {} : { user_id: this.#userId }),
    });
    return this.#log;
  }

  /** Takes one event of this connection's user from the hub (§3, §4; the rule lives in deliverLive). */
  deliver(event: StoredEvent, frame: Buffer): boolean {
    return deliverLive(this, this.#replay, event, frame);
  }

  /** An event's frame goes out as it is: the WebSocket frame carries its seq and epoch. */
  sendEvent(event: StoredEvent, frame: WireFrame): void {
    this.send(frame);
    this.presence?.delivered(event.seq);
  }

  /**
   * Writes one frame. Frames written in the same tick share one corked write, flushed on the next
   * tick; the slow-consumer check runs after that flush (§5).
   */
  send(frame: WireFrame): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(Connection.#flush, this);
    }
    // Every frame is UTF-8 JSON text (docs/protocol.md): a shared Buffer must still go out as a text frame.
    this.#ws.send(frame, TEXT_FRAME);
  }

  /**
   * Uncorks the tick's writes, then applies §5: a connection whose unsent bytes still exceed
   * max_buffered_bytes once the kernel took what it could is closed with 4013; it resumes and loses
   * nothing. Checking while corked would count a burst the peer reads at once as unsent.
   * Static, with the connection as argument, so no closure is allocated per tick.
   */
  static #flush(conn: Connection): void {
    conn.#corked = false;
    conn.#socket.uncork();
    closeIfSlow(conn, conn.#ws.bufferedAmount, conn.#ctx.config.maxBufferedBytes);
  }

  /** Sends an error frame; errors never close by themselves (§6). */
  sendError(code: ErrorCode, message: string, id?: string | number, details?: ErrorDetails): void {
    this.#ctx.metrics.frameErrors.inc({ code });
    this.send(encodeServerFrame.error(code, message, id, details));
  }

  /**
   * Closes with a code from the §7 table. Idempotent. An open connection gets the closing handshake; one
   * that never got its welcome gets the close frame and then loses its socket at once (docs/protocol.md
   * C): waiting up to ws's 30 s for a peer that never authenticated to answer would let it hold a slot
   * of max_connections for free.
   */
  close(code: CloseCode, reason: string): void {
    const wasOpen = this.#state === 'open';
    if (this.#state === 'closed') return;
    this.#enterClosed();
    this.#closedWith = code;
    this.log.info({ close_code: code, reason }, 'closing connection');
    // A paused socket (mid-join) would never read the peer's closing frame and hang for ws's 30 s
    // close timeout; reading again is safe, frames of a closed connection are ignored.
    if (this.#ws.isPaused) this.#ws.resume();
    this.#ws.close(code, reason);
    // end() flushes the close frame (uncorking if needed), then the socket is destroyed.
    if (!wasOpen) this.#socket.end(() => this.#socket.destroy());
  }

  /** Drops the connection without a closing handshake (dead peer). */
  terminate(): void {
    this.#enterClosed();
    this.#ws.terminate();
  }

  /** Sends a protocol ping; called by the heartbeat sweep. */
  ping(): void {
    this.pingsUnanswered++;
    this.#ws.ping();
  }

  #enterClosed(): void {
    if (this.#state === 'authenticating' || this.#state === 'joining') this.#ctx.handshakes.release(this.ip);
    this.#state = 'closed';
    this.#replay = undefined;
    this.#early = undefined;
    clearTimeout(this.#authTimer);
  }

  /**
   * docs/protocol.md A: until the welcome is out, no frame but the first `auth` is processed. ws parses
   * every frame of a TCP chunk before `pause()` can act, so frames pipelined behind `auth` still arrive
   * here while joining: they are held (at most max_early_frames) and handled after the welcome, in order.
   * A connection whose token fails verification is closed without ever answering them.
   */
  #onMessage(data: RawData, isBinary: boolean): void {
    this.#ctx.metrics.framesReceived.inc();
    switch (this.#state) {
      case 'open':
        this.#onOpenMessage(data, isBinary);
        return;
      case 'authenticating':
        this.#onFirstMessage(data, isBinary);
        return;
      case 'joining':
        this.#hold(data, isBinary);
        return;
      default: // closed: frames still parsed from the socket are ignored
        return;
    }
  }

  /** §2: the first frame must be a well-formed `auth`; anything else closes with 4001, unanswered. */
  #onFirstMessage(data: RawData, isBinary: boolean): void {
    const parsed = isBinary ? undefined : parseClientFrame(data.toString());
    if (parsed?.ok === true && parsed.frame.type === 'auth')
      this.#authenticate(parsed.frame.token, resumeOf(parsed.frame, this.#queryResume));
    else this.close(CloseCode.Unauthorized, CloseReason.AuthenticateFirst);
  }

  #hold(data: RawData, isBinary: boolean): void {
    this.#early ??= [];
    if (this.#early.length >= this.#ctx.config.maxEarlyFrames) {
      this.close(CloseCode.RateLimited, CloseReason.TooManyEarlyFrames);
      return;
    }
    this.#early.push({ data, isBinary });
  }

  #onOpenMessage(data: RawData, isBinary: boolean): void {
    const now = this.#ctx.now();
    const { config } = this.#ctx;
    this.#rate ??= new FrameRateLimiter(
      { ratePerSec: config.rateLimit, burst: config.rateBurst, strikes: config.rateLimitStrikes },
      now,
    );
    const decision = this.#rate.check(now);
    if (decision !== 'accept') {
      if (decision === 'close') this.close(CloseCode.RateLimited, CloseReason.RateLimited);
      else
        this.sendError(
          Codes.RateLimited,
          `more than ${this.#ctx.config.rateLimit} frames per second; slow down`,
        );
      return;
    }
    if (isBinary) {
      this.#badFrame(Codes.InvalidMessage, 'binary frames are not accepted; send JSON text frames');
      return;
    }
    const parsed = parseClientFrame(data.toString());
    if (!parsed.ok) {
      this.#badFrame(parsed.code, parsed.message, parsed.id);
      return;
    }
    routeFrame(this, parsed.frame, this.#ctx);
  }

  #badFrame(code: ErrorCode, message: string, id?: string | number): void {
    this.sendError(code, message, id);
    const { config } = this.#ctx;
    this.#badFrames ??= new BadFrameCounter({
      limit: config.maxBadFrames,
      windowMs: config.badFrameWindowS * 1000,
    });
    if (this.#badFrames.record(this.#ctx.now()))
      this.close(CloseCode.TooManyBadFrames, CloseReason.TooManyBadFrames);
  }

  /** Verifies the token, takes a connection slot, then joins the user (§2, §4). */
  #authenticate(token: string, resume: ResumeRequest): void {
    clearTimeout(this.#authTimer);
    this.#queryResume = undefined;
    this.#state = 'joining';
    // Frames that follow the auth frame wait until the welcome is out, so they are answered in order.
    this.#ws.pause();
    this.#join(token, resume).catch((err: unknown) => {
      // An unreachable engine is already logged once by the engine (a degraded dependency, not a bug);
      // repeating it per connection attempt would flood the log during an outage.
      if (isEngineUnavailable(err)) {
        this.log.debug('join refused: engine unavailable');
        this.close(CloseCode.InternalError, CloseReason.EngineUnavailable);
        return;
      }
      this.log.error({ err }, 'join failed');
      this.close(CloseCode.InternalError, CloseReason.Internal);
    });
  }

  async #join(token: string, resume: ResumeRequest): Promise<void> {
    const auth = await authenticateSession(this.#ctx, { kind: 'token', token }, this);
    if (this.isClosed()) return;
    if (!auth.ok) {
      const { code, reason } = refusalClose(auth.refusal);
      this.close(code, reason);
      return;
    }
    this.#userId = auth.userId;
    this.expiresAtMs = auth.expiresAtMs;
    this.#log = undefined;
    // Read after the user id is set: a disconnect that arrives from now on finds this connection in
    // the registry, and one stored before is read here (docs/protocol.md D, "Disconnecting a user").
    if (await closeIfRevoked(this.#ctx, this, auth.issuedAtS)) return;
    if (!(await this.#takeSlot())) return;
    const replay = new ReplayBuffer({ maxBuffered: this.#ctx.config.historySize });
    this.#replay = replay;
    if (!(await openUserStream(this, replay, this.#ctx, resume))) return;
    this.#state = 'open';
    this.#openPresence(replay.lastSeq);
    this.#ctx.handshakes.release(this.ip);
    if (this.#ctx.log.isLevelEnabled('debug')) this.log.debug({ ip: this.ip }, 'connection authenticated');
    // Frames that arrived between `auth` and the welcome, in the order they came (docs/protocol.md A).
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined)
      for (const frame of early) {
        if (this.#state !== 'open') return;
        this.#onOpenMessage(frame.data, frame.isBinary);
      }
    this.#ws.resume();
  }

  /** §5: a user holds at most max_connections_per_user connections, across nodes (4009). */
  async #takeSlot(): Promise<boolean> {
    if (!(await acquireSessionSlot(this.#ctx, this.#userId, this.id))) {
      this.close(CloseCode.TooManyConnections, CloseReason.TooManyConnections);
      return false;
    }
    this.#hasSlot = true;
    if (!this.isClosed()) return true;
    this.#releaseSlot(); // closed while the slot was being taken
    return false;
  }

  #releaseSlot(): void {
    if (!this.#hasSlot) return;
    this.#hasSlot = false;
    this.#ctx.engine
      .releaseConnectionSlot(this.#userId, this.id)
      .catch((err: unknown) => this.log.warn({ err }, 'could not release connection slot'));
  }

  /** A delivery receipt (`seen`, docs/protocol.md B): reported with the connection's presence. */
  markSeen(seq: number): void {
    this.presence?.seen(seq);
  }

  /** The presence record is written at once when the connection opens, then by the registry's sweep. */
  #openPresence(deliveredSeq: number): void {
    const presence = new PresenceState(this.#ctx.now(), deliveredSeq);
    this.presence = presence;
    const entry = presence.report(this.id, this.#ctx.config.serverId);
    this.#ctx.engine.putPresence([{ userId: this.#userId, entry }]).catch((err: unknown) => {
      presence.dirty = true; // the next sweep tries again
      this.log.debug({ err }, 'could not write presence');
    });
  }

  /** Accepts a refreshed token for the same user (§2); anything else closes. */
  async refreshToken(token: string): Promise<void> {
    const refresh = await checkRefresh(this.#ctx, this.#userId, token, this);
    if (this.#state !== 'open') return;
    if (!refresh.ok) {
      this.close(refresh.code, refresh.reason);
      return;
    }
    if (await closeIfRevoked(this.#ctx, this, refresh.issuedAtS)) return;
    this.expiresAtMs = refresh.expiresAtMs;
    this.send(encodeServerFrame.authOk());
  }

  #onClose(code: number): void {
    const wasAuthenticated = this.#userId !== '';
    this.#enterClosed();
    this.#ctx.metrics.closes.inc({ code: closeCodeLabel(code) });
    if (this.#ctx.log.isLevelEnabled('debug')) {
      this.log.debug(
        { ip: this.ip, close_code: this.#closedWith ?? code, duration_ms: this.#ctx.now() - this.#openedAt },
        'connection closed',
      );
    }
    if (wasAuthenticated) this.#ctx.hub.leave(this);
    if (this.presence !== undefined) void this.#ctx.engine.removePresence(this.#userId, this.id);
    this.#releaseSlot();
    this.#ctx.onClosed(this);
  }
}
