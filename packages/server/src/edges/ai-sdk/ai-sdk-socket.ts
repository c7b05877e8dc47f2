import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import type { TokenVerifier } from '../../auth/token-verifier.js';
import type { Config } from '../../config/config.js';
import type { Engine } from '../../engine/engine.js';
import { acquireSessionSlot, authenticateRequest, refusalClose } from '../../gateway/authenticate-session.js';
import type { RegisteredSession } from '../../gateway/connection-registry.js';
import type { RunFollow, RunFollower, RunStreamEnd, RunStreamFrom } from '../../gateway/run-stream.js';
import { closeIfSlow } from '../../gateway/user-stream.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { isEngineUnavailable } from '../../protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../../protocol/close-codes.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { BadFrameCounter } from '../../security/bad-frame-counter.js';
import { FrameRateLimiter } from '../../security/frame-rate-limiter.js';
import type { HandshakeLimiter } from '../../security/handshake-limiter.js';
import { type AiSdkContext, answerChatApprovals } from './ai-sdk-http.js';
import { type ChatRequest, runContextOf } from './chat-request.js';
import { type UiMessageChunk, UiMessageEncoder } from './ui-message-encoder.js';
import { type AiSdkClientFrame, aiSdkFrame, parseAiSdkFrame } from './ws-frames.js';

/** What an AI SDK socket shares with every session of its gateway. */
export interface AiSdkSocketContext extends AiSdkContext {
  readonly config: Pick<
    Config,
    | 'aiSdkMaxBodyBytes'
    | 'maxBufferedBytes'
    | 'maxConnectionsPerUser'
    | 'rateLimit'
    | 'rateBurst'
    | 'rateLimitStrikes'
    | 'maxBadFrames'
    | 'badFrameWindowS'
    | 'maxRunsPerUser'
  >;
  readonly verifier: Pick<TokenVerifier, 'verify'>;
  readonly engine: Pick<Engine, 'tokensRevokedBefore' | 'acquireConnectionSlot' | 'releaseConnectionSlot'>;
  readonly metrics: Metrics;
  readonly handshakes: HandshakeLimiter;
  readonly now: () => number;
  /** Called once when the socket has closed. */
  readonly onClosed: (socket: AiSdkSocket) => void;
}

/** The `errorText` of a request whose stream could not stay exact (docs/protocol.md J). */
const LOST = 'the stream was interrupted; resume the chat';

/**
 * The `errorText` of a `resume` with `lastSequence` whose run's start history no longer holds
 * (docs/protocol.md J): chunks after it cannot be numbered as the client's were.
 */
const RESUME_GONE = 'resume point no longer available; reload the chat';

/**
 * One request of the socket: a run followed, its chunks numbered from 0. A `send` or `resume` encodes the
 * run's events from its first one, so chunk n is the same chunk on every request of that run.
 */
interface ActiveRequest {
  readonly requestId: string;
  runId?: string;
  follow?: RunFollow;
  follower?: RunFollower;
  /** The next chunk's `sequence`. */
  sequence: number;
  /** Chunks of a resume up to this sequence were seen by the client (`lastSequence`): not sent again. */
  readonly skipThrough: number;
  /** Set by `abort`: a run started after it is cancelled at once. */
  aborted?: true;
}

/**
 * One `GET /v1/ai-sdk/ws` socket (docs/protocol.md J): the AI SDK's `WebSocketChatTransport` protocol over
 * the session core. Authenticated on the upgrade like `/ws` (`bearer.<jwt>` subprotocol or Authorization
 * header; there is no auth frame in this protocol), one per-user slot, the frame rate limit and the
 * malformed-frame limit of `/ws`, pinged by the registry's heartbeat and closed when its token expires.
 * Runs are started, followed and cancelled through the same calls as the HTTP routes.
 */
export class AiSdkSocket implements RegisteredSession {
  readonly id: string;
  readonly ip: string;
  readonly log: Logger;
  #state: RegisteredSession['state'] = 'authenticating';
  #userId = '';
  expiresAtMs = Number.POSITIVE_INFINITY;
  pingsUnanswered = 0;
  #hasSlot = false;
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  readonly #ctx: AiSdkSocketContext;
  readonly #rate: FrameRateLimiter;
  readonly #badFrames: BadFrameCounter;
  readonly #requests = new Map<string, ActiveRequest>();

