import type { ApprovalDecision, StoredEvent } from '../protocol/events.js';
import type {
  ActiveRun,
  CancelDelivery,
  HistoryResult,
  IdempotencyClaim,
  LogHead,
  Promotion,
  ResetReason,
  RunReservation,
} from './engine.js';
import type { SnapshotRecord } from './run-snapshot.js';
import { parseStoredFrame } from './stored-frame.js';

/**
 * Decoders of the replies of the Lua scripts in `lua/`. A reply of an unexpected shape means the scripts
 * and this code disagree (a deployment mix-up or a bug): a TypeError, never a guess.
 */

function array(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`RedisEngine: unexpected script reply ${String(reply)}`);
  return reply;
}

function string(value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`RedisEngine: expected a string reply, got ${String(value)}`);
  return value;
}

function integer(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`RedisEngine: expected an integer reply, got ${String(value)}`);
  }
  return value;
}

const RESET_REASONS: ReadonlySet<string> = new Set<ResetReason>(['epoch_changed', 'ahead', 'expired']);

function isResetReason(verdict: string): verdict is ResetReason {
  return RESET_REASONS.has(verdict);
}

/** `head.lua`: {epoch, seq}. */
export function parseHeadReply(reply: unknown): LogHead {
  const [epoch, seq] = array(reply);
  return { epoch: string(epoch), seq: integer(seq) };
}

/** `append.lua`: {seq, epoch} of the stored event. */
export function parseAppendReply(reply: unknown): LogHead {
  const [seq, epoch] = array(reply);
  return { epoch: string(epoch), seq: integer(seq) };
}

/**
 * `append-batch.lua`: one JSON array with a reply per append, in order: append.lua's reply ([seq, epoch], or
 * a fenced append's refusal), or `{"err": message}` for an append that failed, given here as its error.
 * Undefined when the reply is not that array of `count` replies.
 */
export function parseAppendBatchReply(reply: unknown, count: number): [Error | null, unknown][] | undefined {
  if (typeof reply !== 'string' && !Buffer.isBuffer(reply)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.toString());
  } catch {
    // Not JSON: the scripts and this code disagree; every append of the call fails.
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== count) return undefined;
  return parsed.map((one: unknown): [Error | null, unknown] => {
    if (typeof one === 'object' && one !== null && !Array.isArray(one) && 'err' in one) {
      return [new Error(String(one.err)), undefined];
    }
    return [null, one];
  });
}

/**
 * `append-once.lua`: 'conflict', or {'stored' | 'repeat', record}, the record JSON
 * `{"f": fingerprint, "r": [[seq, epoch], …]}` (its seq and epoch per event).
 */
export function parseAppendOnceReply(
  reply: unknown,
): { readonly outcome: 'conflict' } | { readonly outcome: 'stored' | 'repeat'; readonly results: LogHead[] } {
  if (reply === 'conflict') return { outcome: 'conflict' };
  const [outcome, record] = array(reply);
  if (outcome !== 'stored' && outcome !== 'repeat') {
    throw new TypeError(`RedisEngine: unexpected append-once outcome ${String(outcome)}`);
  }
  const parsed: unknown = JSON.parse(string(record));
  const rows = typeof parsed === 'object' && parsed !== null ? (parsed as { r?: unknown }).r : undefined;
  return { outcome, results: array(rows).map(parseAppendReply) };
}

/**
 * `append.lua` with a run fence: {seq, epoch} of the stored event, or the reason it was refused
 * (`not_registered`, `not_owner`, `live`).
 */
export function parseFencedAppendReply(reply: unknown): LogHead | string {
  if (typeof reply === 'string') return reply;
  return parseAppendReply(reply);
}

/** A lapsed run as `due-runs.lua` names it. */
export interface LapsedRun {
  readonly runId: string;
  readonly agent: string;
  readonly node: string;
}

/** `due-runs.lua`: {earliest lease end or -1, then run id, JSON record, ... of the lapsed runs}. */
export function parseDueRunsReply(reply: unknown): {
  readonly next: number;
  readonly lapsed: LapsedRun[];
} {
  const [next, ...rest] = array(reply);
  const lapsed: LapsedRun[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    const { agent, node } = runRecord(rest[i + 1]);
    lapsed.push({ runId: string(rest[i]), agent: string(agent), node: string(node) });
  }
  return { next: integer(next), lapsed };
}

function runRecord(value: unknown): Record<string, unknown> {
  const record: unknown = JSON.parse(string(value));
  if (typeof record !== 'object' || record === null) {
    throw new TypeError(`RedisEngine: unexpected run record ${String(value)}`);
  }
  return record as Record<string, unknown>;
}

/** `run-index.lua` 'due': user ids. */
export function parseStringsReply(reply: unknown): string[] {
  return array(reply).map(string);
}

/** `claim.lua`: {1} or {0, value}. */
export function parseClaimReply(reply: unknown): IdempotencyClaim {
  const [claimed, value] = array(reply);
  return integer(claimed) === 1 ? { claimed: true } : { claimed: false, value: string(value) };
}

/** `acquire-slot.lua`: 1 granted, 0 refused. */
export function parseSlotReply(reply: unknown): boolean {
  return integer(reply) === 1;
}

/** `start-run.lua`: 1 registered, 0 at the limit, or the id of the active run of the same key. */
export function parseStartRunReply(reply: unknown): RunReservation {
  if (typeof reply === 'string') return { ok: false, reason: 'duplicate', runId: reply };
  if (Array.isArray(reply)) {
    const [kind, runId] = reply as unknown[];
    if (kind === 'queued') return { ok: true, queued: true, behind: string(runId) };
    if (kind === 'busy') return { ok: false, reason: 'busy', runId: string(runId) };
    if (kind === 'queue_full') return { ok: false, reason: 'queue_full' };
    throw new TypeError(`RedisEngine: unexpected start-run reply ${String(kind)}`);
  }
  return integer(reply) === 1 ? { ok: true } : { ok: false, reason: 'limit' };
}

