import type { Unsubscribe } from '@agentcast/client';
import { ClientError, ClientErrorCode, changedApprovals, type Timers } from '@agentcast/client';
import type {
  Ack,
  AgentcastClientLike,
  AgentEvent,
  ApprovalAck,
  ClientState,
  ConnectionRole,
  PendingApproval,
  RunState,
  SendMessageOptions,
  StreamPosition,
} from './client-like.js';
import { pendingRun, RunAccumulator, type RunView, runViewOf } from './run-view.js';
import { SharedClient } from './tabs/shared-client.js';

/** Which events `useEvents` returns: one type, several types, `'*'` (all) or a predicate. */
export type EventFilter = string | readonly string[] | ((event: AgentEvent) => boolean);

/** What `useAgentcast()` returns. A new object only when `state`, `client` or `role` change. */
export interface ConnectionStatus {
  /** The connection state; `connecting` until the client exists (and during server rendering). */
  readonly state: ClientState;
  /** The provider's client; undefined while rendering on the server and before the provider's effect ran. */
  readonly client: AgentcastClientLike | undefined;
  /** Who holds the socket; undefined until the client exists. */
  readonly role: ConnectionRole | undefined;
  /**
   * The seq of the last event delivered, read when you access it: reading it does not subscribe, and
   * events do not re-render `useAgentcast()` users. Render per-event data with `useEvents` / `useRun`.
   */
  readonly lastSeq: number;
  /** The current epoch, read when accessed (like {@link lastSeq}). */
  readonly epoch: string | undefined;
}

/** A subscription to a filtered, growing list of events, in the shape `useSyncExternalStore` wants. */
export interface EventsView {
  readonly subscribe: (listener: () => void) => Unsubscribe;
  /** The matching events so far: the same array until a matching event arrives. */
  readonly getSnapshot: () => readonly AgentEvent[];
}

export interface AgentcastStoreOptions {
  /**
   * Creates the connection. Called from an effect (never while rendering, never on a server), once per
   * retain after a real close; `resumeFrom` is where the previous connection stopped.
   */
  readonly connect: (resumeFrom: StreamPosition | undefined) => AgentcastClientLike;
  /** Events kept for `useEvents` (oldest dropped first). Default 10 000. */
  readonly maxEvents?: number | undefined;
  /** Runs kept for `useRun` beyond those in use (oldest dropped first). Default 1 000. */
  readonly maxRuns?: number | undefined;
  /** For the deferred close. Default: the platform's. */
  readonly timers?: Timers | undefined;
}

const EMPTY: readonly AgentEvent[] = Object.freeze([]);

function status(
  state: ClientState,
  client: AgentcastClientLike | undefined,
  role: ConnectionRole | undefined,
  fallback: () => StreamPosition | undefined,
): ConnectionStatus {
  return Object.freeze({
    state,
    client,
    role,
    get lastSeq() {
      return client?.lastSeq ?? fallback()?.seq ?? 0;
    },
    get epoch() {
      return client?.epoch ?? fallback()?.epoch;
    },
  });
}

/** What every server render and every hydration sees: no client, nothing delivered. */
export const SERVER_STATUS: ConnectionStatus = status('connecting', undefined, undefined, () => undefined);
export const SERVER_EVENTS: readonly AgentEvent[] = EMPTY;
export const SERVER_RUNS: readonly RunState[] = Object.freeze([]);
export const SERVER_APPROVALS: readonly PendingApproval[] = Object.freeze([]);

const systemTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

interface EventSubscription {
  readonly match: (event: AgentEvent) => boolean;
  readonly listener: () => void;
}

interface Waiter {
  readonly run: (client: AgentcastClientLike) => void;
}

/**
 * The state behind `<AgentcastProvider>`, plain TypeScript. It creates its client lazily, on the first
 * {@link retain} (an effect), and closes it one macrotask after the last release, so React StrictMode's
 * mount → unmount → mount reuses one client (one socket). Subscriptions are per selector: a listener hears
 * only about what it selected (the status, one run, events of some types), so an event re-renders only
 * the components that use it.
 */
