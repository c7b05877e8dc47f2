import type { AgentEvent, RunState } from './client-like.js';

/**
 * `pending`: nothing of the run seen yet; `running` until its `agent_completed` (`waiting`: for an
 * approval, docs/protocol.md F); then that event's status.
 */
export type RunStatus =
  | 'pending'
  | 'running'
  | 'waiting'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'timed_out';

/** A JSON object, as tool arguments are on the wire. */
export type JsonObject = AgentEvent['data'];

/** One tool call of a run: a `tool_executing` and its `tool_completed`, paired by `execution_id`. */
export interface ToolCall {
  readonly executionId: string;
  readonly name: string;
  /** `{}` when only the `tool_completed` was seen. */
  readonly args: JsonObject;
  /** True until its `tool_completed` arrives or the run ends (a cancel cuts a call: docs/protocol.md E). */
  readonly open: boolean;
  readonly success?: boolean;
  /** `tool_completed.data.results`, any JSON. */
  readonly result?: unknown;
  readonly durationMs?: number;
}

/** A run assembled from its golden-path events (docs/protocol.md §3). */
export interface RunView {
  readonly runId: string;
  readonly status: RunStatus;
  /** Every event of the run, in seq order, each once. */
  readonly events: readonly AgentEvent[];
  /** The `stream_chunk` texts joined in seq order. */
  readonly text: string;
  /** Tool calls in the order they started. */
  readonly tools: readonly ToolCall[];
  /** `agent_completed.data.error` when the run did not succeed. */
  readonly error: { readonly code: string; readonly message: string } | undefined;
  /** `agent_started.data.agent_name`. */
  readonly agent: string | undefined;
  /** `agent_completed.data.final_response` (`null` when the agent gave none); undefined while running. */
  readonly finalResponse: string | null | undefined;
}

const TERMINAL = new Set<string>(['succeeded', 'failed', 'cancelled', 'timed_out']);

/** The view of a run none of whose events has been seen. Each call returns a new frozen object. */
export function pendingRun(runId: string): RunView {
  return Object.freeze({
    runId,
    status: 'pending',
    events: Object.freeze([]),
    text: '',
    tools: Object.freeze([]),
    error: undefined,
    agent: undefined,
    finalResponse: undefined,
  });
}

interface MutableTool {
  executionId: string;
  name: string;
  args: JsonObject;
  open: boolean;
  success?: boolean;
  result?: unknown;
  durationMs?: number;
}

/**
 * Folds one run's events into a {@link RunView}. Mutable inside, immutable outside: {@link view} builds a
 * new frozen snapshot only when an event changed something since the last call, so a burst of events costs
 * one copy per render, not one per event, and unchanged runs keep their identity (React skips them).
 *
 * Events may come in any order and more than once: they are kept sorted by seq and deduplicated by
 * epoch + seq. Tool pairing and status do not depend on the order (a `tool_completed` seen first opens the
 * call it completes).
 */
export class RunAccumulator {
  readonly runId: string;
  readonly #events: AgentEvent[] = [];
  readonly #seen = new Set<string>();
  readonly #tools = new Map<string, MutableTool>();
  #text = '';
  #status: RunStatus = 'pending';
  #error: RunView['error'];
  #agent: string | undefined;
  #final: string | null | undefined;
  #view: RunView;
  #dirty = false;

  constructor(runId: string) {
    this.runId = runId;
    this.#view = pendingRun(runId);
  }

