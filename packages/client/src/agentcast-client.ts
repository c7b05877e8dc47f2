import type { AgentEvent, EventOf } from './agent-event.js';
import { ClientError, ClientErrorCode } from './client-error.js';
import type { ResolvedOptions } from './client-options.js';
import { buildConnectionRequest } from './connection-request.js';
import { Emitter, type Unsubscribe } from './emitter.js';
import { Heartbeat } from './heartbeat.js';
import type { ClientState, LifecycleEvents } from './lifecycle-events.js';
import { type Ack, type ApprovalAck, type ApprovalDecision, Outbox, type Reply } from './outbox.js';
import { CloseCode } from './protocol/close-codes.js';
import type { WelcomeData } from './protocol/wire.js';
import { type ReconnectPlan, ReconnectPolicy } from './reconnect-policy.js';
import { changedApprovals, MAX_RUNS, type PendingApproval, type RunState, RunStates } from './run-state.js';
import { SeenReporter } from './seen-reporter.js';
import { SeqTracker } from './seq-tracker.js';
import { parseServerFrame } from './server-frame.js';
import type { TimerHandle } from './timers.js';
import { TokenSource } from './token-source.js';
import { TransportChoice } from './transport-choice.js';
import type { WebSocketLike } from './web-socket-like.js';

/** What browsers report when a connection died without a close frame; the client uses it for its own drops. */
const ABNORMAL_CLOSURE = 1006;
/** After a failed token refresh, try again this much later (the old token may still be valid). */
const REFRESH_RETRY_MS = 5_000;

/** Options of {@link AgentcastClient.sendMessage}. */
export interface SendMessageOptions {
  /** Which agent should answer (docs/protocol.md §6). */
  readonly agent?: string;
  readonly threadId?: string;
  /** Idempotency id; default a random UUID. Reuse it to retry a message that timed out. */
  readonly id?: string;
}

/**
 * A connection to the gateway that survives network blinks: it reconnects with backoff, resumes from the
 * last seq it delivered, drops duplicates, surfaces resets, resends unacked messages and refreshes its
 * token. Create it with `connect()`; like `new WebSocket()`, constructing it starts connecting.
 */
export class AgentcastClient {
  readonly #o: ResolvedOptions;
  readonly #events: Emitter<Record<string, AgentEvent>>;
  readonly #lifecycle: Emitter<LifecycleEvents>;
  readonly #tracker: SeqTracker;
  readonly #runs: RunStates;
  readonly #outbox: Outbox;
  readonly #policy: ReconnectPolicy;
  readonly #heartbeat: Heartbeat | undefined;
  /** Delivery receipts (`seen` frames); undefined with `seenIntervalMs: false`. */
  readonly #seen: SeenReporter | undefined;
  readonly #tokens: TokenSource;
  readonly #transport: TransportChoice;
  #approvals: readonly PendingApproval[] = [];
  #state: ClientState = 'connecting';
  #everOpen = false;
  #closedByApp = false;
  /** Bumped by every attempt, close() and reconnect(): a token that arrives for an older attempt is dropped. */
  #attempt = 0;
  #ws: WebSocketLike | undefined;
  /** The welcome arrived on #ws: frames may be sent. */
  #ready = false;
  #retryTimer: TimerHandle | undefined;
  #welcomeTimer: TimerHandle | undefined;
  #refreshTimer: TimerHandle | undefined;
  #stableTimer: TimerHandle | undefined;
  #upgradeTimer: TimerHandle | undefined;

  constructor(options: ResolvedOptions) {
    this.#o = options;
    this.#events = new Emitter(options.onListenerError);
    this.#lifecycle = new Emitter(options.onListenerError);
    this.#tracker = new SeqTracker(options.resumeFrom);
    this.#runs = new RunStates(MAX_RUNS);
    this.#tokens = new TokenSource(options);
    this.#transport = new TransportChoice(options.transport, options.websocketRetryMs);
    this.#outbox = new Outbox({ timeoutMs: options.ackTimeoutMs, timers: options.timers });
    const { initialMs, maxMs } = options.backoff;
    const { maxAuthFailures, restartJitterMs } = options;
    this.#policy = new ReconnectPolicy(
      { initialMs, maxMs, maxAuthFailures, restartJitterMs },
      options.random,
    );
    this.#heartbeat =
      options.heartbeat === false
        ? undefined
        : new Heartbeat(options.heartbeat, options.timers, {
            sendPing: () => this.#ws?.send('{"type":"ping"}'),
            onDead: () => this.#drop('no frame after ping (heartbeat timeout)'),
          });
    this.#seen =
      options.seenIntervalMs === false
        ? undefined
        : new SeenReporter(options.timers, options.seenIntervalMs, (seq) => this.#sendSeen(seq));
    void this.#connect();
  }