export class AgentcastStore {
  readonly #o: AgentcastStoreOptions;
  readonly #timers: Timers;
  readonly #maxEvents: number;
  readonly #maxRuns: number;
  #client: AgentcastClientLike | undefined;
  #clientSubscriptions: Unsubscribe[] = [];
  #refs = 0;
  #opened = false;
  #closeTimer: unknown;
  #position: StreamPosition | undefined;
  #status: ConnectionStatus = SERVER_STATUS;
  readonly #statusListeners = new Set<() => void>();
  readonly #eventSubscriptions = new Set<EventSubscription>();
  /** The event log (absolute index `#base + i`), trimmed from the front past `maxEvents`. */
  #log: AgentEvent[] = [];
  #base = 0;
  readonly #views = new Map<string, EventsView>();
  readonly #runs = new Map<string, RunAccumulator>();
  readonly #runListeners = new Map<string, Set<() => void>>();
  readonly #pendingRuns = new Map<string, RunView>();
  /** Views built from the client's run states, with what they were built from. */
  readonly #clientViews = new Map<
    string,
    { state: RunState; events: readonly AgentEvent[]; view: RunView }
  >();
  readonly #runsListeners = new Set<() => void>();
  #runsSnapshot: readonly RunState[] = SERVER_RUNS;
  #runsDirty = true;
  /** The pending approvals, and the runs array they were read from. */
  #approvals: readonly PendingApproval[] = SERVER_APPROVALS;
  #approvalsFrom: readonly RunState[] | undefined;
  #waiting: Waiter[] = [];

  constructor(options: AgentcastStoreOptions) {
    this.#o = options;
    this.#timers = options.timers ?? systemTimers;
    this.#maxEvents = Math.max(1, options.maxEvents ?? 10_000);
    this.#maxRuns = Math.max(1, options.maxRuns ?? 1_000);
  }

  /** The client, while one is open. */
  get client(): AgentcastClientLike | undefined {
    return this.#client;
  }

  /**
   * Takes a reference (one per mounted provider effect); the first creates the client. Returns the release
   * function; after the last release the client is closed on the next macrotask unless retained again.
   */
  retain(): () => void {
    this.#refs += 1;
    if (this.#closeTimer !== undefined) {
      this.#timers.clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    if (this.#client === undefined) this.#open();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#refs -= 1;
      if (this.#refs > 0) return;
      this.#closeTimer = this.#timers.setTimeout(() => {
        this.#closeTimer = undefined;
        if (this.#refs === 0) this.#close();
      }, 0);
    };
  }

  // --- status -----------------------------------------------------------------------------------------

  readonly getStatus = (): ConnectionStatus => this.#status;

  readonly subscribeStatus = (listener: () => void): Unsubscribe => {
    this.#statusListeners.add(listener);
    return () => {
      this.#statusListeners.delete(listener);
    };
  };

  // --- events -----------------------------------------------------------------------------------------

  /**
   * A view of the events matching `filter`. Views of a type (or list of types) are shared and cached;
   * a predicate gets a view of its own, so pass a stable function (module-level or `useCallback`).
   * Creating a view subscribes to nothing: it is safe while rendering.
   */
  events(filter?: EventFilter): EventsView {
    const key = filterKey(filter);
    const cached = key === undefined ? undefined : this.#views.get(key);
    if (cached !== undefined) return cached;
    const view = this.#view(matcher(filter));
    if (key !== undefined) this.#views.set(key, view);
    return view;
  }

