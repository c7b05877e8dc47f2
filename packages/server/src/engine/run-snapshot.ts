import type { RunSnapshot, RunSnapshotApproval, RunSnapshotStatus, RunSnapshotTool } from '@agentcast/client';
import { EventType, type JsonObject, type NewEvent } from '../protocol/events.js';
import { ENGINE_DEFAULTS } from './engine-defaults.js';

/**
 * Run snapshots (docs/protocol.md F): every event of a run is folded into its run's snapshot in the same
 * atomic step that stores it, so a snapshot is never ahead of or behind the stream. Both engines fold the
 * same {@link SnapshotPatch}, built here once per event: the memory engine with {@link applySnapshotPatch},
 * the Redis engine in lua/append.lua. Both read back a {@link SnapshotRecord} that
 * {@link snapshotFromRecord} turns into the wire shape, so the folding rules live in this file only (the
 * Lua applies the patch; it decides nothing about event types).
 */

/** What one event changes in its run's snapshot. */
export interface SnapshotPatch {
  /**
   * The run's new `status` (`ended_at` too when it ends the run): always applied, even past the byte bound,
   * unless the run has already ended (nothing changes an ended run's status).
   */
  readonly status?: RunSnapshotStatus;
  /** Fields set when they fit the byte bound (agent, task, thread_id, final_response, error). */
  readonly fields?: Readonly<Record<string, string>>;
  /** Text appended to `text` or `reasoning`, or one entry added to `tools` or `approvals`, when it fits. */
  readonly append?: { readonly target: SnapshotAppendTarget; readonly value: string };
}

/** Where an appended value goes. */
export type SnapshotAppendTarget = 'text' | 'reasoning' | 'tools' | 'approvals';

/**
 * A snapshot as an engine stores it. `fields` holds `started_at`, `status`, `first_seq`, `last_seq`, `epoch`, `bytes`,
 * `truncated` (`'1'` once truncated) and the optional fields of {@link SnapshotPatch.fields}, all strings
 * (a Redis hash); `tools` the tool entries in order (JSON each).
 */
export interface SnapshotRecord {
  readonly fields: Readonly<Record<string, string>>;
  readonly text: string;
  readonly reasoning: string;
  readonly tools: readonly string[];
  readonly approvals: readonly string[];
}

/** Bounds of one user's snapshots (`--run-snapshot-max-bytes`, `--run-snapshot-ttl-s`, `--run-snapshots-per-user`). */
export interface SnapshotLimits {
  /** UTF-8 bytes of the fields, text, reasoning and tool entries one snapshot keeps. */
  readonly maxBytes: number;
  /** How long a snapshot is kept after the run's last event. */
  readonly ttlMs: number;
  /** Most runs of one user listed (and caught up); the least recently active go first. */
  readonly perUser: number;
}

/** The snapshot bounds in force, defaults filled in; a bad value throws a TypeError naming it. */
export function snapshotLimits(limits: Partial<SnapshotLimits> = {}): SnapshotLimits {
  const check = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`runSnapshots.${name} must be an integer >= 1, got ${value}`);
    }
    return value;
  };
  return {
    maxBytes: check('maxBytes', limits.maxBytes ?? ENGINE_DEFAULTS.runSnapshotMaxBytes),
    ttlMs: check('ttlMs', limits.ttlMs ?? ENGINE_DEFAULTS.runSnapshotTtlMs),
    perUser: check('perUser', limits.perUser ?? ENGINE_DEFAULTS.runSnapshotsPerUser),
  };
}

/** A tool entry as stored: `tool_executing` adds `{execution_id, tool_name, tool_args}`; `tool_completed` the rest. */
interface ToolEntry {
  readonly execution_id: string;
  readonly tool_name: string;
  readonly tool_args?: JsonObject;
  readonly done?: true;
  readonly success?: boolean;
  readonly results?: unknown;
  readonly duration_ms?: number;
}

/** The statuses that end a run (lua/append.lua keeps the same list). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
]);
const TERMINAL = TERMINAL_STATUSES;

/**
 * The patch of one event of a run (docs/protocol.md F, the fold table). Events are validated before they
 * get here (docs/protocol.md §3), so golden-path fields have their types; anything else only moves
 * `last_seq`.
 */
