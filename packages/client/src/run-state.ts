import type { AgentEvent } from './agent-event.js';
import {
  type JsonObject,
  type RunSnapshot,
  type RunSnapshotApproval,
  type RunSnapshotStatus,
  type RunSnapshotTool,
  RunStatus,
} from './protocol/wire.js';

/**
 * A run as the client keeps it: its snapshot (docs/protocol.md F) with every later event of it folded in,
 * so it has the wire shape of a snapshot, and `last_seq` is the seq of the run's latest event seen.
 */
export type RunState = RunSnapshot;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * An approval waiting for an answer (docs/protocol.md G): its question, with the run that asked it. The
 * shape of an entry of `GET /v1/approvals`.
 */
export type PendingApproval = RunSnapshotApproval & { readonly run_id: string };

/**
 * The approvals of `runs` waiting for an answer, in the runs' order. Read from the runs alone (one source
 * of truth: a question is pending while its run waits and it has no decision), so `client.approvals` and
 * a run's `approvals` never disagree.
 */
export function pendingApprovals(runs: Iterable<RunState>): PendingApproval[] {
  const pending: PendingApproval[] = [];
  for (const run of runs)
    if (run.status === 'waiting')
      for (const a of run.approvals) if (a.decision === undefined) pending.push({ ...a, run_id: run.run_id });
  return pending;
}

/**
 * The pending approvals of `runs` when they differ from `current` (a question asked or one settled), else
 * undefined: a caller keeps its array, and tells its listeners nothing, until the approvals change.
 */
export function changedApprovals(
  runs: Iterable<RunState>,
  current: readonly PendingApproval[],
): PendingApproval[] | undefined {
  const next = pendingApprovals(runs);
  const ids = (list: readonly PendingApproval[]) => list.map((a) => a.approval_id).join('\u0000');
  return ids(next) === ids(current) ? undefined : next;
}

/** How many runs the client keeps (docs/client.md): the most recently active ones. */
export const MAX_RUNS = 50;

const TERMINAL: readonly string[] = Object.values(RunStatus);

/** The `data` fields the fold reads, of whichever type (docs/protocol.md §3, G); the gateway validated them. */
interface FoldData {
  readonly agent_name?: string;
  readonly task_description?: string;
  readonly thread_id?: unknown;
  readonly text?: string;
  readonly reasoning?: string;
  readonly execution_id?: string;
  readonly tool_name?: string;
  readonly tool_args?: JsonObject;
  readonly success?: boolean;
  readonly results?: unknown;
  readonly duration_ms?: number;
  readonly status?: string;
  readonly final_response?: string | null;
  readonly error?: { readonly code: string; readonly message: string };
  readonly approval_id?: string;
  readonly message?: string;
  readonly expires_at?: string;
  readonly decision?: RunSnapshotApproval['decision'];
  readonly reason?: string;
  readonly by?: RunSnapshotApproval['by'];
}

/**
 * Folds one event into its run exactly as the gateway folds it into the snapshot (docs/protocol.md F, the
 * fold table; G for approvals) and returns the new state, or `run` itself when the event is already in it
 * (same epoch, `seq <= last_seq`). `event` is one of the run's (its `run_id` is the run's). Pure: `run` is
 * never changed. `run` undefined: the run is first seen by this event, which sets `started_at` and
 * `first_seq`. Like the
 * gateway, a truncated run keeps its text, reasoning, tools and approvals as they are (a part of them is
 * missing, and appending would hide the hole) while `status`, `ended_at` and `last_seq` stay exact; and an
 * ended run's status never changes. The client trusts the gateway's validation of the fields (§3, B).
 */
