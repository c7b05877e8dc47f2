import { describe, expect, it } from 'vitest';
import { DeliveryTracker } from '../../src/tabs/delivery-tracker.js';
import { EventHistory } from '../../src/tabs/event-history.js';
import { EventFactory } from '../helpers/events.js';

const at = (epoch: string, seq: number) => ({ epoch, seq });

describe('DeliveryTracker', () => {
  it('delivers the first event it sees, then only seq + 1; older is a duplicate, later a gap', () => {
    const t = new DeliveryTracker();
    expect(t.judge(at('e1', 7))).toBe('deliver');
    t.advance(at('e1', 7));
    expect(t.judge(at('e1', 7))).toBe('duplicate');
    expect(t.judge(at('e1', 3))).toBe('duplicate');
    expect(t.judge(at('e1', 9))).toBe('gap');
    expect(t.judge(at('e1', 8))).toBe('deliver');
  });

  it('treats a new epoch as a reset and an epoch it left as stale', () => {
    const t = new DeliveryTracker(at('e1', 4));
    expect(t.judge(at('e2', 1))).toBe('epoch');
    t.advance(at('e2', 1));
    expect(t.judge(at('e1', 5))).toBe('stale');
    expect(t.position).toEqual(at('e2', 1));
  });

  it('jumps only forward and reports where it was', () => {
    const t = new DeliveryTracker();
    expect(t.jump('e1', 5)).toBeUndefined();
    expect(t.jump('e1', 5)).toBe(false);
    expect(t.jump('e1', 3)).toBe(false);
    expect(t.jump('e1', 9)).toEqual(at('e1', 5));
    expect(t.jump('e2', 0)).toEqual(at('e1', 9));
    expect(t.jump('e1', 100)).toBe(false);
    t.start(at('e9', 1));
    expect(t.position).toEqual(at('e2', 0));
  });
});

describe('EventHistory', () => {
  const f = new EventFactory();
  const events = Array.from({ length: 6 }, () => f.event('notification', {}));

  it('answers with what follows a position, complete when it starts right after it', () => {
    const h = new EventHistory(10);
    for (const e of events) h.push(e);
    expect(h.after(at('e1', 2), at('e1', 6))).toEqual({ events: events.slice(2), complete: true });
    expect(h.after(at('e1', 0), at('e1', 6)).complete).toBe(true);
    expect(h.after(at('e1', 6), at('e1', 6))).toEqual({ events: [], complete: true });
  });

  it('is incomplete when the events after the position were trimmed or the epoch changed', () => {
    const h = new EventHistory(3);
    for (const e of events) h.push(e);
    expect(h.size).toBe(3);
    expect(h.after(at('e1', 1), at('e1', 6))).toEqual({ events: events.slice(3), complete: false });
    expect(h.after(at('e0', 1), at('e1', 6))).toEqual({ events: events.slice(3), complete: false });
  });
});