  /** The connection state. */
  get state(): ClientState {
    return this.#state;
  }

  /** The seq of the last event delivered to handlers (0 before any) in {@link epoch}. */
  get lastSeq(): number {
    return this.#tracker.lastSeq;
  }

  /** The user's current epoch (docs/protocol.md §4), known after the first welcome. */
  get epoch(): string | undefined {
    return this.#tracker.epoch;
  }

  /**
   * The user's runs (docs/protocol.md F), by run id, least recently active first: each one's snapshot
   * (from catch-up) with every later event of it folded in, or, for a run first seen live, its events
   * folded. At most the 50 most recently active ones (`MAX_RUNS`). Each run is immutable: a change
   * replaces it.
   */
  get runs(): ReadonlyMap<string, RunState> {
    return this.#runs.map;
  }

  /** One run of {@link runs}, or undefined when the client has not seen it (or forgot it). */
  run(runId: string): RunState | undefined {
    return this.#runs.map.get(runId);
  }

  /**
   * The approvals waiting for this user's answer (docs/protocol.md G), read from {@link runs}: a question
   * joins when its `approval_requested` (or a snapshot holding it) arrives and leaves with its
   * `approval_resolved`. The same array until it changes; the lifecycle event `approvals` tells when.
   */
  get approvals(): readonly PendingApproval[] {
    return this.#approvals;
  }