export function foldRunEvent(run: RunState | undefined, event: AgentEvent): RunState {
  const r: RunState = run ?? {
    run_id: event.run_id as string,
    status: 'running',
    started_at: event.ts,
    text: '',
    reasoning: '',
    tools: [],
    approvals: [],
    first_seq: event.seq,
    last_seq: 0,
    epoch: event.epoch,
    truncated: false,
  };
  if (r.epoch === event.epoch && event.seq <= r.last_seq) return r;
  const next: Mutable<RunState> = { ...r, last_seq: event.seq, epoch: event.epoch };
  // As the gateway: a run whose events span epochs has no first seq of its current epoch.
  if (r.epoch !== event.epoch) delete next.first_seq;
  const { type } = event;
  const d = event.data as FoldData;
  const ending = type === 'agent_completed';
  // agent_completed ends the run; an approval asked makes it wait, its answer makes it run again.
  const status = ending
    ? d.status
    : type === 'approval_requested'
      ? 'waiting'
      : type === 'approval_resolved'
        ? 'running'
        : undefined;
  if (ending && !TERMINAL.includes(status as string)) return next;
  if (status !== undefined && !TERMINAL.includes(r.status)) {
    next.status = status as RunSnapshotStatus;
    if (ending) next.ended_at = event.ts;
  }
  if (next.truncated) return next;
  if (type === 'stream_chunk') next.text += d.text;
  else if (type === 'agent_thinking') next.reasoning += d.reasoning;
  else if (type === 'agent_started') {
    next.agent = d.agent_name as string;
    next.task = d.task_description as string;
    if (typeof d.thread_id === 'string') next.thread_id = d.thread_id;
  } else if (ending) {
    next.final_response = d.final_response ?? null;
    if (d.error !== undefined) next.error = d.error;
  } else if (type === 'tool_executing' || type === 'tool_completed') {
    const id = d.execution_id as string;
    const known = r.tools.find((t) => t.execution_id === id);
    // The first tool_executing of an id wins; its tool_completed completes it (or adds it, args `{}`).
    const tool: Mutable<RunSnapshotTool> = {
      execution_id: id,
      tool_name: d.tool_name as string,
      tool_args: d.tool_args ?? {},
      ...known,
    };
    if (type === 'tool_completed') {
      tool.success = d.success as boolean;
      tool.results = d.results ?? null;
      tool.duration_ms = d.duration_ms as number;
    }
    next.tools = known === undefined ? [...r.tools, tool] : r.tools.map((t) => (t === known ? tool : t));
  } else if (type === 'approval_requested' || status === 'running') {
    const id = d.approval_id as string;
    const known = r.approvals.find((a) => a.approval_id === id);
    // A question replaces one asked with its id before; an answer completes its question (none: ignored).
    const approval: RunSnapshotApproval | undefined =
      status === 'waiting'
        ? {
            approval_id: id,
            tool_name: d.tool_name as string,
            tool_args: d.tool_args as JsonObject,
            message: d.message as string,
            expires_at: d.expires_at as string,
          }
        : known && {
            ...known,
            decision: d.decision,
            ...(d.reason === undefined ? {} : { reason: d.reason }),
            by: d.by,
          };
    if (approval !== undefined) {
      next.approvals =
        known === undefined
          ? [...r.approvals, approval]
          : r.approvals.map((a) => (a === known ? approval : a));
    }
  }
  return next;
}

/**
 * The user's runs by run id, least recently active first, at most `max` (the least recently active is
 * forgotten first). Each run is an immutable {@link RunState}: a change replaces the object, so a UI can
 * compare by identity. Pure: no I/O, no timers.
 */
export class RunStates {
  readonly map = new Map<string, RunState>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Folds a run event in; returns the run's new state, or undefined when nothing changed. */
  event(event: AgentEvent): RunState | undefined {
    const id = event.run_id;
    if (id === undefined) return undefined;
    const run = this.map.get(id);
    const next = foldRunEvent(run, event);
    return next === run ? undefined : this.snapshot(next);
  }

  /**
   * Takes a `run_snapshot` (docs/protocol.md F): it replaces what the client knew of the run. It is never
   * older than that: it comes after a welcome `resume: "snapshot"`, read at the welcome's seq, which no
   * event the client had is past. Returns it.
   */
  snapshot(run: RunState): RunState {
    // Delete first, so the Map's order is the order of last activity.
    this.map.delete(run.run_id);
    this.map.set(run.run_id, run);
    if (this.map.size > this.#max) this.map.delete(this.map.keys().next().value as string);
    return run;
  }
}
