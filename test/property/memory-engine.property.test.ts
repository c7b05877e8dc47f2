import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import type { StoredEvent } from '../../packages/server/src/protocol/events.js';
import { propertyParameters } from './support/property-parameters.js';

/**
 * docs/protocol.md §3–§4 for the memory engine against a model, with an injected clock: for any sequence of
 * appends (single and batched, several users, time moving on) and history queries (any since, limit and
 * epoch), `history` answers exactly what the model says — the events after since that are still held
 * (the last historySize, none older than the ttl), `complete` when they reach the head, or the reset
 * reason in the order user-log.ts documents — and every subscriber receives its user's events exactly
 * once, in seq order, and nobody else's.
 */

const USERS = ['u0', 'u1', 'u2'] as const;
const HISTORY_SIZE = 8;
const TTL_MS = 1000;

type Op =
  | { readonly kind: 'append'; readonly user: number; readonly count: number; readonly advanceMs: number }
  | {
      readonly kind: 'history';
      readonly user: number;
      /** Where since falls: 0, a fraction of the head, the head, or beyond it. */
      readonly since: 'zero' | 'head' | 'ahead' | number;
      readonly limit: number;
      readonly epoch: 'right' | 'none' | 'wrong';
      readonly advanceMs: number;
    };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    user: fc.nat(USERS.length - 1),
    count: fc.integer({ min: 1, max: 4 }),
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 600 })),
  }),
  fc.record({
    kind: fc.constant('history' as const),
    user: fc.nat(USERS.length - 1),
    since: fc.oneof(
      fc.constantFrom('zero' as const, 'head' as const, 'ahead' as const),
      fc.double({ min: 0, max: 1, noNaN: true }),
    ),
    limit: fc.integer({ min: 1, max: 12 }),
    epoch: fc.constantFrom('right' as const, 'none' as const, 'wrong' as const),
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1200 })),
  }),
);

interface ModelEvent {
  readonly seq: number;
  readonly storedAt: number;
  readonly marker: string;
}

describe('MemoryEngine against a model (property)', () => {
  it('answers every history query as the model does and delivers each user exactly its own events', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        let now = 1_000_000;
        const engine = new MemoryEngine({
          historySize: HISTORY_SIZE,
          historyTtlMs: TTL_MS,
          // The idle-log sweep would start a new epoch; it is tested on its own, not here.
          sweepIntervalMs: 3_600_000,
          now: () => now,
        });
        try {
          const model = USERS.map(() => [] as ModelEvent[]);
          const received = USERS.map(() => [] as StoredEvent[]);
          const epochs: string[] = [];
          for (const [i, user] of USERS.entries()) {
            await engine.subscribe(user, (event) => received[i]?.push(event));
            epochs.push((await engine.head(user)).epoch);
          }
          let marker = 0;
          for (const step of ops) {
            now += step.advanceMs;
            const user = USERS[step.user] as string;
            const events = model[step.user] as ModelEvent[];
            if (step.kind === 'append') {
              const items = Array.from({ length: step.count }, () => ({
                userId: user,
                event: { type: 'notification', data: { marker: `m${marker++}` } },
              }));
              const stored =
                step.count === 1
                  ? [await engine.append(user, (items[0] as (typeof items)[number]).event)]
                  : await engine.appendBatch(items);
              for (const [j, event] of stored.entries()) {
                expect(event.seq).toBe(events.length + 1);
                expect(event.epoch).toBe(epochs[step.user]);
                events.push({ seq: event.seq, storedAt: now, marker: String(items[j]?.event.data.marker) });
              }
              continue;
            }
            const head = events.length;
            const since =
              step.since === 'zero'
                ? 0
                : step.since === 'head'
                  ? head
                  : step.since === 'ahead'
                    ? head + 1
                    : Math.floor(step.since * head);
            const epoch =
              step.epoch === 'right' ? epochs[step.user] : step.epoch === 'wrong' ? 'e_wrong' : undefined;
            const result = await engine.history(user, { since, limit: step.limit, epoch });
            expect(result.head).toEqual({ epoch: epochs[step.user], seq: head });
            const held = events.slice(-HISTORY_SIZE).filter((e) => now - e.storedAt <= TTL_MS);
            const oldest = held[0]?.seq;
            let expected: unknown;
            if (epoch === undefined ? since > 0 : epoch !== epochs[step.user])
              expected = { kind: 'reset', reason: 'epoch_changed' };
            else if (since > head) expected = { kind: 'reset', reason: 'ahead' };
            else if (since === head) expected = { kind: 'ok', events: [], complete: true };
            else if (oldest === undefined || oldest > since + 1)
              expected = { kind: 'reset', reason: 'expired' };
            else {
              const seqs = held.filter((e) => e.seq > since).slice(0, step.limit);
              expected = { kind: 'ok', complete: since + seqs.length === head };
              expect(result.kind === 'ok' && result.events.map((e) => [e.seq, e.data.marker])).toEqual(
                seqs.map((e) => [e.seq, e.marker]),
              );
            }
            expect(result).toMatchObject(expected as object);
            const outcome = result.kind === 'ok' ? `ok:${result.complete}` : result.reason;
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          }
          // Subscribers: exactly their own user's events, once each, in order.
          for (const [i, events] of model.entries()) {
            expect(received[i]?.map((e) => [e.seq, e.data.marker])).toEqual(
              events.map((e) => [e.seq, e.marker]),
            );
          }
        } finally {
          await engine.close();
        }
      }),
      propertyParameters({ numRuns: 300 }),
    );
    // Every answer the model knows was reached, so the property is not vacuous.
    for (const outcome of ['ok:true', 'ok:false', 'epoch_changed', 'ahead', 'expired'])
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(0);
  });
});
