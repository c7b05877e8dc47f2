import type {
  ActiveRun,
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  HistoryResult,
  IdempotencyClaim,
  LogHead,
  RunReservation,
  Unsubscribe,
} from '../../../../packages/server/src/engine/engine.js';
import {
  AgentcastError,
  AgentcastErrorCode,
} from '../../../../packages/server/src/protocol/agentcast-error.js';
import type { NewEvent, StoredEvent } from '../../../../packages/server/src/protocol/events.js';
import { encodeEvent } from '../../../../packages/server/src/protocol/events.js';

/**
 * A small in-memory Engine for the agents tests, with switches to make appends fail or hang. Used where
 * a failure must be injected; the golden-path tests run against the real MemoryEngine when present.
 */
export class FakeEngine implements Engine {
  readonly kind = 'fake';
  readonly stored: { readonly userId: string; readonly event: StoredEvent }[] = [];
  /** Appends made while another append of the same run was in flight (must stay 0: §3 strict order). */
  overlaps = 0;
  /** With `failAppends`, the 1-based numbers of the appends that throw AC_ERR_ENGINE_UNAVAILABLE. */
  failAt: ReadonlySet<number> = new Set();
  failAppends = false;
  failClaims = false;
  healthy: EngineHealth = { ok: true };
  readonly #listeners = new Map<string, Set<EventListener>>();
  readonly #claims = new Map<string, string>();
  readonly #seq = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  #appends = 0;

  async append(userId: string, event: NewEvent): Promise<StoredEvent> {
    const run = `${userId}/${event.run_id ?? ''}`;
    this.#inFlight.set(run, (this.#inFlight.get(run) ?? 0) + 1);
    if ((this.#inFlight.get(run) ?? 0) > 1) this.overlaps += 1;
    try {
      await Promise.resolve();
      this.#appends += 1;
      if (this.failAppends && this.failAt.has(this.#appends)) {
        throw new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down');
      }
      const seq = (this.#seq.get(userId) ?? 0) + 1;
      this.#seq.set(userId, seq);
      const stored: StoredEvent = { ...event, seq, epoch: 'e_test', ts: new Date(0).toISOString() };
      this.stored.push({ userId, event: stored });
      const frame = encodeEvent(stored);
      for (const listener of this.#listeners.get(userId) ?? []) listener(stored, frame);
      return stored;
    } finally {
      this.#inFlight.set(run, (this.#inFlight.get(run) ?? 1) - 1);
    }
  }

  async appendBatch(items: readonly { userId: string; event: NewEvent }[]): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for (const item of items) out.push(await this.append(item.userId, item.event));
    return out;
  }

  async head(userId: string): Promise<LogHead> {
    return { epoch: 'e_test', seq: this.#seq.get(userId) ?? 0 };
  }

  async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    const mine = this.eventsOf(userId)
      .filter((e) => e.seq > query.since)
      .slice(0, query.limit);
    return { kind: 'ok', head: await this.head(userId), events: mine, complete: true };
  }

  async subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    const set = this.#listeners.get(userId) ?? new Set();
    set.add(listener);
    this.#listeners.set(userId, set);
    return async () => {
      set.delete(listener);
    };
  }

  async claimIdempotency(key: string, value: string, _ttlMs?: number): Promise<IdempotencyClaim> {
    await Promise.resolve();
    if (this.failClaims) throw new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down');
    const existing = this.#claims.get(key);
    if (existing !== undefined) return { claimed: false, value: existing };
    this.#claims.set(key, value);
    return { claimed: true };
  }

  async acquireConnectionSlot(): Promise<boolean> {
    return true;
  }

  async releaseConnectionSlot(): Promise<void> {}

  /** The run registry always grants: these tests count runs on one node, which the runtime does itself. */
  async startRun(): Promise<RunReservation> {
    return { ok: true };
  }

  async renewRuns(): Promise<string[]> {
    return [];
  }

  async endRun(): Promise<boolean> {
    return true;
  }

  async activeRuns(): Promise<ActiveRun[]> {
    return [];
  }

  health(): EngineHealth {
    return this.healthy;
  }

  readonly #healthListeners = new Set<(health: EngineHealth) => void>();

  onHealthChange(listener: (health: EngineHealth) => void): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  /** Switches health and tells the listeners, as a real engine does when Redis goes and comes back. */
  setHealth(health: EngineHealth): void {
    this.healthy = health;
    for (const listener of [...this.#healthListeners]) listener(health);
  }

  async close(): Promise<void> {}

  /** Every event stored for `userId`, oldest first. */
  eventsOf(userId: string): StoredEvent[] {
    return this.stored.filter((s) => s.userId === userId).map((s) => s.event);
  }
}
