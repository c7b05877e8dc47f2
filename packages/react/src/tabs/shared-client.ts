import {
  ClientError,
  ClientErrorCode,
  changedApprovals,
  Emitter,
  MAX_RUNS,
  type ResetReason,
  RunStates,
  type Timers,
  type Unsubscribe,
} from '@agentcast/client';
import type {
  Ack,
  AgentcastClientLike,
  AgentEvent,
  ApprovalAck,
  ClientState,
  EventOf,
  LifecycleEvents,
  PendingApproval,
  RunState,
  SendMessageOptions,
  StreamPosition,
} from '../client-like.js';
import { DeliveryTracker } from './delivery-tracker.js';
import { EventHistory } from './event-history.js';
import {
  groupName,
  isTabMessage,
  type SerializedError,
  type TabId,
  type TabMessage,
  type TabRequest,
} from './tab-protocol.js';

/** The part of `navigator.locks` (Web Locks) a {@link SharedClient} uses. */
export interface TabLockManager {
  request(
    name: string,
    options: { readonly signal: AbortSignal },
    callback: (lock: unknown) => Promise<void>,
  ): Promise<unknown>;
}

/** A BroadcastChannel, reduced to what a {@link SharedClient} uses. Never delivers a tab its own posts. */
export interface TabChannel {
  post(message: TabMessage): void;
  listen(handler: (data: unknown) => void): void;
  close(): void;
}

export interface SharedClientOptions {
  /** Names the group of tabs that share one socket (the lock and the channel); see {@link groupName}. */
  readonly name: string;
  readonly locks: TabLockManager;
  /** A channel already open on `groupName(name)`. */
  readonly channel: TabChannel;
  /** Creates the real client when this tab becomes the leader, resuming from `resumeFrom`. */
  readonly connect: (resumeFrom: StreamPosition | undefined) => AgentcastClientLike;
  /** Where this tab starts (a position saved earlier); otherwise the leader's position when it joins. */
  readonly resumeFrom?: StreamPosition | undefined;
  /** Events each tab keeps to fill another tab's gap. Default 1000 (the gateway's default history). */
  readonly historySize?: number | undefined;
  /** A follower's request fails with `AC_CLIENT_ACK_TIMEOUT` after this. Default 30 000 (`ackTimeoutMs`). */
  readonly requestTimeoutMs?: number | undefined;
  readonly timers?: Timers | undefined;
  readonly generateId?: (() => string) | undefined;
  /** Election terms; must grow across tabs of one machine. Default `Date.now`. */
  readonly now?: (() => number) | undefined;
}

/** Who holds the socket, seen from one tab. */
export type TabRole = 'leader' | 'follower';

interface PendingRequest {
  readonly request: TabRequest;
  readonly resolve: (ack: Ack | ApprovalAck) => void;
  readonly reject: (error: Error) => void;
  readonly timer: unknown;
}

/** How many times a follower asks for a replay that leaves its gap open before it resets instead. */
const MAX_REPLAY_ATTEMPTS = 5;

const systemTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/**
 * One WebSocket for every tab of an origin. Each tab makes a SharedClient; the one holding the Web Lock
 * (the leader) owns the real client and fans out every event over the BroadcastChannel; the others
 * (followers) deliver those events and forward `sendMessage` / `cancel` to the leader. When the leader's
 * tab goes away the browser hands the lock to the next tab, which creates its client resuming from its
 * own position. Every tab delivers each event once, in order: it deduplicates by epoch + seq and fills
 * gaps from the leader's history (or resets when it cannot). Plain TypeScript: tests drive it with fake
 * locks and channels.
 */