export function snapshotPatch(event: NewEvent): SnapshotPatch {
  const data = event.data;
  switch (event.type) {
    case EventType.StreamChunk:
      return { append: { target: 'text', value: String(data.text) } };
    case EventType.AgentThinking:
      return { append: { target: 'reasoning', value: String(data.reasoning) } };
    case EventType.ToolExecuting:
      return {
        append: {
          target: 'tools',
          value: JSON.stringify({
            execution_id: data.execution_id,
            tool_name: data.tool_name,
            tool_args: data.tool_args,
          }),
        },
      };
    case EventType.ToolCompleted:
      return {
        append: {
          target: 'tools',
          value: JSON.stringify({
            execution_id: data.execution_id,
            tool_name: data.tool_name,
            done: true,
            success: data.success,
            results: data.results,
            duration_ms: data.duration_ms,
          }),
        },
      };
    case EventType.AgentStarted: {
      const fields: Record<string, string> = {
        agent: String(data.agent_name),
        task: String(data.task_description),
      };
      if (typeof data.thread_id === 'string') fields.thread_id = data.thread_id;
      return { fields };
    }
    case EventType.AgentCompleted: {
      const status = String(data.status);
      if (!TERMINAL.has(status)) return {};
      const fields: Record<string, string> = { final_response: JSON.stringify(data.final_response ?? null) };
      if (data.error !== undefined) fields.error = JSON.stringify(data.error);
      return { status: status as RunSnapshotStatus, fields };
    }
    case EventType.ApprovalRequested:
      return {
        status: 'waiting',
        append: {
          target: 'approvals',
          value: JSON.stringify({
            approval_id: data.approval_id,
            tool_name: data.tool_name,
            tool_args: data.tool_args,
            message: data.message,
            expires_at: data.expires_at,
          }),
        },
      };
    case EventType.ApprovalResolved:
      return {
        status: 'running',
        append: {
          target: 'approvals',
          value: JSON.stringify({
            approval_id: data.approval_id,
            done: true,
            decision: data.decision,
            ...(data.reason === undefined ? {} : { reason: data.reason }),
            by: data.by,
          }),
        },
      };
    default:
      return {};
  }
}

/** UTF-8 bytes of a patch's bounded parts (what the Lua's `#value` counts). */
export function patchBytes(patch: SnapshotPatch): number {
  let bytes = patch.append === undefined ? 0 : Buffer.byteLength(patch.append.value);
  if (patch.fields !== undefined) {
    for (const value of Object.values(patch.fields)) bytes += Buffer.byteLength(value);
  }
  return bytes;
}

/** A snapshot being folded in memory (the memory engine's store; lua/append.lua does the same in Redis). */
export class SnapshotState {
  readonly fields: Record<string, string>;
  text = '';
  reasoning = '';
  readonly tools: string[] = [];
  readonly approvals: string[] = [];
  bytes = 0;
  truncated = false;
  lastSeq = 0;
  /** Seq of the run's first event, while every event of the run is of one epoch. */
  firstSeq: number | undefined;
  epoch = '';
  /** Time of the last event, ms (its expiry is `ttlMs` after it). */
  touchedAt: number;

  constructor(startedAt: string, nowMs: number) {
    this.fields = { started_at: startedAt, status: 'running' };
    this.touchedAt = nowMs;
  }

  /** Whether the run has ended (its `agent_completed` was folded in). */
  get ended(): boolean {
    return TERMINAL.has(this.fields.status ?? '');
  }

  /** The record both engines read back. */
  get record(): SnapshotRecord {
    return {
      fields: {
        ...this.fields,
        ...(this.firstSeq === undefined ? {} : { first_seq: String(this.firstSeq) }),
        last_seq: String(this.lastSeq),
        epoch: this.epoch,
        bytes: String(this.bytes),
        truncated: this.truncated ? '1' : '0',
      },
      text: this.text,
      reasoning: this.reasoning,
      tools: this.tools,
      approvals: this.approvals,
    };
  }
}

/**
 * Folds one stored event's patch into `state` exactly as lua/append.lua does: the terminal status always;
 * the bounded parts only while the whole patch fits `maxBytes` and nothing was left out before (once a
 * part did not fit, `truncated` is set and no bounded part is kept any more, so `text` is never missing a
 * middle).
 */