  /**
   * Answers an approval (docs/protocol.md G): the `approval` frame (over SSE, `POST /v1/approvals/:id`),
   * resent after reconnects until acked like {@link sendMessage}. The first answer from any tab wins:
   * resolves with the ack, or rejects with a {@link ClientError} whose `serverCode` is `CONFLICT` (and
   * `decision` the one that won) or `NOT_FOUND` (unknown, or another user's). `id` is the answer's
   * idempotency key (default a random UUID): a retry with the same id is acked `duplicate`, not CONFLICT.
   */
  answerApproval(
    approvalId: string,
    decision: 'approve' | 'deny',
    reason?: string,
    id: string = this.#o.generateId(),
  ): Promise<ApprovalAck> {
    if (decision !== 'approve' && decision !== 'deny')
      return Promise.reject(new TypeError('answerApproval: decision must be "approve" or "deny"'));
    const data = { approval_id: approvalId, decision, reason };
    return this.#request(id, JSON.stringify({ type: 'approval', id, data })).then((ack) => ({
      approval_id: approvalId,
      decision: ack.decision as ApprovalDecision,
      duplicate: ack.duplicate,
    }));
  }

  /**
   * Calls `handler` with a run's new state each time it changes: a `run_snapshot` arrived, or an event
   * of the run (after that event's own handlers ran). Returns a function that unsubscribes.
   */
  onRun(handler: (run: RunState) => void): Unsubscribe {
    return this.#lifecycle.on('run', handler);
  }

  /**
   * Calls `handler` for each event of `type` (`'*'`: every event), once per seq, in seq order.
   * Returns a function that unsubscribes.
   */
  on<T extends string>(type: T, handler: (event: EventOf<T>) => void): Unsubscribe {
    // Event types are typed per name; the emitter stores them all as AgentEvent.
    return this.#events.on(type, handler as (event: AgentEvent) => void);
  }

  /**
   * Subscribes to a client lifecycle event. Kept apart from {@link on} because published event types may
   * be any `^[a-z][a-z0-9_.]*$` name, including `reset` or `error`.
   */
  onLifecycle<K extends keyof LifecycleEvents>(
    name: K,
    handler: (payload: LifecycleEvents[K]) => void,
  ): Unsubscribe {
    return this.#lifecycle.on(name, handler);
  }

  /**
   * Sends a chat message to start an agent run (docs/protocol.md §6). It is resent after every reconnect
   * until acked; the server starts one run per id. Rejects with a {@link ClientError}:
   * `AC_CLIENT_ACK_TIMEOUT` after `ackTimeoutMs`, `AC_CLIENT_SERVER_ERROR` on an error frame,
   * `AC_CLIENT_CLOSED` on close().
   */
  sendMessage(text: string, options: SendMessageOptions = {}): Promise<Ack> {
    if (typeof text !== 'string' || text === '') {
      return Promise.reject(new TypeError('sendMessage(text): text must be a non-empty string'));
    }
    const id = options.id ?? this.#o.generateId();
    const data = { text, thread_id: options.threadId, agent: options.agent };
    return this.#request(id, JSON.stringify({ type: 'user_message', id, data }));
  }

  /** Cancels a run (docs/protocol.md §6); resent after reconnects until acked, like {@link sendMessage}. */
  cancel(runId: string): Promise<Ack> {
    const id = this.#o.generateId();
    return this.#request(id, JSON.stringify({ type: 'cancel', id, data: { run_id: runId } }));
  }

  /**
   * Drops the current connection (if any) and connects again after `delayMs`, resuming where it left off.
   * Also restarts a client that stopped after auth failures or a 4008/1009. Use it when the network
   * comes back (`online` event), or to show that resume works. Throws after close().
   */
  reconnect(options: { readonly delayMs?: number } = {}): void {
    if (this.#closedByApp)
      throw new ClientError(ClientErrorCode.Closed, 'reconnect() after close(): call connect() again');
    const delayMs = options.delayMs ?? 0;
    if (this.#state === 'closed') this.#policy.reset();
    this.#attempt += 1; // a token fetch in flight belongs to the old attempt
    this.#clear(this.#retryTimer);
    const ws = this.#detach();
    if (ws !== undefined) {
      ws.close(CloseCode.Normal);
      this.#lifecycle.emit('disconnect', {
        code: CloseCode.Normal,
        reason: 'reconnect requested',
        retryInMs: delayMs,
      });
    }
    this.#setState(this.#everOpen ? 'reconnecting' : 'connecting');
    this.#retryTimer = this.#o.timers.setTimeout(() => void this.#connect(), delayMs);
  }

  /** Closes the connection for good: no reconnect, pending requests are rejected. Idempotent. */
  close(): Promise<void> {
    if (this.#closedByApp) return Promise.resolve();
    this.#closedByApp = true;
    this.#attempt += 1;
    this.#clear(this.#retryTimer);
    this.#detach()?.close(CloseCode.Normal);
    this.#outbox.rejectAll(
      new ClientError(ClientErrorCode.Closed, 'the client was closed before an ack arrived'),
    );
    this.#setState('closed');
    return Promise.resolve();
  }

  #request(id: string, frame: string): Promise<Reply> {
    if (this.#state === 'closed') {
      return Promise.reject(
        new ClientError(ClientErrorCode.Closed, 'the client is closed; call reconnect() or connect()'),
      );
    }
    if (new TextEncoder().encode(frame).length > this.#o.maxFrameBytes) {
      const message = `the frame for ${id} exceeds maxFrameBytes (${this.#o.maxFrameBytes}); the server would close with 1009`;
      return Promise.reject(new ClientError(ClientErrorCode.TooLarge, message));
    }
    const known = this.#outbox.has(id);
    const promise = this.#outbox.add(id, frame);
    // Not ready: the welcome handler sends everything pending. Known: it was sent already.
    if (this.#ready && !known) this.#ws?.send(frame);
    return promise;
  }

  async #connect(): Promise<void> {
    const attempt = ++this.#attempt;
    let token: string;
    try {
      token = await this.#tokens.current();
    } catch (cause) {
      if (attempt !== this.#attempt) return;
      this.#lifecycle.emit(
        'error',
        new ClientError(ClientErrorCode.TokenUnavailable, 'getToken() failed', { cause }),
      );
      this.#schedule(
        { action: 'retry', delayMs: this.#policy.nextDelay(), freshToken: true },
        ABNORMAL_CLOSURE,
        'no token',
      );
      return;
    }
    if (attempt !== this.#attempt) return;
    const request = buildConnectionRequest(
      this.#o.url,
      this.#o.tokenTransport,
      token,
      this.#tracker.position(),
      this.#o.catchUp,
    );
    // SSE is loaded only when it is used: browsers on a WebSocket never download it (docs/client.md).
    const sse = this.#transport.sse(this.#o.now()) ? (await import('./sse-socket.js')).SseSocket : undefined;
    if (attempt !== this.#attempt) return;
    let ws: WebSocketLike;
    try {
      ws = sse
        ? new sse(
            buildConnectionRequest(this.#o.url, 'subprotocol', '', this.#tracker.position()).url,
            token,
            this.#o.sseVia,
          )
        : new this.#o.WebSocket(request.url, request.protocols);
    } catch (error) {
      // The URL was checked up front, so the token is what the constructor refused (a character that a
      // subprotocol cannot carry): handle it as an auth refusal, which fetches a fresh token.
      this.#afterClose(CloseCode.Unauthorized, String(error));
      return;
    }
    this.#ws = ws;
    const { authFrame } = request;
    ws.onopen = () => {
      if (authFrame !== undefined) ws.send(authFrame);
    };
    ws.onmessage = (event) => this.#onFrame(event.data);
    ws.onclose = (event) => {
      this.#transport.closed(this.#ready, event.code, this.#o.now());
      this.#detach();
      this.#afterClose(event.code, event.reason);
    };
    ws.onerror = ignoreSocketError;
    this.#welcomeTimer = this.#o.timers.setTimeout(
      () => this.#drop(`no welcome within ${this.#o.connectTimeoutMs} ms`),
      this.#o.connectTimeoutMs,
    );
  }

  #onFrame(data: unknown): void {
    const frame = typeof data === 'string' ? parseServerFrame(data) : undefined;
    if (frame === undefined) {
      this.#lifecycle.emit(
        'error',
        new ClientError(ClientErrorCode.BadFrame, 'skipped a frame that is not a server frame'),
      );
      return;
    }
    this.#heartbeat?.alive();
    switch (frame.kind) {
      case 'welcome':
        this.#onWelcome(frame.welcome);
        break;
      case 'event':
        this.#onEvent(frame.event);
        break;
      case 'run_snapshot':
        this.#onRun(this.#runs.snapshot(frame.snapshot));
        break;
      case 'ack': {
        const { kind: _, ...ack } = frame;
        this.#outbox.ack(ack);
        break;
      }
      case 'error': {
        const message = `${frame.code}: ${frame.message}`;
        // A CONFLICT names the decision that won (docs/protocol.md G); an older gateway only in its message.
        const decision = (frame.decision ??
          /(approved|denied|expired|cancelled)$/.exec(frame.message)?.[1]) as ApprovalDecision;
        const error = new ClientError(ClientErrorCode.Server, message, { serverCode: frame.code, decision });
        if (frame.id === undefined || !this.#outbox.reject(frame.id, error))
          this.#lifecycle.emit('error', error);
        break;
      }
      case 'auth_ok':
        this.#scheduleRefresh();
        break;
      case 'pong':
      case 'unknown':
        break;
    }
  }

  #onWelcome(welcome: WelcomeData): void {
    const ws = this.#ws;
    this.#clear(this.#welcomeTimer);
    this.#policy.connected();
    const verdict = this.#tracker.welcome(welcome);
    this.#ready = true;
    this.#everOpen = true;
    this.#lifecycle.emit('welcome', welcome);
    if (verdict.kind === 'reset') {
      const { reason, previous } = verdict;
      this.#lifecycle.emit('reset', { reason, epoch: welcome.epoch, seq: welcome.seq, previous });
    }
    // Handlers may have closed or reconnected the client; then this socket is no longer ours.
    if (this.#ws === ws) this.#setState('open');
    if (this.#ws !== ws || ws === undefined) return;
    for (const frame of this.#outbox.frames()) ws.send(frame);
    this.#seen?.connected(verdict.kind === 'reset' ? 0 : this.#tracker.lastSeq);
    this.#heartbeat?.start();
    this.#scheduleRefresh();
    this.#stableTimer = this.#o.timers.setTimeout(() => this.#policy.stable(), this.#o.backoff.resetAfterMs);
    // auto on SSE: leave the working stream later to try WebSocket again, resuming where it left off.
    const retryIn = this.#transport.retryIn(this.#o.now());
    if (retryIn !== undefined)
      this.#upgradeTimer = this.#o.timers.setTimeout(() => this.reconnect(), retryIn);
  }

  #onEvent(event: AgentEvent): void {
    const verdict = this.#tracker.accept(event);
    if (verdict.kind === 'duplicate') return;
    if (verdict.kind === 'gap') {
      // §3 promises no gaps; if frames were lost anyway, resume from lastSeq to get them in order.
      this.#drop(`seq gap: expected ${verdict.expected}, got ${event.seq}`);
      return;
    }
    if (verdict.kind === 'reset') {
      const { previous } = verdict;
      this.#lifecycle.emit('reset', {
        reason: 'epoch_changed',
        epoch: event.epoch,
        seq: event.seq - 1,
        previous,
      });
    }
    const run = this.#runs.event(event);
    this.#events.emit(event.type, event);
    this.#events.emit('*', event);
    this.#seen?.handed(event.seq);
    this.#onRun(run);
  }

  /** A `seen` frame on the open connection (docs/protocol.md B); false when there is none. */
  #sendSeen(seq: number): boolean {
    if (this.#ws === undefined || !this.#ready) return false;
    this.#ws.send(JSON.stringify({ type: 'seen', seq }));
    return true;
  }

  #onRun(run: RunState | undefined): void {
    if (run === undefined) return;
    this.#lifecycle.emit('run', run);
    // Only a waiting run adds a question, and only while some are pending can one leave.
    if (run.status !== 'waiting' && this.#approvals.length === 0) return;
    const next = changedApprovals(this.#runs.map.values(), this.#approvals);
    if (next === undefined) return;
    this.#approvals = next;
    this.#lifecycle.emit('approvals', next);
  }

  #scheduleRefresh(): void {
    this.#clear(this.#refreshTimer);
    const delay = this.#tokens.refreshDelay();
    if (delay !== undefined)
      this.#refreshTimer = this.#o.timers.setTimeout(() => void this.#refresh(), delay);
  }

  async #refresh(): Promise<void> {
    const ws = this.#ws;
    try {
      const token = await this.#tokens.fresh();
      // §2: the server answers auth_ok, which schedules the next refresh.
      if (this.#ws === ws && this.#ready) ws?.send(JSON.stringify({ type: 'auth', token }));
    } catch (cause) {
      if (this.#ws !== ws) return;
      const error = new ClientError(ClientErrorCode.TokenUnavailable, 'token refresh failed', { cause });
      this.#lifecycle.emit('error', error);
      this.#refreshTimer = this.#o.timers.setTimeout(() => void this.#refresh(), REFRESH_RETRY_MS);
    }
  }

  /** Abandons the connection without waiting for a close handshake that may never come, then reconnects. */
  #drop(reason: string): void {
    this.#transport.closed(this.#ready, ABNORMAL_CLOSURE, this.#o.now());
    this.#detach()?.close(CloseCode.Normal);
    this.#afterClose(ABNORMAL_CLOSURE, reason);
  }

  #afterClose(code: number, reason: string): void {
    if (this.#closedByApp) return;
    this.#schedule(this.#policy.afterClose(code), code, reason);
  }

  #schedule(plan: ReconnectPlan, code: number, reason: string): void {
    if (plan.action === 'stop') {
      this.#lifecycle.emit('disconnect', { code, reason, retryInMs: undefined });
      this.#outbox.rejectAll(plan.error);
      this.#setState('closed');
      this.#lifecycle.emit('error', plan.error);
      return;
    }
    if (plan.freshToken) this.#tokens.invalidate();
    this.#lifecycle.emit('disconnect', { code, reason, retryInMs: plan.delayMs });
    this.#setState(this.#everOpen ? 'reconnecting' : 'connecting');
    this.#retryTimer = this.#o.timers.setTimeout(() => void this.#connect(), plan.delayMs);
  }

  /** Forgets the current socket and every timer tied to it; returns the socket so the caller may close it. */
  #detach(): WebSocketLike | undefined {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#ready = false;
    this.#clear(this.#welcomeTimer);
    this.#clear(this.#refreshTimer);
    this.#clear(this.#stableTimer);
    this.#clear(this.#upgradeTimer);
    this.#heartbeat?.stop();
    this.#seen?.stop();
    if (ws !== undefined) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = ignoreSocketError;
    }
    return ws;
  }

  #clear(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#o.timers.clearTimeout(handle);
  }

  #setState(state: ClientState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#lifecycle.emit('statechange', { state, previous });
  }
}

/**
 * A close event always follows a socket error and carries what the client acts on. The handler must stay
 * set even on abandoned sockets: `ws` (Node) throws an unhandled 'error' when a connecting socket is closed.
 */
function ignoreSocketError(): void {}