/** `promote-run.lua`: 'started', 'waiting' or 'gone'. */
export function parsePromoteReply(reply: unknown): Promotion {
  if (reply === 'started' || reply === 'waiting' || reply === 'gone') return reply;
  throw new TypeError(`RedisEngine: unexpected promote-run reply ${String(reply)}`);
}

/** `renew-run.lua`, `end-run.lua`: 1 done, 0 not. */
export function parseRunReply(reply: unknown): boolean {
  return integer(reply) === 1;
}

/** `active-runs.lua`: {run id, JSON {agent, node, started_at}, ...}, oldest first. */
export function parseActiveRunsReply(reply: unknown): ActiveRun[] {
  const parts = array(reply);
  const runs: ActiveRun[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const record: unknown = JSON.parse(string(parts[i + 1]));
    if (typeof record !== 'object' || record === null) {
      throw new TypeError(`RedisEngine: unexpected run record ${String(parts[i + 1])}`);
    }
    const { agent, node, started_at: startedAt, thread, queued } = record as Record<string, unknown>;
    runs.push({
      runId: string(parts[i]),
      agent: string(agent),
      node: string(node),
      startedAt: integer(startedAt),
      ...(typeof thread === 'string' ? { threadId: thread } : {}),
      ...(queued === undefined ? {} : { queued: true as const }),
    });
  }
  return runs.sort((a, b) => a.startedAt - b.startedAt);
}

/** A decoded `history.lua` reply, with the frames as stored (to deliver without re-encoding). */
export interface HistoryReply {
  readonly result: HistoryResult;
  readonly frames: readonly string[];
  /** A stored frame could not be read; the result is then a reset (the gap cannot be filled, §4). */
  readonly unreadable: boolean;
}

/** `history.lua`: {epoch, seq, verdict, frame...}. */
export function parseHistoryReply(reply: unknown): HistoryReply {
  const parts = array(reply);
  const head = { epoch: string(parts[0]), seq: integer(parts[1]) };
  const verdict = string(parts[2]);
  if (isResetReason(verdict))
    return { result: { kind: 'reset', head, reason: verdict }, frames: [], unreadable: false };
  if (verdict !== 'ok' && verdict !== 'partial')
    throw new TypeError(`RedisEngine: unknown history verdict ${verdict}`);
  const frames = parts.slice(3).map(string);
  const events: StoredEvent[] = [];
  for (const frame of frames) {
    const event = parseStoredFrame(frame);
    if (event === undefined) {
      return { result: { kind: 'reset', head, reason: 'expired' }, frames: [], unreadable: true };
    }
    events.push(event);
  }
  return { result: { kind: 'ok', head, events, complete: verdict === 'ok' }, frames, unreadable: false };
}

/** `request-cancel.lua`: {'active' | 'lapsed', node} or {'ended' | 'unknown'}. */
export function parseCancelReply(reply: unknown): CancelDelivery {
  const [state, node] = array(reply);
  if (state === 'active' || state === 'lapsed') return { state, node: string(node) };
  if (state === 'ended' || state === 'unknown') return { state };
  throw new TypeError(`RedisEngine: unexpected cancel reply ${String(state)}`);
}

/** `snapshots.lua`: the run ids to name in a new round of a catch-up, or the head and the snapshots read. */
export type SnapshotsReply =
  | { readonly kind: 'retry'; readonly runIds: readonly string[] }
  | {
      readonly kind: 'ok';
      readonly head: LogHead;
      readonly records: readonly { readonly runId: string; readonly record: SnapshotRecord }[];
    };

/** `snapshots.lua`: {'retry', run id…} or {epoch, seq, then per run: id, hash fields, text, reasoning, tools, approvals}. */
export function parseSnapshotsReply(reply: unknown): SnapshotsReply {
  const parts = array(reply);
  if (parts[0] === 'retry') return { kind: 'retry', runIds: parts.slice(1).map(string) };
  const head = { epoch: string(parts[0]), seq: integer(parts[1]) };
  const records: { runId: string; record: SnapshotRecord }[] = [];
  if ((parts.length - 2) % 6 !== 0) throw new TypeError('RedisEngine: unexpected snapshots reply length');
  for (let i = 2; i < parts.length; i += 6) {
    const flat = array(parts[i + 1]).map(string);
    const fields: Record<string, string> = {};
    for (let f = 0; f + 1 < flat.length; f += 2) fields[flat[f] as string] = flat[f + 1] as string;
    records.push({
      runId: string(parts[i]),
      record: {
        fields,
        text: string(parts[i + 2]),
        reasoning: string(parts[i + 3]),
        tools: array(parts[i + 4]).map(string),
        approvals: array(parts[i + 5]).map(string),
      },
    });
  }
  return { kind: 'ok', head, records };
}

/**
 * `append.lua` resolving an approval: {seq, epoch} when its approval_resolved was stored; {'resolved',
 * decision, key} when it was resolved before; 'unknown' for no such approval of this run.
 */
export function parseApprovalReply(
  reply: unknown,
):
  | { readonly kind: 'stored'; readonly head: LogHead }
  | { readonly kind: 'resolved'; readonly decision: ApprovalDecision; readonly key: string }
  | { readonly kind: 'unknown' } {
  if (reply === 'unknown') return { kind: 'unknown' };
  const parts = array(reply);
  if (parts[0] === 'resolved') {
    return { kind: 'resolved', decision: string(parts[1]) as ApprovalDecision, key: string(parts[2]) };
  }
  return { kind: 'stored', head: parseAppendReply(parts) };
}