export function applySnapshotPatch(
  state: SnapshotState,
  patch: SnapshotPatch,
  seq: number,
  epoch: string,
  ts: string,
  maxBytes: number,
): void {
  if (state.epoch === '') state.firstSeq = seq;
  else if (state.epoch !== epoch) state.firstSeq = undefined;
  state.lastSeq = seq;
  state.epoch = epoch;
  if (patch.status !== undefined && !state.ended) {
    state.fields.status = patch.status;
    if (TERMINAL.has(patch.status)) state.fields.ended_at = ts;
  }
  if (state.truncated || (patch.fields === undefined && patch.append === undefined)) return;
  const bytes = patchBytes(patch);
  if (state.bytes + bytes > maxBytes) {
    state.truncated = true;
    return;
  }
  state.bytes += bytes;
  if (patch.fields !== undefined) Object.assign(state.fields, patch.fields);
  const append = patch.append;
  if (append === undefined) return;
  if (append.target === 'text') state.text += append.value;
  else if (append.target === 'reasoning') state.reasoning += append.value;
  else if (append.target === 'tools') state.tools.push(append.value);
  else state.approvals.push(append.value);
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The tool calls of a run in the order they started, each completed by its `tool_completed`. */
function foldTools(entries: readonly string[]): RunSnapshotTool[] {
  const byId = new Map<string, RunSnapshotTool>();
  for (const text of entries) {
    const entry = parseJson(text) as ToolEntry | undefined;
    if (entry === undefined || typeof entry.execution_id !== 'string') continue;
    const known = byId.get(entry.execution_id);
    if (entry.done !== true) {
      if (known === undefined) {
        byId.set(entry.execution_id, {
          execution_id: entry.execution_id,
          tool_name: entry.tool_name,
          tool_args: entry.tool_args ?? {},
        });
      }
      continue;
    }
    const result: RunSnapshotTool = {
      execution_id: entry.execution_id,
      tool_name: known?.tool_name ?? entry.tool_name,
      tool_args: known?.tool_args ?? {},
      ...(entry.success === undefined ? {} : { success: entry.success }),
      results: entry.results ?? null,
      ...(entry.duration_ms === undefined ? {} : { duration_ms: entry.duration_ms }),
    };
    byId.set(entry.execution_id, result);
  }
  return [...byId.values()];
}

/** A run's approvals in the order they were asked, each with its resolution once it has one (G). */
function foldApprovals(entries: readonly string[]): RunSnapshotApproval[] {
  const byId = new Map<string, RunSnapshotApproval>();
  for (const text of entries) {
    const entry = parseJson(text) as (RunSnapshotApproval & { done?: true }) | undefined;
    if (entry === undefined || typeof entry.approval_id !== 'string') continue;
    if (entry.done !== true) {
      byId.set(entry.approval_id, entry);
      continue;
    }
    const { done: _done, ...resolution } = entry;
    const asked = byId.get(entry.approval_id);
    if (asked !== undefined) byId.set(entry.approval_id, { ...asked, ...resolution });
  }
  return [...byId.values()];
}

/** The wire form of a stored snapshot (docs/protocol.md F). */
export function snapshotFromRecord(runId: string, record: SnapshotRecord): RunSnapshot {
  const f = record.fields;
  const finalResponse = parseJson(f.final_response);
  const error = parseJson(f.error);
  return {
    run_id: runId,
    ...(f.thread_id === undefined ? {} : { thread_id: f.thread_id }),
    ...(f.agent === undefined ? {} : { agent: f.agent }),
    ...(f.task === undefined ? {} : { task: f.task }),
    status: (f.status ?? 'running') as RunSnapshotStatus,
    started_at: f.started_at ?? '',
    ...(f.ended_at === undefined ? {} : { ended_at: f.ended_at }),
    text: record.text,
    reasoning: record.reasoning,
    tools: foldTools(record.tools),
    approvals: foldApprovals(record.approvals),
    ...(f.final_response === undefined ? {} : { final_response: finalResponse as string | null }),
    ...(error === undefined ? {} : { error: error as { code: string; message: string } }),
    ...(f.first_seq === undefined ? {} : { first_seq: Number(f.first_seq) }),
    last_seq: Number(f.last_seq ?? 0),
    epoch: f.epoch ?? '',
    truncated: f.truncated === '1',
  };
}

/** Which runs a listing or a catch-up wants (docs/protocol.md F). */
export interface SnapshotQuery {
  /** `active`: running or waiting; `recent`: any. */
  readonly state: 'active' | 'recent';
  /** Only runs of this thread. */
  readonly threadId?: string | undefined;
  /** At most this many, most recently active first. */
  readonly limit: number;
}

/**
 * What a catch-up reads (docs/protocol.md F): the active runs, and, for a client resuming with `since` in
 * the user's current epoch, also the runs with an event after `since`.
 */
export interface CatchUpQuery {
  readonly since?: number | undefined;
  readonly epoch?: string | undefined;
}

/** Whether a snapshot status is still running (listed as `active`, caught up on every join). */
export function isActiveStatus(status: string | undefined): boolean {
  return status === 'running' || status === 'waiting';
}
