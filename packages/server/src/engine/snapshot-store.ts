import type { RunSnapshot } from '@agentcast/client';
import type { StoredEvent } from '../protocol/events.js';
import type { LogHead } from './engine.js';
import {
  applySnapshotPatch,
  type CatchUpQuery,
  isActiveStatus,
  type SnapshotLimits,
  type SnapshotQuery,
  SnapshotState,
  snapshotFromRecord,
  snapshotPatch,
} from './run-snapshot.js';

/**
 * One user's runs, least recently active first (insertion order), and the id of the last one folded, which
 * is the last key whenever it is still held (only fold inserts; nothing deletes the last key but the sweep).
 */
class UserRuns extends Map<string, SnapshotState> {
  latest: string | undefined;
}

/**
 * The memory engine's run snapshots (docs/protocol.md F): per user, the runs in order of their latest event
 * (a Map re-inserted on every event, so the least recently active is first), at most `perUser` of them,
 * each dropped `ttlMs` after its last event. No I/O and no timers; time comes in as arguments.
 */
export class SnapshotStore {
  readonly #limits: SnapshotLimits;
  readonly #users = new Map<string, UserRuns>();

  constructor(limits: SnapshotLimits) {
    this.#limits = limits;
  }

  /** Folds a stored event of a run into its snapshot; called in the same synchronous step as the append. */
  fold(userId: string, event: StoredEvent, nowMs: number): void {
    const runId = event.run_id;
    if (runId === undefined) return;
    let runs = this.#users.get(userId);
    if (runs === undefined) {
      runs = new UserRuns();
      this.#users.set(userId, runs);
    }
    let state = runs.get(runId);
    if (state === undefined) {
      state = new SnapshotState(event.ts, nowMs);
      runs.set(runId, state);
    } else if (runs.latest !== runId) {
      // Re-inserted: the Map's order is the order of the latest events. A run already last (the common
      // case: a run streams its chunks one after the other) keeps its place without a delete and a set.
      runs.delete(runId);
      runs.set(runId, state);
    }
    runs.latest = runId;
    state.touchedAt = nowMs;
    applySnapshotPatch(state, snapshotPatch(event), event.seq, event.epoch, event.ts, this.#limits.maxBytes);
    // Over the bound: the least recently active run goes, as lua/append.lua trims its index.
    while (runs.size > this.#limits.perUser) {
      const oldest = runs.keys().next().value as string;
      runs.delete(oldest);
    }
  }

  /** One run's snapshot, or undefined for a run this user has none of (unknown, another user's, expired). */
  get(userId: string, runId: string, nowMs: number): RunSnapshot | undefined {
    const state = this.#users.get(userId)?.get(runId);
    if (state === undefined || this.#expired(state, nowMs)) return undefined;
    return snapshotFromRecord(runId, state.record);
  }

  /** The user's runs that match, most recently active first. */
  list(userId: string, query: SnapshotQuery, nowMs: number): RunSnapshot[] {
    const out: RunSnapshot[] = [];
    const runs = this.#users.get(userId);
    if (runs === undefined) return out;
    const ids = [...runs.keys()].reverse();
    for (const runId of ids) {
      if (out.length >= query.limit) break;
      const state = runs.get(runId) as SnapshotState;
      if (this.#expired(state, nowMs)) continue;
      if (query.state === 'active' && !isActiveStatus(state.fields.status)) continue;
      if (query.threadId !== undefined && state.fields.thread_id !== query.threadId) continue;
      out.push(snapshotFromRecord(runId, state.record));
    }
    return out;
  }

  /**
   * The snapshots a catch-up sends at `head` (docs/protocol.md F), least recently active first: every
   * active run, and with `since` of the head's epoch also every run with an event after it.
   */
  catchUp(userId: string, head: LogHead, query: CatchUpQuery, nowMs: number): RunSnapshot[] {
    const out: RunSnapshot[] = [];
    const runs = this.#users.get(userId);
    if (runs === undefined) return out;
    const since = query.since !== undefined && query.epoch === head.epoch ? query.since : undefined;
    for (const [runId, state] of runs) {
      if (this.#expired(state, nowMs)) continue;
      const recent = since !== undefined && state.epoch === head.epoch && state.lastSeq > since;
      if (isActiveStatus(state.fields.status) || recent) out.push(snapshotFromRecord(runId, state.record));
    }
    return out;
  }

  /** Drops snapshots past their ttl (the engine's sweep). */
  sweep(nowMs: number): void {
    for (const [userId, runs] of this.#users) {
      for (const [runId, state] of runs) {
        if (this.#expired(state, nowMs)) runs.delete(runId);
      }
      if (runs.size === 0) this.#users.delete(userId);
    }
  }

  clear(): void {
    this.#users.clear();
  }

  #expired(state: SnapshotState, nowMs: number): boolean {
    return nowMs - state.touchedAt >= this.#limits.ttlMs;
  }
}
