import {
  type Ack,
  type AgentEvent,
  type ApprovalAck,
  ClientError,
  ClientErrorCode,
  type ClientState,
  Emitter,
  type EventOf,
  type LifecycleEvents,
  MAX_RUNS,
  type RunSnapshot,
  type RunState,
  RunStates,
  type SendMessageOptions,
  type StreamPosition,
  type Unsubscribe,
} from '@agentcast/client';
import type { AgentcastClientLike } from '../../src/client-like.js';

interface Request {
  readonly op: 'send' | 'cancel' | 'approval';
  readonly text?: string;
  readonly options?: SendMessageOptions;
  readonly runId?: string;
  /** An `approval`'s arguments. */
  readonly approval?: { approvalId: string; decision: string; reason?: string; id?: string };
  // One resolve for every op: the test answers each request with the ack of its kind.
  readonly resolve: (ack: never) => void;
  readonly reject: (error: Error) => void;
}

/** An AgentcastClient stand-in: the test plays the server (events, lifecycle, acks). */
export class FakeClient implements AgentcastClientLike {
  readonly resumeFrom: StreamPosition | undefined;
  readonly requests: Request[] = [];
  state: ClientState = 'connecting';
  epoch: string | undefined;
  lastSeq = 0;
  closed = false;
  readonly #events = new Emitter<Record<string, AgentEvent>>();
  readonly #lifecycle = new Emitter<LifecycleEvents>();

  constructor(resumeFrom?: StreamPosition) {
    this.resumeFrom = resumeFrom;
    this.epoch = resumeFrom?.epoch;
    this.lastSeq = resumeFrom?.seq ?? 0;
  }

  on<T extends string>(type: T, handler: (event: EventOf<T>) => void): Unsubscribe {
    return this.#events.on(type, handler as (event: AgentEvent) => void);
  }

  onLifecycle<K extends keyof LifecycleEvents>(
    name: K,
    handler: (p: LifecycleEvents[K]) => void,
  ): Unsubscribe {
    return this.#lifecycle.on(name, handler);
  }

  sendMessage(text: string, options: SendMessageOptions = {}): Promise<Ack> {
    return new Promise((resolve, reject) =>
      this.requests.push({ op: 'send', text, options, resolve, reject }),
    );
  }

  cancel(runId: string): Promise<Ack> {
    return new Promise((resolve, reject) => this.requests.push({ op: 'cancel', runId, resolve, reject }));
  }

  answerApproval(
    approvalId: string,
    decision: 'approve' | 'deny',
    reason?: string,
    id?: string,
  ): Promise<ApprovalAck> {
    const approval = { approvalId, decision, ...(reason === undefined ? {} : { reason }), id };
    return new Promise((resolve, reject) =>
      this.requests.push({ op: 'approval', approval, resolve, reject }),
    );
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const r of this.requests.splice(0)) r.reject(new ClientError(ClientErrorCode.Closed, 'closed'));
    this.setState('closed');
    return Promise.resolve();
  }

  // --- the test's side ---

  setState(state: ClientState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.#lifecycle.emit('statechange', { state, previous });
  }

  /** A welcome (resume `none` on the first connection) and `open`. */
  open(epoch = 'e1', seq = this.lastSeq, resume: 'none' | 'ok' | 'reset' | 'snapshot' = 'none'): void {
    const previous = this.epoch === undefined ? undefined : { epoch: this.epoch, seq: this.lastSeq };
    this.epoch = epoch;
    if (resume !== 'ok') this.lastSeq = seq;
    const welcome = {
      connection_id: 'c1',
      user_id: 'u1',
      server_id: 's1',
      epoch,
      seq,
      heartbeat_ms: 25_000,
      resume,
    } as LifecycleEvents['welcome'];
    this.#lifecycle.emit('welcome', welcome);
    if (resume === 'reset' && previous !== undefined) {
      this.#lifecycle.emit('reset', { reason: 'resume_reset', epoch, seq, previous });
    }
    this.setState('open');
  }

  /** Delivers events as the real client would (it has already deduplicated and ordered them). */
  deliver(...events: AgentEvent[]): void {
    for (const event of events) {
      this.epoch = event.epoch;
      this.lastSeq = event.seq;
      this.#events.emit(event.type, event);
      this.#events.emit('*', event);
    }
  }

  lifecycle<K extends keyof LifecycleEvents>(name: K, payload: LifecycleEvents[K]): void {
    this.#lifecycle.emit(name, payload);
  }

  /** Answers the oldest unanswered request. */
  answer(ack: (r: Request) => Ack | ApprovalAck | Error): Request {
    const r = this.requests.shift();
    if (r === undefined) throw new Error('no request to answer');
    const result = ack(r);
    if (result instanceof Error) r.reject(result);
    else r.resolve(result as never);
    return r;
  }
}

/**
 * A FakeClient that keeps runs as the real client does (`client.runs`, docs/client.md "Runs"): events are
 * folded before the `on()` handlers run and `onRun` follows them; `snapshot()` plays a `run_snapshot`.
 */
export class RunsClient extends FakeClient {
  readonly #runs = new RunStates(MAX_RUNS);

  get runs(): ReadonlyMap<string, RunState> {
    return this.#runs.map;
  }

  run(runId: string): RunState | undefined {
    return this.#runs.map.get(runId);
  }

  onRun(handler: (run: RunState) => void): Unsubscribe {
    return this.onLifecycle('run', handler);
  }

  /** A `run_snapshot` frame. */
  snapshot(snapshot: RunSnapshot): void {
    this.lifecycle('run', this.#runs.snapshot(snapshot));
  }

  override deliver(...events: AgentEvent[]): void {
    for (const event of events) {
      const run = this.#runs.event(event);
      super.deliver(event);
      if (run !== undefined) this.lifecycle('run', run);
    }
  }
}