export class SharedClient implements AgentcastClientLike {
  /** This tab's id in the group. */
  readonly id: TabId;
  readonly #o: SharedClientOptions;
  readonly #timers: Timers;
  readonly #generateId: () => string;
  readonly #now: () => number;
  readonly #requestTimeoutMs: number;
  readonly #events = new Emitter<Record<string, AgentEvent>>();
  readonly #lifecycle = new Emitter<LifecycleEvents>();
  readonly #roles = new Emitter<{ role: TabRole }>();
  readonly #tracker: DeliveryTracker;
  readonly #history: EventHistory;
  readonly #runs = new RunStates(MAX_RUNS);
  readonly #abort = new AbortController();
  readonly #pending = new Map<string, PendingRequest>();
  #approvals: readonly PendingApproval[] = [];
  #role: TabRole = 'follower';
  #state: ClientState = 'connecting';
  #closed = false;
  #leaderId: TabId | undefined;
  #term = 0;
  #client: AgentcastClientLike | undefined;
  #clientSubscriptions: Unsubscribe[] = [];
  #releaseLock: (() => void) | undefined;
  /** Events after a gap, sorted by seq, waiting for the missing ones. */
  #held: AgentEvent[] = [];
  #replayAsked = false;
  #replayAttempts = 0;

  constructor(options: SharedClientOptions) {
    this.#o = options;
    this.#timers = options.timers ?? systemTimers;
    this.#generateId = options.generateId ?? randomId;
    this.#now = options.now ?? Date.now;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.id = this.#generateId();
    this.#tracker = new DeliveryTracker(options.resumeFrom);
    this.#history = new EventHistory(options.historySize ?? 1000);
    options.channel.listen((data) => {
      if (!this.#closed && isTabMessage(data)) this.#onMessage(data);
    });
    options.locks
      .request(groupName(options.name), { signal: this.#abort.signal }, () => this.#lead())
      .catch(() => undefined); // aborted by close() while waiting: nothing to do
    this.#post({ t: 'hello', from: this.id });
  }

  get role(): TabRole {
    return this.#role;
  }

  get state(): ClientState {
    return this.#state;
  }

  get lastSeq(): number {
    return this.#tracker.seq;
  }

  get epoch(): string | undefined {
    return this.#tracker.epoch;
  }

  /** The tab that holds the socket, as far as this tab knows. */
  get leaderId(): TabId | undefined {
    return this.#leaderId;
  }

  on<T extends string>(type: T, handler: (event: EventOf<T>) => void): Unsubscribe {
    return this.#events.on(type, handler as (event: AgentEvent) => void);
  }

  onLifecycle<K extends keyof LifecycleEvents>(
    name: K,
    handler: (payload: LifecycleEvents[K]) => void,
  ): Unsubscribe {
    return this.#lifecycle.on(name, handler);
  }

  /**
   * The user's runs (docs/client.md "Runs"), kept by every tab: folded from the events it delivers, and
   * taken from the leader for what its client got from `run_snapshot`s (and, when this tab opened, for
   * every run so far).
   */
  get runs(): ReadonlyMap<string, RunState> {
    return this.#runs.map;
  }

  run(runId: string): RunState | undefined {
    return this.#runs.map.get(runId);
  }

  onRun(handler: (run: RunState) => void): Unsubscribe {
    return this.#lifecycle.on('run', handler);
  }

  /** The pending approvals of {@link runs}, as `client.approvals` (docs/client.md "Approvals"). */
  get approvals(): readonly PendingApproval[] {
    return this.#approvals;
  }

  /** Called when this tab becomes the leader (followers never change role otherwise). */
  onRoleChange(handler: (role: TabRole) => void): Unsubscribe {
    return this.#roles.on('role', handler);
  }

  sendMessage(text: string, options: SendMessageOptions = {}): Promise<Ack> {
    if (typeof text !== 'string' || text === '') {
      return Promise.reject(new TypeError('sendMessage(text): text must be a non-empty string'));
    }
    // The id is fixed here, so a request resent to the next leader starts no second run (§6).
    const id = options.id ?? this.#generateId();
    return this.#request({
      op: 'send',
      text,
      options: { id, agent: options.agent, threadId: options.threadId },
    }) as Promise<Ack>;
  }

  cancel(runId: string): Promise<Ack> {
    return this.#request({ op: 'cancel', runId }) as Promise<Ack>;
  }

  /**
   * `client.answerApproval` on the tab holding the socket (docs/client.md "Approvals"). The id is fixed
   * here, so a request resent to the next leader is acked `duplicate` rather than refused CONFLICT.
   */
  answerApproval(
    approvalId: string,
    decision: 'approve' | 'deny',
    reason?: string,
    id: string = this.#generateId(),
  ): Promise<ApprovalAck> {
    return this.#request({ op: 'approval', approvalId, decision, reason, id }) as Promise<ApprovalAck>;
  }

  /** Leaves the group: closes the socket if this tab held it (the next tab takes over). Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#abort.abort();
    const client = this.#client;
    this.#dropClient();
    const closing = client?.close() ?? Promise.resolve();
    this.#releaseLock?.();
    this.#o.channel.close();
    const error = new ClientError(ClientErrorCode.Closed, 'the client was closed before an ack arrived');
    for (const [reqId, pending] of [...this.#pending]) {
      this.#pending.delete(reqId);
      this.#timers.clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#held = [];
    this.#setState('closed');
    return closing;
  }

  // --- leadership -------------------------------------------------------------------------------------

  /** The lock callback: lead until close() (or until the tab dies, when the browser releases the lock). */
  #lead(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((release) => {
      this.#releaseLock = release;
      try {
        this.#becomeLeader();
      } catch (error) {
        // connect() refused the options: no tab of this app can do better, so stop here, loudly.
        this.#dropClient();
        this.#setState('closed');
        release();
        queueMicrotask(() => {
          throw error;
        });
      }
    });
  }

  #becomeLeader(): void {
    this.#role = 'leader';
    this.#term = Math.max(this.#now(), this.#term + 1);
    this.#leaderId = this.id;
    // Our client resumes from our position: the server replays everything after it, so what we held
    // after a gap comes again in order, and anything other tabs already have is dropped there as a duplicate.
    this.#held = [];
    this.#replayAsked = false;
    const client = this.#o.connect(this.#tracker.position);
    this.#client = client;
    this.#clientSubscriptions = [
      client.on('*', (event) => this.#onClientEvent(event)),
      // Its events' changes are folded in #deliver already; what is left are the runs of run_snapshots.
      client.onRun?.((run) => {
        if (this.#takeRun(run)) this.#post({ t: 'runs', from: this.id, runs: [run] });
      }) ?? (() => undefined),
      client.onLifecycle('statechange', ({ state }) => {
        this.#setState(state);
        this.#post({ t: 'state', from: this.id, state });
      }),
      client.onLifecycle('welcome', (welcome) => {
        if (welcome.resume === 'snapshot') this.#catchUpTo(welcome.epoch, welcome.seq);
        this.#lifecycle.emit('welcome', welcome);
        this.#post({ t: 'welcome', from: this.id, welcome });
      }),
      client.onLifecycle('reset', ({ reason, epoch, seq }) => {
        this.#resetTo(reason, epoch, seq);
        this.#post({ t: 'reset', from: this.id, reason, epoch, seq });
      }),
      client.onLifecycle('disconnect', (info) => {
        this.#lifecycle.emit('disconnect', info);
        this.#post({ t: 'disconnect', from: this.id, info });
      }),
      client.onLifecycle('error', (error) => {
        this.#lifecycle.emit('error', error);
        this.#post({ t: 'error', from: this.id, error: serializeError(error) });
      }),
    ];
    this.#roles.emit('role', 'leader');
    this.#setState(client.state);
    this.#announce();
    // Our own requests that were waiting for a leader (or were sent to the one that left) run here now.
    for (const reqId of [...this.#pending.keys()]) this.#dispatch(reqId);
  }

  #announce(to?: TabId): void {
    const base = { t: 'leader', from: this.id, term: this.#term, state: this.#state } as const;
    this.#post({ ...base, position: this.#position(), ...(to === undefined ? {} : { to }) });
  }

  /** Where the group stands: the last event delivered, or the client's welcome position before any. */
  #position(): StreamPosition | undefined {
    const client = this.#client;
    if (this.#tracker.position !== undefined || client?.epoch === undefined) return this.#tracker.position;
    return { epoch: client.epoch, seq: client.lastSeq };
  }

  /** The leader's only source of events is its own client; it never takes them from the channel. */
  #onClientEvent(event: AgentEvent): void {
    const verdict = this.#tracker.judge(event);
    if (verdict === 'duplicate' || verdict === 'stale') return;
    if (verdict === 'gap' || verdict === 'epoch') {
      // The client delivers gap-free from where we resumed and announces resets first, so this is a
      // safety net: say what was lost, everywhere, before delivering.
      const reason: ResetReason = verdict === 'gap' ? 'missed_events' : 'epoch_changed';
      this.#resetTo(reason, event.epoch, event.seq - 1);
      this.#post({ t: 'reset', from: this.id, reason, epoch: event.epoch, seq: event.seq - 1 });
    }
    this.#deliver(event);
    this.#post({ t: 'event', from: this.id, event });
  }

  // --- messages ---------------------------------------------------------------------------------------

  #onMessage(m: TabMessage): void {
    const leading = this.#role === 'leader';
    switch (m.t) {
      case 'hello':
        if (leading) {
          this.#announce(m.from);
          this.#post({ t: 'runs', from: this.id, to: m.from, runs: [...this.#runs.map.values()] });
        }
        break;
      case 'runs':
        if (!leading && (m.to === undefined || m.to === this.id))
          for (const run of m.runs) this.#takeRun(run);
        break;
      case 'leader':
        if (!leading) this.#onLeader(m);
        break;
      case 'event':
        if (!leading) this.#accept(m.event);
        break;
      case 'reset':
        if (!leading) {
          this.#resetTo(m.reason, m.epoch, m.seq);
          this.#drainHeld();
        }
        break;
      case 'state':
        if (!leading && m.from === this.#leaderId) this.#setState(m.state);
        break;
      case 'welcome':
        if (!leading && m.from === this.#leaderId) {
          if (m.welcome.resume === 'snapshot') this.#catchUpTo(m.welcome.epoch, m.welcome.seq);
          this.#lifecycle.emit('welcome', m.welcome);
        }
        break;
      case 'disconnect':
        if (!leading && m.from === this.#leaderId) this.#lifecycle.emit('disconnect', m.info);
        break;
      case 'error':
        if (!leading && m.from === this.#leaderId) this.#lifecycle.emit('error', deserializeError(m.error));
        break;
      case 'request':
        if (leading && m.to === this.id) this.#serve(m.from, m.reqId, m.request);
        break;
      case 'reply':
        if (m.to === this.id) this.#settle(m.reqId, m.ack, m.error);
        break;
      case 'replay':
        if (leading && m.to === this.id) {
          const slice = this.#history.after(m.after, this.#position());
          this.#post({ t: 'replayed', from: this.id, to: m.from, ...slice, position: this.#position() });
        }
        break;
      case 'replayed':
        if (!leading && m.to === this.id) this.#onReplayed(m.events, m.complete, m.position);
        break;
    }
  }

  #onLeader(m: Extract<TabMessage, { t: 'leader' }>): void {
    if (m.term < this.#term) return; // a previous leader's announcement, arriving late
    const changed = m.from !== this.#leaderId;
    this.#term = m.term;
    this.#leaderId = m.from;
    this.#tracker.start(m.position);
    this.#setState(m.state);
    if (!changed) return;
    for (const reqId of this.#pending.keys()) this.#dispatch(reqId);
    this.#replayAsked = false;
    if (this.#held.length > 0) this.#askReplay();
  }

  /** The leader runs a follower's request on its client and answers it. */
  #serve(from: TabId, reqId: string, request: TabRequest): void {
    const client = this.#client;
    if (client === undefined) return;
    perform(client, request).then(
      (ack) => this.#post({ t: 'reply', from: this.id, to: from, reqId, ack }),
      (error: unknown) => {
        // Closing rejects everything pending with AC_CLIENT_CLOSED; the follower resends to the next leader.
        if (!this.#closed)
          this.#post({ t: 'reply', from: this.id, to: from, reqId, error: serializeError(error) });
      },
    );
  }

  // --- delivery ---------------------------------------------------------------------------------------

  /** A follower's event, from whichever tab sent it. */
  #accept(event: AgentEvent): void {
    const verdict = this.#tracker.judge(event);
    if (verdict === 'duplicate' || verdict === 'stale') return;
    if (verdict === 'gap') {
      this.#hold(event);
      this.#askReplay();
      return;
    }
    if (verdict === 'epoch') this.#resetTo('epoch_changed', event.epoch, event.seq - 1);
    this.#deliver(event);
    this.#drainHeld();
  }

  #deliver(event: AgentEvent): void {
    this.#tracker.advance(event);
    this.#history.push(event);
    const run = this.#runs.event(event);
    this.#events.emit(event.type, event);
    this.#events.emit('*', event);
    if (run !== undefined) this.#runChanged(run);
  }

  /** Emits `run`, then `approvals` when the pending questions changed, as the client does. */
  #runChanged(run: RunState): void {
    this.#lifecycle.emit('run', run);
    if (run.status !== 'waiting' && this.#approvals.length === 0) return;
    const next = changedApprovals(this.#runs.map.values(), this.#approvals);
    if (next === undefined) return;
    this.#approvals = next;
    this.#lifecycle.emit('approvals', next);
  }

  /** Takes a run's state unless this tab already has it at that point or later; returns whether it did. */
  #takeRun(run: RunState): boolean {
    const known = this.#runs.map.get(run.run_id);
    if (known !== undefined && known.epoch === run.epoch && known.last_seq >= run.last_seq) return false;
    this.#runChanged(this.#runs.snapshot(run));
    return true;
  }

  #hold(event: AgentEvent): void {
    const held = this.#held;
    if (held.some((e) => e.epoch === event.epoch && e.seq === event.seq)) return;
    let i = held.length;
    while (i > 0 && (held[i - 1] as AgentEvent).seq > event.seq) i -= 1;
    held.splice(i, 0, event);
    // Never hold more than history could ever fill: give the missing events up and go on.
    const first = held[0] as AgentEvent;
    if (held.length > this.#history.capacity) this.#resetTo('missed_events', first.epoch, first.seq - 1);
    this.#drainHeld();
  }

  /** Delivers held events that have become next in line; stops at the first one still after a gap. */
  #drainHeld(): void {
    while (this.#held.length > 0) {
      const event = this.#held[0] as AgentEvent;
      const verdict = this.#tracker.judge(event);
      if (verdict === 'gap') return;
      this.#held.shift();
      if (verdict === 'duplicate' || verdict === 'stale') continue;
      if (verdict === 'epoch') this.#resetTo('epoch_changed', event.epoch, event.seq - 1);
      this.#deliver(event);
    }
    this.#replayAsked = false;
    this.#replayAttempts = 0;
  }

  #askReplay(): void {
    const after = this.#tracker.position;
    const leader = this.#leaderId;
    if (this.#held.length === 0 || this.#replayAsked || after === undefined) return;
    if (leader === undefined || leader === this.id) return;
    if (this.#replayAttempts >= MAX_REPLAY_ATTEMPTS) {
      const first = this.#held[0];
      if (first !== undefined) this.#resetTo('missed_events', first.epoch, first.seq - 1);
      this.#drainHeld();
      return;
    }
    this.#replayAsked = true;
    this.#replayAttempts += 1;
    this.#post({ t: 'replay', from: this.id, to: leader, after });
  }

  #onReplayed(
    events: readonly AgentEvent[],
    complete: boolean,
    leaderPosition: StreamPosition | undefined,
  ): void {
    this.#replayAsked = false;
    if (!complete) {
      // The leader no longer has what we miss: reset to the first event we can still get.
      const next = [...events, ...this.#held].find((e) => {
        const v = this.#tracker.judge(e);
        return v !== 'duplicate' && v !== 'stale';
      });
      const target = next === undefined ? leaderPosition : { epoch: next.epoch, seq: next.seq - 1 };
      if (target !== undefined) this.#resetTo('missed_events', target.epoch, target.seq);
    }
    for (const event of events) {
      const verdict = this.#tracker.judge(event);
      if (verdict === 'gap') this.#hold(event);
      else if (verdict === 'deliver' || verdict === 'epoch') this.#accept(event);
    }
    this.#drainHeld();
    // Still a gap: the leader is behind us for now; its live events fill it, or the next ask does.
  }

  /**
   * A welcome `resume: "snapshot"` (docs/protocol.md F): the stream goes on after (epoch, seq), and the runs
   * come as snapshots (`runs` messages), so this tab moves there without a reset, as the client does.
   */
  #catchUpTo(epoch: string, seq: number): void {
    if (this.#tracker.jump(epoch, seq) === false) return;
    this.#held = this.#held.filter((e) => this.#tracker.judge(e) !== 'duplicate');
    this.#drainHeld();
  }

  /** Moves this tab forward to (epoch, seq), telling its handlers what was lost; no-op if nothing was. */
  #resetTo(reason: ResetReason, epoch: string, seq: number): void {
    const previous = this.#tracker.jump(epoch, seq);
    if (previous === false) return;
    this.#held = this.#held.filter((e) => this.#tracker.judge(e) !== 'duplicate');
    if (previous !== undefined) this.#lifecycle.emit('reset', { reason, epoch, seq, previous });
  }

  // --- requests ---------------------------------------------------------------------------------------

  #request(request: TabRequest): Promise<Ack | ApprovalAck> {
    if (this.#closed) {
      return Promise.reject(new ClientError(ClientErrorCode.Closed, 'the client is closed'));
    }
    const reqId = this.#generateId();
    return new Promise<Ack | ApprovalAck>((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        if (!this.#pending.delete(reqId)) return;
        const message = `no ack within ${this.#requestTimeoutMs} ms from the tab holding the connection`;
        reject(new ClientError(ClientErrorCode.AckTimeout, message));
      }, this.#requestTimeoutMs);
      this.#pending.set(reqId, { request, resolve, reject, timer });
      this.#dispatch(reqId);
    });
  }

  /** Runs a pending request on our client (leader) or sends it to the leader (follower), if there is one. */
  #dispatch(reqId: string): void {
    const pending = this.#pending.get(reqId);
    if (pending === undefined) return;
    const client = this.#client;
    if (client !== undefined) {
      this.#pending.delete(reqId);
      this.#timers.clearTimeout(pending.timer);
      const { request } = pending;
      perform(client, request).then(pending.resolve, pending.reject);
      return;
    }
    const to = this.#leaderId;
    if (to !== undefined) this.#post({ t: 'request', from: this.id, to, reqId, request: pending.request });
  }

  #settle(reqId: string, ack: Ack | ApprovalAck | undefined, error: SerializedError | undefined): void {
    const pending = this.#pending.get(reqId);
    if (pending === undefined) return;
    this.#pending.delete(reqId);
    this.#timers.clearTimeout(pending.timer);
    if (ack !== undefined) pending.resolve(ack);
    else pending.reject(deserializeError(error ?? { code: ClientErrorCode.Server, message: 'no answer' }));
  }

  // --- plumbing ---------------------------------------------------------------------------------------

  #dropClient(): void {
    for (const unsubscribe of this.#clientSubscriptions) unsubscribe();
    this.#clientSubscriptions = [];
    this.#client = undefined;
  }

  #setState(state: ClientState): void {
    // After close() a late message cannot bring the state back.
    if (this.#closed && state !== 'closed') return;
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#lifecycle.emit('statechange', { state, previous });
  }

  #post(message: TabMessage): void {
    if (!this.#closed) this.#o.channel.post(message);
  }
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof ClientError) {
    return {
      code: error.code,
      message: error.message,
      closeCode: error.closeCode,
      serverCode: error.serverCode,
      decision: error.decision,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: ClientErrorCode.Server, message };
}

function deserializeError(error: SerializedError): ClientError {
  return new ClientError(error.code as ClientErrorCode, error.message, {
    ...(error.closeCode === undefined ? {} : { closeCode: error.closeCode }),
    ...(error.serverCode === undefined ? {} : { serverCode: error.serverCode }),
    ...(error.decision === undefined ? {} : { decision: error.decision }),
  });
}

/** Runs a tab's request on the client that holds the socket. */
function perform(client: AgentcastClientLike, request: TabRequest): Promise<Ack | ApprovalAck> {
  if (request.op === 'send') return client.sendMessage(request.text, request.options);
  if (request.op === 'cancel') return client.cancel(request.runId);
  if (client.answerApproval === undefined)
    return Promise.reject(new TypeError('this client cannot answer approvals (no answerApproval)'));
  return client.answerApproval(request.approvalId, request.decision, request.reason, request.id);
}

/** `crypto.randomUUID()` (secure contexts, which Web Locks require anyway), else 128 random bits in hex. */
function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}