  /** Applies an event of this run; returns false (and changes nothing) for one already applied. */
  add(event: AgentEvent): boolean {
    const key = `${event.epoch}\u0000${event.seq}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    const at = this.#insert(event);
    this.#dirty = true;
    if (this.#status === 'pending') this.#status = 'running';
    const data = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'agent_started':
        if (typeof data.agent_name === 'string') this.#agent = data.agent_name;
        break;
      case 'stream_chunk':
        if (typeof data.text === 'string') {
          // In order (the usual case): append; otherwise rebuild from the sorted events.
          this.#text = at === this.#events.length - 1 ? this.#text + data.text : joinChunks(this.#events);
        }
        break;
      case 'tool_executing':
        this.#tool(data).args = isObject(data.tool_args) ? data.tool_args : {};
        break;
      case 'tool_completed': {
        const tool = this.#tool(data);
        tool.open = false;
        if (typeof data.success === 'boolean') tool.success = data.success;
        tool.result = data.results;
        if (typeof data.duration_ms === 'number') tool.durationMs = data.duration_ms;
        break;
      }
      case 'agent_completed':
        this.#complete(data);
        break;
    }
    return true;
  }

  /** The current snapshot; the same object until an event changes it. */
  view(): RunView {
    if (!this.#dirty) return this.#view;
    this.#dirty = false;
    this.#view = Object.freeze({
      runId: this.runId,
      status: this.#status,
      events: Object.freeze([...this.#events]),
      text: this.#text,
      tools: Object.freeze([...this.#tools.values()].map((t) => Object.freeze({ ...t }))),
      error: this.#error,
      agent: this.#agent,
      finalResponse: this.#final,
    });
    return this.#view;
  }

  /** Inserts in seq order (epochs in arrival order); returns the index. */
  #insert(event: AgentEvent): number {
    let i = this.#events.length;
    while (i > 0) {
      const prev = this.#events[i - 1] as AgentEvent;
      if (prev.epoch !== event.epoch || prev.seq < event.seq) break;
      i -= 1;
    }
    this.#events.splice(i, 0, event);
    return i;
  }

  #tool(data: Record<string, unknown>): MutableTool {
    const executionId = String(data.execution_id ?? '');
    let tool = this.#tools.get(executionId);
    if (tool === undefined) {
      tool = { executionId, name: String(data.tool_name ?? ''), args: {}, open: true };
      this.#tools.set(executionId, tool);
    }
    // After the run ended, a late call stays closed: nothing of the run follows agent_completed (§3).
    if (TERMINAL.has(this.#status) && tool.success === undefined) tool.open = false;
    return tool;
  }

  #complete(data: Record<string, unknown>): void {
    const status = typeof data.status === 'string' && TERMINAL.has(data.status) ? data.status : 'failed';
    this.#status = status as RunStatus;
    this.#final = typeof data.final_response === 'string' ? data.final_response : null;
    const error = data.error;
    if (isObject(error)) {
      this.#error = Object.freeze({ code: String(error.code ?? ''), message: String(error.message ?? '') });
    }
    // docs/protocol.md E: agent_completed closes every open tool call of the run.
    for (const tool of this.#tools.values()) tool.open = false;
  }
}

/**
 * The view of a run from the client's state of it (`client.run(id)`: its snapshot, if it was caught up,
 * with every later event folded in; docs/client.md "Runs") and the events of it this tab received. Text,
 * tools, status, agent, error and final response come from the client's fold, so a run caught up mid-way
 * has its whole text; `events` holds only the events received (not those folded into the snapshot).
 */
export function runViewOf(state: RunState, events: readonly AgentEvent[]): RunView {
  const ended = TERMINAL.has(state.status);
  return Object.freeze({
    runId: state.run_id,
    status: state.status,
    events,
    text: state.text,
    tools: Object.freeze(
      state.tools.map((t) =>
        Object.freeze({
          executionId: t.execution_id,
          name: t.tool_name,
          args: t.tool_args,
          // docs/protocol.md E: agent_completed closes every open tool call of the run.
          open: t.success === undefined && !ended,
          ...(t.success === undefined ? {} : { success: t.success, result: t.results }),
          ...(t.duration_ms === undefined ? {} : { durationMs: t.duration_ms }),
        }),
      ),
    ),
    error: state.error === undefined ? undefined : Object.freeze({ ...state.error }),
    agent: state.agent,
    finalResponse: state.final_response,
  });
}

/** Assembles a run from its events in one go (a pure function over {@link RunAccumulator}). */
export function assembleRun(runId: string, events: Iterable<AgentEvent>): RunView {
  const acc = new RunAccumulator(runId);
  for (const event of events) if (event.run_id === runId) acc.add(event);
  return acc.view();
}

function joinChunks(events: readonly AgentEvent[]): string {
  let text = '';
  for (const e of events) {
    if (e.type === 'stream_chunk' && typeof e.data.text === 'string') text += e.data.text;
  }
  return text;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
