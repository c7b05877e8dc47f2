import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BudgetedHistory, HistoryBudget } from '../../../packages/server/src/engine/history-budget.js';

/** A user's history reduced to what the budget sees: events of (append order, bytes), oldest first. */
class FakeHistory implements BudgetedHistory {
  readonly name: string;
  events: { order: number; bytes: number }[] = [];
  evictions = 0;

  constructor(name: string) {
    this.name = name;
  }

  get historyBytes(): number {
    return this.events.reduce((sum, e) => sum + e.bytes, 0);
  }

  get oldestOrder(): number | undefined {
    return this.events[0]?.order;
  }

  evictOldest(): number {
    this.evictions += 1;
    return this.events.shift()?.bytes ?? 0;
  }

  /** Appends like a user log does, and tells the budget. */
  append(budget: HistoryBudget<FakeHistory>, bytes: number): void {
    this.events.push({ order: budget.nextOrder(), bytes });
    budget.changed(this, bytes);
  }

  /** Drops the oldest event by the history's own rule (count, per-user bytes, age), and tells the budget. */
  trimSelf(budget: HistoryBudget<FakeHistory>): void {
    const dropped = this.events.shift();
    if (dropped !== undefined) budget.changed(this, -dropped.bytes);
  }

  orders(): number[] {
    return this.events.map((e) => e.order);
  }
}

describe('HistoryBudget', () => {
  it.each([0, -1, Number.NaN])('refuses maxBytes %s', (maxBytes) => {
    expect(() => new HistoryBudget(maxBytes)).toThrow(
      new TypeError(`HistoryBudget: maxBytes must be > 0, got ${maxBytes}`),
    );
  });

  it('hands out increasing append orders', () => {
    const budget = new HistoryBudget(10);
    expect([budget.nextOrder(), budget.nextOrder(), budget.nextOrder()]).toEqual([1, 2, 3]);
  });

  it('counts the bytes of every history and evicts nothing while the total is within the budget', () => {
    const budget = new HistoryBudget<FakeHistory>(100);
    const [a, b] = [new FakeHistory('a'), new FakeHistory('b')];
    a.append(budget, 40);
    b.append(budget, 35);
    a.append(budget, 25);
    expect(budget.heldBytes).toBe(100);
    expect(a.evictions + b.evictions).toBe(0);
    expect(budget.maxBytes).toBe(100);
  });

  it('evicts the oldest events across all histories, by append order, until the total fits', () => {
    const budget = new HistoryBudget<FakeHistory>(100);
    const [a, b, c] = [new FakeHistory('a'), new FakeHistory('b'), new FakeHistory('c')];
    a.append(budget, 30); // 1
    b.append(budget, 30); // 2
    a.append(budget, 30); // 3
    c.append(budget, 10); // 4: total 100, kept
    expect(budget.heldBytes).toBe(100);
    b.append(budget, 50); // 5: total 150 → evict 1 (a) and 2 (b)
    expect([a.orders(), b.orders(), c.orders()]).toEqual([[3], [5], [4]]);
    expect(budget.heldBytes).toBe(90);
  });

  it('may evict a history down to nothing, even its newest event, and queues it again on its next append', () => {
    const budget = new HistoryBudget<FakeHistory>(60);
    const [a, b] = [new FakeHistory('a'), new FakeHistory('b')];
    a.append(budget, 20);
    b.append(budget, 45);
    expect(a.orders()).toEqual([]);
    expect(budget.heldBytes).toBe(45);
    a.append(budget, 10);
    expect([a.orders(), b.orders()]).toEqual([[3], [2]]);
    a.append(budget, 30); // total 85: b's event (order 2) is oldest
    expect([a.orders(), b.orders()]).toEqual([[3, 4], []]);
    expect(budget.heldBytes).toBe(40);
    // One queue entry per history holding events, no duplicates from the re-queue.
    expect(budget.queued).toBe(1);
  });

  it('evicts the true oldest even when a history trimmed itself meanwhile (stale queue entry)', () => {
    const budget = new HistoryBudget<FakeHistory>(100);
    const [a, b] = [new FakeHistory('a'), new FakeHistory('b')];
    a.append(budget, 10); // 1
    b.append(budget, 10); // 2
    a.append(budget, 10); // 3
    a.trimSelf(budget); // a's oldest is now 3, its queue entry still says 1
    expect(budget.heldBytes).toBe(20);
    b.append(budget, 85); // total 105: oldest is b's 2, not a's 3
    expect([a.orders(), b.orders()]).toEqual([[3], [4]]);
    expect(budget.heldBytes).toBe(95);
  });

  it('an event larger than the whole budget is evicted with everything older', () => {
    const budget = new HistoryBudget<FakeHistory>(100);
    const a = new FakeHistory('a');
    a.append(budget, 60);
    a.append(budget, 500);
    expect(a.orders()).toEqual([]);
    expect(budget.heldBytes).toBe(0);
  });

  it('rebuild() keeps only the histories given that hold events; clear() forgets everything', () => {
    const budget = new HistoryBudget<FakeHistory>(1000);
    const histories = ['a', 'b', 'c', 'd'].map((n) => new FakeHistory(n));
    for (const h of histories) h.append(budget, 10);
    expect(budget.queued).toBe(4);
    // c was dropped by its owner (its bytes left the total), d emptied itself.
    const [a, b, c, d] = histories as [FakeHistory, FakeHistory, FakeHistory, FakeHistory];
    budget.changed(c, -c.historyBytes);
    c.events = [];
    d.trimSelf(budget);
    budget.rebuild([a, b, d]);
    expect(budget.queued).toBe(2);
    expect(budget.heldBytes).toBe(20);
    budget.clear();
    expect([budget.queued, budget.heldBytes]).toEqual([0, 0]);
  });

  it('matches a model for any mix of appends, self-trims and drops across histories (property)', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('append' as const),
        h: fc.nat(3),
        bytes: fc.integer({ min: 1, max: 60 }),
      }),
      fc.record({ t: fc.constant('trim' as const), h: fc.nat(3), bytes: fc.constant(0) }),
      fc.record({ t: fc.constant('rebuild' as const), h: fc.nat(3), bytes: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.array(op, { maxLength: 80 }), (maxBytes, ops) => {
        const budget = new HistoryBudget<FakeHistory>(maxBytes);
        const histories = [0, 1, 2, 3].map((i) => new FakeHistory(`h${i}`));
        // The model: every event ever appended and still held, by order; the budget evicts the lowest.
        let model: { h: number; order: number; bytes: number }[] = [];
        let order = 0;
        for (const o of ops) {
          const history = histories[o.h] as FakeHistory;
          if (o.t === 'append') {
            order += 1;
            history.append(budget, o.bytes);
            model.push({ h: o.h, order, bytes: o.bytes });
            let total = model.reduce((s, e) => s + e.bytes, 0);
            while (total > maxBytes) total -= model.shift()?.bytes ?? 0;
          } else if (o.t === 'trim') {
            history.trimSelf(budget);
            const oldest = model.findIndex((e) => e.h === o.h);
            if (oldest >= 0) model = model.filter((_, i) => i !== oldest);
          } else {
            budget.rebuild(histories);
          }
          const total = model.reduce((s, e) => s + e.bytes, 0);
          expect(budget.heldBytes).toBe(total);
          expect(budget.heldBytes).toBeLessThanOrEqual(maxBytes);
          expect(budget.queued).toBeLessThanOrEqual(histories.length);
          for (const [i, h] of histories.entries()) {
            expect(h.orders()).toEqual(model.filter((e) => e.h === i).map((e) => e.order));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
