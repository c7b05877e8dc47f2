import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeqTracker } from '../../../packages/client/src/seq-tracker.js';

const ev = (seq: number, epoch = 'e1') => ({ seq, epoch });

describe('SeqTracker', () => {
  it('has no position before the first welcome', () => {
    const t = new SeqTracker();
    expect([t.epoch, t.lastSeq, t.position()]).toEqual([undefined, 0, undefined]);
  });

  it('starts from a saved position (resumeFrom)', () => {
    expect(new SeqTracker({ epoch: 'e1', seq: 9 }).position()).toEqual({ epoch: 'e1', seq: 9 });
  });

  describe('#welcome', () => {
    it('starts after the welcome seq on a first connection (nothing is replayed)', () => {
      const t = new SeqTracker();
      expect(t.welcome({ epoch: 'e1', seq: 42, resume: 'none' })).toEqual({ kind: 'continue' });
      expect(t.position()).toEqual({ epoch: 'e1', seq: 42 });
    });

    it('keeps lastSeq on resume "ok": the server replays everything after since', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ epoch: 'e1', seq: 42, resume: 'ok' })).toEqual({ kind: 'continue' });
      expect(t.lastSeq).toBe(5);
    });

    it('surfaces a reset and jumps to the welcome position on resume "reset"', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ epoch: 'e2', seq: 3, resume: 'reset' })).toEqual({
        kind: 'reset',
        reason: 'resume_reset',
        previous: { epoch: 'e1', seq: 5 },
      });
      expect(t.position()).toEqual({ epoch: 'e2', seq: 3 });
    });

    it('reads resume "ok" with another epoch as a reset (a correct server never sends it)', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ epoch: 'e2', seq: 0, resume: 'ok' })).toMatchObject({
        kind: 'reset',
        reason: 'resume_reset',
      });
    });

    it.each([
      ['another epoch', { epoch: 'e2', seq: 5 }, 'epoch_changed'],
      ['events this client never saw', { epoch: 'e1', seq: 8 }, 'missed_events'],
      ['a seq behind ours', { epoch: 'e1', seq: 2 }, 'missed_events'],
    ] as const)('resets on resume "none" with %s', (_name, w, reason) => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ ...w, resume: 'none' })).toMatchObject({ kind: 'reset', reason });
      expect(t.position()).toEqual(w);
    });

    it('restarts after the welcome seq on resume "snapshot", with no reset: snapshots bring the runs (F)', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ epoch: 'e1', seq: 90, resume: 'snapshot' })).toEqual({
        kind: 'snapshot',
        previous: { epoch: 'e1', seq: 5 },
      });
      expect(t.position()).toEqual({ epoch: 'e1', seq: 90 });
      expect(t.accept(ev(90))).toEqual({ kind: 'duplicate' });
      expect(t.accept(ev(91))).toEqual({ kind: 'deliver' });
    });

    it('takes resume "snapshot" on a first connection, and in another epoch, the same way', () => {
      const first = new SeqTracker();
      expect(first.welcome({ epoch: 'e1', seq: 4, resume: 'snapshot' })).toEqual({
        kind: 'snapshot',
        previous: undefined,
      });
      const moved = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(moved.welcome({ epoch: 'e2', seq: 2, resume: 'snapshot' })).toMatchObject({ kind: 'snapshot' });
      expect(moved.position()).toEqual({ epoch: 'e2', seq: 2 });
    });

    it('continues on resume "none" when nothing happened in between', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 5 });
      expect(t.welcome({ epoch: 'e1', seq: 5, resume: 'none' })).toEqual({ kind: 'continue' });
    });
  });

  describe('#accept', () => {
    it('delivers the next seq and drops seq <= lastSeq', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 0 });
      expect(t.accept(ev(1))).toEqual({ kind: 'deliver' });
      expect(t.accept(ev(2))).toEqual({ kind: 'deliver' });
      expect(t.accept(ev(2))).toEqual({ kind: 'duplicate' });
      expect(t.accept(ev(1))).toEqual({ kind: 'duplicate' });
      expect(t.lastSeq).toBe(2);
    });

    it('reports a gap without moving, so a resume can fetch the missing events in order', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 3 });
      expect(t.accept(ev(6))).toEqual({ kind: 'gap', expected: 4 });
      expect(t.lastSeq).toBe(3);
    });

    it('surfaces a reset and adopts the new epoch when an event arrives in another epoch', () => {
      const t = new SeqTracker({ epoch: 'e1', seq: 40 });
      expect(t.accept(ev(1, 'e2'))).toEqual({ kind: 'reset', previous: { epoch: 'e1', seq: 40 } });
      expect(t.position()).toEqual({ epoch: 'e2', seq: 1 });
      expect(t.accept(ev(2, 'e2'))).toEqual({ kind: 'deliver' });
    });

    it('delivers and adopts an event that arrives before any welcome', () => {
      const t = new SeqTracker();
      expect(t.accept(ev(7))).toEqual({ kind: 'deliver' });
      expect(t.position()).toEqual({ epoch: 'e1', seq: 7 });
    });

    it('delivers every seq exactly once, in order, whatever is replayed or repeated', () => {
      // Model: a stream 1..n is sent as overlapping chunks, as replays after reconnects produce; chunks
      // start at or before the next seq the client needs (the server replays from `since`).
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 200 }), fc.array(fc.nat(), { maxLength: 50 }), (n, rewinds) => {
          const t = new SeqTracker({ epoch: 'e1', seq: 0 });
          const delivered: number[] = [];
          let next = 1;
          let cursor = 1;
          for (const rewind of [...rewinds, 0]) {
            const end = Math.min(n, cursor + 10);
            for (let seq = cursor; seq <= end; seq++) {
              if (t.accept(ev(seq)).kind === 'deliver') delivered.push(seq);
            }
            next = t.lastSeq + 1;
            cursor = Math.max(1, next - (rewind % 15));
            if (next > n) break;
          }
          while (t.lastSeq < n) {
            if (t.accept(ev(t.lastSeq + 1)).kind === 'deliver') delivered.push(t.lastSeq);
          }
          expect(delivered).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        }),
      );
    });
  });
});