  #view(match: (event: AgentEvent) => boolean): EventsView {
    let cursor = 0;
    let items: AgentEvent[] = [];
    let snapshot = EMPTY;
    return {
      subscribe: (listener) => {
        const subscription = { match, listener };
        this.#eventSubscriptions.add(subscription);
        return () => {
          this.#eventSubscriptions.delete(subscription);
        };
      },
      getSnapshot: () => {
        const end = this.#base + this.#log.length;
        let changed = false;
        for (let i = Math.max(cursor, this.#base); i < end; i++) {
          const event = this.#log[i - this.#base] as AgentEvent;
          if (match(event)) {
            items.push(event);
            changed = true;
          }
        }
        cursor = end;
        if (changed) {
          if (items.length > this.#maxEvents) items = items.slice(-this.#maxEvents);
          snapshot = Object.freeze(items.slice());
        }
        return snapshot;
      },
    };
  }

  // --- runs -------------------------------------------------------------------------------------------

  /**
   * The run's view: the same object until it changes. Built from the client's state of the run when the
   * client has it (a run caught up mid-way starts from its snapshot: docs/client.md "Runs"), else folded
   * from the events this store received.
   */
  run(runId: string): RunView {
    const acc = this.#runs.get(runId);
    const state = this.#client?.run?.(runId);
    if (state !== undefined) {
      const events = acc?.view().events ?? EMPTY;
      const cached = this.#clientViews.get(runId);
      if (cached?.state === state && cached.events === events) return cached.view;
      if (this.#clientViews.size >= this.#maxRuns) this.#clientViews.clear();
      const view = runViewOf(state, events);
      this.#clientViews.set(runId, { state, events, view });
      return view;
    }
    if (acc !== undefined) return acc.view();
    let pending = this.#pendingRuns.get(runId);
    if (pending === undefined) {
      if (this.#pendingRuns.size >= 256) this.#pendingRuns.clear();
      pending = pendingRun(runId);
      this.#pendingRuns.set(runId, pending);
    }
    return pending;
  }

  /** Calls `listener` after each event of `runId`, and for nothing else. */
  subscribeRun(runId: string, listener: () => void): Unsubscribe {
    let set = this.#runListeners.get(runId);
    if (set === undefined) {
      set = new Set();
      this.#runListeners.set(runId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#runListeners.get(runId) === set) this.#runListeners.delete(runId);
    };
  }

  /**
   * The client's runs (`client.runs`), least recently active first: the same array until a run changes.
   * Empty while there is no client, or with a client that keeps no runs.
   */
  readonly getRuns = (): readonly RunState[] => {
    if (!this.#runsDirty) return this.#runsSnapshot;
    this.#runsDirty = false;
    const runs = this.#client?.runs;
    this.#runsSnapshot = runs === undefined ? SERVER_RUNS : Object.freeze([...runs.values()]);
    return this.#runsSnapshot;
  };

  /** Calls `listener` whenever a run of the client changes. */
  readonly subscribeRuns = (listener: () => void): Unsubscribe => {
    this.#runsListeners.add(listener);
    return () => {
      this.#runsListeners.delete(listener);
    };
  };

  // --- approvals --------------------------------------------------------------------------------------

  /**
   * The approvals waiting for an answer (docs/client.md "Approvals"), read from the client's runs with the
   * SDK's own `pendingApprovals`, so every tab of `shareAcrossTabs` has them too. The same array until an
   * approval is asked or settled.
   */
  readonly getApprovals = (): readonly PendingApproval[] => {
    const runs = this.getRuns();
    if (runs === this.#approvalsFrom) return this.#approvals;
    this.#approvalsFrom = runs;
    const next = changedApprovals(runs, this.#approvals);
    if (next !== undefined) this.#approvals = Object.freeze(next);
    return this.#approvals;
  };

  /** Calls `listener` when a run changes; {@link getApprovals} keeps its array unless the approvals did. */
  readonly subscribeApprovals = this.subscribeRuns;

  /**
   * `client.answerApproval`, waiting for the client like {@link sendMessage}. Rejects with a ClientError:
   * `serverCode` CONFLICT (with the `decision` that won) or NOT_FOUND.
   */
  readonly answerApproval = (
    approvalId: string,
    decision: 'approve' | 'deny',
    reason?: string,
  ): Promise<ApprovalAck> =>
    this.#withClient((client) =>
      client.answerApproval === undefined
        ? Promise.reject(new TypeError('this client cannot answer approvals (no answerApproval)'))
        : client.answerApproval(approvalId, decision, reason),
    );

  // --- requests ---------------------------------------------------------------------------------------

  /**
   * `client.sendMessage`, also before the client exists: a child's effect runs before the provider's, so a
   * message sent on mount waits for the client instead of failing.
   */
  readonly sendMessage = (text: string, options?: SendMessageOptions): Promise<Ack> =>
    this.#withClient((client) => client.sendMessage(text, options));

  readonly cancel = (runId: string): Promise<Ack> => this.#withClient((client) => client.cancel(runId));

  #withClient<T>(request: (client: AgentcastClientLike) => Promise<T>): Promise<T> {
    if (this.#client !== undefined) return request(this.#client);
    if (this.#opened && this.#refs === 0) {
      return Promise.reject(new ClientError(ClientErrorCode.Closed, 'the AgentcastProvider is unmounted'));
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ run: (client) => request(client).then(resolve, reject) });
    });
  }

  // --- the client -------------------------------------------------------------------------------------

  #open(): void {
    const client = this.#o.connect(this.#position);
    this.#client = client;
    this.#opened = true;
    this.#clientSubscriptions = [
      client.on('*', (event) => this.#onEvent(event)),
      client.onLifecycle('statechange', () => this.#updateStatus()),
    ];
    if (client instanceof SharedClient) {
      this.#clientSubscriptions.push(client.onRoleChange(() => this.#updateStatus()));
    }
    if (client.onRun !== undefined) {
      this.#clientSubscriptions.push(client.onRun((run) => this.#onClientRun(run)));
    }
    this.#onRunsChanged();
    this.#updateStatus();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const waiter of waiting) waiter.run(client);
  }

  #close(): void {
    const client = this.#client;
    if (client === undefined) return;
    if (client.epoch !== undefined) this.#position = { epoch: client.epoch, seq: client.lastSeq };
    for (const unsubscribe of this.#clientSubscriptions) unsubscribe();
    this.#clientSubscriptions = [];
    this.#client = undefined;
    void client.close();
    this.#updateStatus();
    this.#onRunsChanged();
  }

  #updateStatus(): void {
    const client = this.#client;
    const state: ClientState = client?.state ?? (this.#opened ? 'closed' : 'connecting');
    const role: ConnectionRole | undefined =
      client === undefined ? this.#status.role : client instanceof SharedClient ? client.role : 'solo';
    const current = this.#status;
    if (current.state === state && current.client === client && current.role === role) return;
    this.#status = status(state, client, role, () => this.#position);
    for (const listener of [...this.#statusListeners]) listener();
  }

  #onEvent(event: AgentEvent): void {
    this.#position = { epoch: event.epoch, seq: event.seq };
    this.#log.push(event);
    // Trim in batches: one copy per maxEvents/2 events, not one per event.
    if (this.#log.length >= this.#maxEvents * 1.5) {
      const drop = this.#log.length - this.#maxEvents;
      this.#log = this.#log.slice(drop);
      this.#base += drop;
    }
    const runId = event.run_id;
    if (runId !== undefined) this.#onRunEvent(runId, event);
    for (const subscription of [...this.#eventSubscriptions]) {
      if (subscription.match(event)) subscription.listener();
    }
  }

  /** A run of the client changed: a snapshot arrived (no event of it), or one of its events was folded. */
  #onClientRun(run: RunState): void {
    const listeners = this.#runListeners.get(run.run_id);
    if (listeners !== undefined) for (const listener of [...listeners]) listener();
    this.#onRunsChanged();
  }

  #onRunsChanged(): void {
    this.#runsDirty = true;
    for (const listener of [...this.#runsListeners]) listener();
  }

  #onRunEvent(runId: string, event: AgentEvent): void {
    let acc = this.#runs.get(runId);
    if (acc === undefined) {
      acc = new RunAccumulator(runId);
      this.#runs.set(runId, acc);
      this.#pendingRuns.delete(runId);
      if (this.#runs.size > this.#maxRuns) this.#evictRun();
    }
    if (!acc.add(event)) return;
    const listeners = this.#runListeners.get(runId);
    if (listeners !== undefined) for (const listener of [...listeners]) listener();
  }

  /** Forgets the oldest run nobody is watching. */
  #evictRun(): void {
    for (const runId of this.#runs.keys()) {
      if (!this.#runListeners.has(runId)) {
        this.#runs.delete(runId);
        return;
      }
    }
  }
}

function filterKey(filter: EventFilter | undefined): string | undefined {
  if (filter === undefined || filter === '*') return '*';
  if (typeof filter === 'string') return `type:${filter}`;
  if (typeof filter === 'function') return undefined;
  return `types:${[...filter].sort().join('\u0000')}`;
}

function matcher(filter: EventFilter | undefined): (event: AgentEvent) => boolean {
  if (filter === undefined || filter === '*') return () => true;
  if (typeof filter === 'string') return (event) => event.type === filter;
  if (typeof filter === 'function') return filter;
  const types = new Set(filter);
  return (event) => types.has(event.type);
}