  constructor(
    ws: WebSocket,
    socket: Socket,
    ctx: AiSdkSocketContext,
    info: { readonly id: string; readonly ip: string; readonly token: string | undefined },
  ) {
    this.id = info.id;
    this.ip = info.ip;
    this.#ws = ws;
    this.#socket = socket;
    this.#ctx = ctx;
    this.log = ctx.log.child({ conn_id: info.id, transport: 'ai-sdk' });
    const { config } = ctx;
    this.#rate = new FrameRateLimiter(
      { ratePerSec: config.rateLimit, burst: config.rateBurst, strikes: config.rateLimitStrikes },
      ctx.now(),
    );
    this.#badFrames = new BadFrameCounter({
      limit: config.maxBadFrames,
      windowMs: config.badFrameWindowS * 1000,
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('pong', () => {
      this.pingsUnanswered = 0;
    });
    ws.on('close', () => this.#onClose());
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'websocket error'));
    // Frames wait until the token is checked.
    ws.pause();
    this.#authenticate(info.token).catch((err: unknown) => {
      if (!isEngineUnavailable(err)) this.log.error({ err }, 'AI SDK socket authentication failed');
      this.close(
        CloseCode.InternalError,
        isEngineUnavailable(err) ? CloseReason.EngineUnavailable : CloseReason.Internal,
      );
    });
  }

  get state(): RegisteredSession['state'] {
    return this.#state;
  }

  get userId(): string {
    return this.#userId;
  }

  isClosed(): boolean {
    return this.#state === 'closed';
  }

  ping(): void {
    this.pingsUnanswered++;
    this.#ws.ping();
  }

  close(code: CloseCode, reason: string): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#enterClosed();
    if (this.#ws.isPaused) this.#ws.resume();
    this.#ws.close(code, reason);
    if (!wasOpen) this.#socket.end(() => this.#socket.destroy());
  }

  terminate(): void {
    this.#enterClosed();
    this.#ws.terminate();
  }

  /** §2 on the upgrade's token (there is no auth frame in this protocol), then §5's per-user slot. */
  async #authenticate(token: string | undefined): Promise<void> {
    if (token === undefined) {
      this.close(CloseCode.Unauthorized, CloseReason.AuthenticateFirst);
      return;
    }
    const auth = await authenticateRequest(this.#ctx, token);
    if (this.isClosed()) return;
    if (!auth.ok) {
      const { code, reason } = refusalClose(auth.refusal);
      this.close(code, reason);
      return;
    }
    this.#userId = auth.userId;
    this.expiresAtMs = auth.expiresAtMs;
    if (!(await acquireSessionSlot(this.#ctx, this.#userId, this.id))) {
      this.close(CloseCode.TooManyConnections, CloseReason.TooManyConnections);
      return;
    }
    this.#hasSlot = true;
    if (this.isClosed()) {
      this.#releaseSlot();
      return;
    }
    this.#state = 'open';
    this.#ctx.handshakes.release(this.ip);
    this.#ws.resume();
  }

  #enterClosed(): void {
    if (this.#state === 'authenticating' || this.#state === 'joining') this.#ctx.handshakes.release(this.ip);
    this.#state = 'closed';
    for (const request of this.#requests.values()) this.#detach(request);
    this.#requests.clear();
  }

  #onClose(): void {
    this.#enterClosed();
    this.#releaseSlot();
    this.#ctx.onClosed(this);
  }

  #releaseSlot(): void {
    if (!this.#hasSlot) return;
    this.#hasSlot = false;
    this.#ctx.engine
      .releaseConnectionSlot(this.#userId, this.id)
      .catch((err: unknown) => this.log.warn({ err }, 'could not release connection slot'));
  }

  #send(text: string): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(text);
    closeIfSlow(this, this.#ws.bufferedAmount, this.#ctx.config.maxBufferedBytes);
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state !== 'open') return;
    this.#ctx.metrics.framesReceived.inc();
    const decision = this.#rate.check(this.#ctx.now());
    if (decision === 'close') {
      this.close(CloseCode.RateLimited, CloseReason.RateLimited);
      return;
    }
    if (decision === 'limited') {
      this.#send(
        aiSdkFrame.error('', `more than ${this.#ctx.config.rateLimit} frames per second; slow down`),
      );
      return;
    }
    const parsed = isBinary
      ? {
          ok: false as const,
          error: { requestId: '', errorText: 'binary frames are not accepted; send JSON text frames' },
        }
      : parseAiSdkFrame(data.toString());
    if (!parsed.ok) {
      this.#badFrame(parsed.error.requestId, parsed.error.errorText);
      return;
    }
    this.#route(parsed.frame).catch((err: unknown) => {
      const request = this.#requests.get(parsed.frame.requestId);
      if (request !== undefined) this.#finish(request);
      if (!isEngineUnavailable(err)) this.log.error({ err }, 'AI SDK request failed');
      this.#send(
        aiSdkFrame.error(
          parsed.frame.requestId,
          isEngineUnavailable(err) ? 'the engine is unavailable; retry later' : 'internal error',
        ),
      );
    });
  }

  /** A bad frame gets an `error` with a clear text; the socket stays usable until max_bad_frames (4008). */
  #badFrame(requestId: string, errorText: string): void {
    this.#ctx.metrics.frameErrors.inc({ code: ErrorCode.InvalidMessage });
    this.#send(aiSdkFrame.error(requestId, errorText));
    if (this.#badFrames.record(this.#ctx.now()))
      this.close(CloseCode.TooManyBadFrames, CloseReason.TooManyBadFrames);
  }

  async #route(frame: AiSdkClientFrame): Promise<void> {
    if (frame.type === 'abort') return this.#abort(frame.requestId);
    if (this.#requests.has(frame.requestId)) {
      this.#badFrame(frame.requestId, 'requestId: already in use by an open request');
      return;
    }
    // Each open request follows one of the user's runs: a socket needs no more than the user may run.
    const max = this.#ctx.config.maxRunsPerUser;
    if (this.#requests.size >= max) {
      this.#send(
        aiSdkFrame.error(
          frame.requestId,
          `${ErrorCode.RateLimited}: at most ${max} open requests on one socket (max_runs_per_user); abort one or wait`,
        ),
      );
      return;
    }
    const request: ActiveRequest = {
      requestId: frame.requestId,
      sequence: 0,
      skipThrough: frame.type === 'resume' ? (frame.lastSequence ?? -1) : -1,
    };
    this.#requests.set(frame.requestId, request);
    // §4: subscribed before the run is started or looked up, so nothing of it is missed.
    const follower = await this.#ctx.runStreams.subscribe(this.#userId);
    request.follower = follower;
    if (this.#requests.get(frame.requestId) !== request) {
      follower.close(); // aborted or closed meanwhile
      return;
    }
    if (frame.type === 'resume') {
      const active = await this.#ctx.runStreams.activeRunOfThread(this.#userId, frame.chatId);
      if (active === undefined) {
        this.#finish(request);
        this.#send(aiSdkFrame.noActive(frame.requestId));
        return;
      }
      return this.#follow(request, active.run_id);
    }
    const { request: chat } = frame;
    if (chat.approvals.length > 0) return this.#continue(request, chat);
    const started = await this.#ctx.runs.start(this.#userId, {
      messageId: chat.runKey,
      text: chat.userMessage.text,
      threadId: chat.chatId,
      agent: chat.agent,
      onBusy: chat.onBusy,
      context: runContextOf(chat),
    });
    if (this.#requests.get(frame.requestId) !== request) {
      // Aborted while the run was being started: it is cancelled as the abort asked.
      if (started.ok && request.aborted === true) await this.#ctx.runs.cancel(this.#userId, started.runId);
      return;
    }
    if (!started.ok) {
      this.#finish(request);
      this.#send(aiSdkFrame.error(frame.requestId, `${started.code}: ${started.message}`));
      return;
    }
    return this.#follow(
      request,
      started.runId,
      new UiMessageEncoder(),
      { kind: 'first' },
      !started.duplicate,
    );
  }

  /**
   * A `send` whose last message answers approvals (`addToolApprovalResponse` + resend): the answers settle
   * them as over HTTP, and the chat's active run continues after what the client holds (docs/protocol.md J).
   */
  async #continue(request: ActiveRequest, chat: ChatRequest): Promise<void> {
    const settled = await answerChatApprovals(this.#ctx, this.#userId, chat);
    if (this.#requests.get(request.requestId) !== request) return;
    if (!settled.ok || settled.active === undefined) {
      this.#finish(request);
      if (settled.ok) this.#send(aiSdkFrame.start(request.requestId));
      this.#send(
        settled.ok
          ? aiSdkFrame.end(request.requestId)
          : aiSdkFrame.error(request.requestId, `${settled.code}: ${settled.message}`),
      );
      return;
    }
    const { active } = settled;
    const encoder = new UiMessageEncoder();
    encoder.knowApprovals(active.approvals);
    const from = { kind: 'after', epoch: active.epoch, seq: active.last_seq } as const;
    return this.#follow(request, active.run_id, encoder, from);
  }

  /**
   * `start`, then the run's chunks numbered from 0, then `end` once the run ended. From `first` (a `send`, a
   * `resume`) the chunks are the encoding of the run's events from its first one: the same numbering on
   * every request of the run, so `lastSequence` names one chunk (docs/protocol.md J).
   */
  async #follow(
    request: ActiveRequest,
    runId: string,
    encoder = new UiMessageEncoder(),
    from: RunStreamFrom = { kind: 'first' },
    pending = false,
  ): Promise<void> {
    request.runId = runId;
    const { requestId } = request;
    const write = (chunks: readonly UiMessageChunk[]): void => {
      for (const chunk of chunks) {
        const sequence = request.sequence++;
        if (sequence > request.skipThrough) this.#send(aiSdkFrame.chunk(requestId, sequence, chunk));
      }
    };
    this.#send(aiSdkFrame.start(requestId));
    if (from.kind === 'after') write(encoder.resume(runId));
    const follow = await (request.follower as RunFollower).follow(
      runId,
      from,
      {
        snapshot: (snapshot, reason) => {
          // A reset mid-continuation cannot be appended to what the client holds: it resumes from the start.
          if (reason === 'reset' && from.kind === 'after') this.#lose(request, LOST);
          // The run's start is gone from history: its snapshot is numbered otherwise than the chunks the
          // client counted, so only a client that holds none of them (no lastSequence) can take it.
          else if (reason === 'reset' && request.skipThrough >= 0) this.#lose(request, RESUME_GONE);
          else write(encoder.snapshot(snapshot));
        },
        event: (event) => write(encoder.event(event)),
        end: (reason: RunStreamEnd) => {
          if (this.#requests.get(requestId) !== request) return;
          this.#requests.delete(requestId);
          if (reason === 'ended') this.#send(aiSdkFrame.end(requestId));
          else if (reason === 'lost') this.#send(aiSdkFrame.error(requestId, LOST));
        },
      },
      { pending },
    );
    if (!follow.ok) {
      this.#finish(request);
      // NOT_FOUND: the run's snapshot is gone (older than --run-snapshot-ttl-s); else the engine failed.
      this.#send(
        aiSdkFrame.error(
          requestId,
          follow.code === 'NOT_FOUND'
            ? 'the run is no longer kept'
            : 'the engine is unavailable; retry later',
        ),
      );
      return;
    }
    request.follow = follow;
    if (this.#requests.get(requestId) !== request) follow.close();
  }

  /** Ends a request that can no longer be continued exactly: an `error` saying what the client does. */
  #lose(request: ActiveRequest, errorText: string): void {
    if (this.#requests.get(request.requestId) !== request) return;
    this.#finish(request);
    this.#send(aiSdkFrame.error(request.requestId, errorText));
  }

  /** `abort`: the request's run is cancelled (it ends `cancelled` everywhere, on any node), then it detaches. */
  async #abort(requestId: string): Promise<void> {
    const request = this.#requests.get(requestId);
    if (request === undefined) return; // already ended: nothing to stop
    request.aborted = true;
    this.#finish(request);
    if (request.runId !== undefined) await this.#ctx.runs.cancel(this.#userId, request.runId);
  }

  /** Forgets a request and stops following its run (the run goes on). */
  #finish(request: ActiveRequest): void {
    if (this.#requests.get(request.requestId) === request) this.#requests.delete(request.requestId);
    this.#detach(request);
  }

  #detach(request: ActiveRequest): void {
    if (request.follow?.ok === true) request.follow.close();
    else request.follower?.close();
  }
}
