import type {
  ActiveRun,
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  HistoryResult,
  IdempotencyClaim,
  LogHead,
  RunRef,
  RunReservation,
  RunStart,
  Unsubscribe,
} from '../../packages/server/src/engine/engine.js';
import type { NewEvent, StoredEvent } from '../../packages/server/src/protocol/events.js';

/**
 * An Engine that forwards every call to a real one; tests subclass it and override one method to
 * inject a fault or a race at an exact point.
 */
export class DelegatingEngine implements Engine {
  readonly inner: Engine;
  constructor(inner: Engine) {
    this.inner = inner;
  }
  get kind(): string {
    return this.inner.kind;
  }
  append(userId: string, event: NewEvent): Promise<StoredEvent> {
    return this.inner.append(userId, event);
  }
  appendBatch(
    items: readonly { readonly userId: string; readonly event: NewEvent }[],
  ): Promise<StoredEvent[]> {
    return this.inner.appendBatch(items);
  }
  head(userId: string): Promise<LogHead> {
    return this.inner.head(userId);
  }
  history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    return this.inner.history(userId, query);
  }
  subscribe(userId: string, listener: EventListener): Promise<Unsubscribe> {
    return this.inner.subscribe(userId, listener);
  }
  claimIdempotency(key: string, value: string, ttlMs: number): Promise<IdempotencyClaim> {
    return this.inner.claimIdempotency(key, value, ttlMs);
  }
  acquireConnectionSlot(userId: string, connectionId: string, limit: number): Promise<boolean> {
    return this.inner.acquireConnectionSlot(userId, connectionId, limit);
  }
  releaseConnectionSlot(userId: string, connectionId: string): Promise<void> {
    return this.inner.releaseConnectionSlot(userId, connectionId);
  }
  startRun(userId: string, start: RunStart): Promise<RunReservation> {
    return this.inner.startRun(userId, start);
  }
  renewRuns(node: string, runs: readonly RunRef[], leaseMs: number): Promise<string[]> {
    return this.inner.renewRuns(node, runs, leaseMs);
  }
  endRun(userId: string, runId: string, node: string): Promise<boolean> {
    return this.inner.endRun(userId, runId, node);
  }
  activeRuns(userId: string): Promise<ActiveRun[]> {
    return this.inner.activeRuns(userId);
  }
  health(): EngineHealth {
    return this.inner.health();
  }
  onHealthChange(listener: (health: EngineHealth) => void): () => void {
    return this.inner.onHealthChange(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
