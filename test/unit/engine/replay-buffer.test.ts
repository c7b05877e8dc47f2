import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ReplayBuffer,
  type ReplayPush,
  type WireFrame,
} from '../../../packages/server/src/engine/replay-buffer.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';

const EPOCH = 'e_current';

function ev(seq: number, epoch = EPOCH): StoredEvent {
  return { type: 'notification', data: { seq }, seq, epoch, ts: '2026-01-01T00:00:00.000Z' };
}

function frame(seq: number, epoch = EPOCH): string {
  return encodeEvent(ev(seq, epoch));
}

function pushAll(buffer: ReplayBuffer, seqs: readonly number[], epoch = EPOCH): ReplayPush[] {
  return seqs.map((s) => buffer.push(ev(s, epoch), frame(s, epoch)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

describe('ReplayBuffer', () => {
  it('refuses a maxBuffered that is not an integer >= 0', () => {
    expect(() => new ReplayBuffer({ maxBuffered: -1 })).toThrow(
      new TypeError('ReplayBuffer: maxBuffered must be an integer >= 0, got -1'),
    );
    expect(() => new ReplayBuffer({ maxBuffered: 1.5 })).toThrow(TypeError);
    expect(new ReplayBuffer({ maxBuffered: 0 }).state).toBe('replaying');
  });

  describe('#push while replaying', () => {
    it('buffers every live event and counts them', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 3 });
      expect(pushAll(buffer, [5, 6, 7])).toEqual(['buffered', 'buffered', 'buffered']);
      expect(buffer.bufferedCount).toBe(3);
      expect(buffer.state).toBe('replaying');
      expect(buffer.lastSeq).toBe(0);
    });

    it('overflows on the event past maxBuffered, frees the buffer and fails from then on', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 2 });
      expect(pushAll(buffer, [1, 2, 3, 4])).toEqual(['buffered', 'buffered', 'overflow', 'failed']);
      expect(buffer.state).toBe('failed');
      expect(buffer.bufferedCount).toBe(0);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 0, complete: true })).toEqual({
        kind: 'overflow',
        maxBuffered: 2,
      });
    });

    it('overflows on the first event when maxBuffered is 0', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 0 });
      expect(pushAll(buffer, [1])).toEqual(['overflow']);
    });
  });

  describe('#finish', () => {
    it('returns buffered frames past lastSentSeq in order and goes live', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [3, 4, 5, 6]);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 4, complete: true })).toEqual({
        kind: 'ok',
        events: [ev(5), ev(6)],
        frames: [frame(5), frame(6)],
        lastSeq: 6,
      });
      expect(buffer.state).toBe('live');
      expect(buffer.lastSeq).toBe(6);
      expect(buffer.bufferedCount).toBe(0);
    });

    it('returns no frames when everything buffered was in the history', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [1, 2]);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 2, complete: true })).toEqual({
        kind: 'ok',
        events: [],
        frames: [],
        lastSeq: 2,
      });
    });

    it('goes live at lastSentSeq when nothing was buffered', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 9, complete: true })).toEqual({
        kind: 'ok',
        events: [],
        frames: [],
        lastSeq: 9,
      });
      expect(buffer.push(ev(10), frame(10))).toBe('send');
    });

    it('reports a gap when the first new buffered seq skips past lastSentSeq + 1', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [6, 7]);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 4, complete: true })).toEqual({
        kind: 'gap',
        expectedSeq: 5,
        bufferedSeq: 6,
      });
      expect(buffer.state).toBe('failed');
      expect(buffer.push(ev(8), frame(8))).toBe('failed');
    });

    it('reports a gap inside the buffer', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [3, 4, 6]);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 2, complete: true })).toEqual({
        kind: 'gap',
        expectedSeq: 5,
        bufferedSeq: 6,
      });
    });

    it('accepts an incomplete history when the buffer continues it', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [4, 5, 6]);
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 3, complete: false })).toEqual({
        kind: 'ok',
        events: [ev(4), ev(5), ev(6)],
        frames: [frame(4), frame(5), frame(6)],
        lastSeq: 6,
      });
    });

    it('reports a gap when the history is incomplete and the buffer does not continue it', () => {
      const empty = new ReplayBuffer({ maxBuffered: 10 });
      expect(empty.finish({ epoch: EPOCH, lastSentSeq: 3, complete: false })).toEqual({
        kind: 'gap',
        expectedSeq: 4,
        bufferedSeq: undefined,
      });
      const stale = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(stale, [2, 3]);
      expect(stale.finish({ epoch: EPOCH, lastSentSeq: 3, complete: false })).toMatchObject({
        kind: 'gap',
        expectedSeq: 4,
      });
      expect(stale.state).toBe('failed');
    });

    it('reports an epoch change when a buffered event belongs to another epoch', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      pushAll(buffer, [1], 'e_old');
      expect(buffer.finish({ epoch: EPOCH, lastSentSeq: 5, complete: true })).toEqual({
        kind: 'epoch_changed',
        historyEpoch: EPOCH,
        liveEpoch: 'e_old',
      });
      expect(buffer.state).toBe('failed');
    });

    it('throws when called twice', () => {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      buffer.finish({ epoch: EPOCH, lastSentSeq: 0, complete: true });
      expect(() => buffer.finish({ epoch: EPOCH, lastSentSeq: 0, complete: true })).toThrow(
        'ReplayBuffer.finish() was already called',
      );
      const overflowed = new ReplayBuffer({ maxBuffered: 0 });
      pushAll(overflowed, [1]);
      overflowed.finish({ epoch: EPOCH, lastSentSeq: 0, complete: true });
      expect(() => overflowed.finish({ epoch: EPOCH, lastSentSeq: 0, complete: true })).toThrow();
    });
  });

  describe('#push when live', () => {
    function live(lastSentSeq: number): ReplayBuffer {
      const buffer = new ReplayBuffer({ maxBuffered: 10 });
      buffer.finish({ epoch: EPOCH, lastSentSeq, complete: true });
      return buffer;
    }

    it('sends the next seq and skips seqs already sent', () => {
      const buffer = live(3);
      expect(pushAll(buffer, [2, 3, 4, 4, 5])).toEqual(['skip', 'skip', 'send', 'skip', 'send']);
      expect(buffer.lastSeq).toBe(5);
    });

    it('reports a gap when a seq is skipped, then fails everything', () => {
      const buffer = live(3);
      expect(pushAll(buffer, [5, 4, 6])).toEqual(['gap', 'failed', 'failed']);
      expect(buffer.state).toBe('failed');
    });

    it('follows a new epoch that starts at seq 1 (§4: open connections get the new events)', () => {
      const buffer = live(7);
      expect(pushAll(buffer, [1, 2], 'e_new')).toEqual(['send', 'send']);
      expect(buffer.lastSeq).toBe(2);
      expect(pushAll(buffer, [3], 'e_new')).toEqual(['send']);
    });

    it('reports a gap when a new epoch does not start at seq 1', () => {
      const buffer = live(7);
      expect(pushAll(buffer, [2], 'e_new')).toEqual(['gap']);
    });
  });

  describe('properties', () => {
    /**
     * A user's stream 1..n; the client has `since`; the subscription (made before the history read)
     * delivers from `start` <= h + 1, where the history read returned since+1..h; live events arrive
     * before (`split` of them) or after finish.
     */
    const scenario = fc
      .record({ n: fc.integer({ min: 0, max: 60 }), a: fc.nat(), b: fc.nat(), c: fc.nat(), d: fc.nat() })
      .map(({ n, a, b, c, d }) => {
        const h = n === 0 ? 0 : b % (n + 1);
        const since = h === 0 ? 0 : a % (h + 1);
        const start = 1 + (c % (h + 1));
        const arrivals = range(start, n);
        const split = d % (arrivals.length + 1);
        return { n, since, h, arrivals, split };
      });

    it('outputs exactly since+1..n, once each and in order, for any overlap of history and live', () => {
      fc.assert(
        fc.property(scenario, ({ n, since, h, arrivals, split }) => {
          const buffer = new ReplayBuffer({ maxBuffered: 100 });
          const sent: WireFrame[] = [];
          const before = arrivals.slice(0, split);
          const after = arrivals.slice(split);
          for (const s of before) expect(buffer.push(ev(s), frame(s))).toBe('buffered');
          for (const s of range(since + 1, h)) sent.push(frame(s));
          const outcome = buffer.finish({ epoch: EPOCH, lastSentSeq: h, complete: true });
          expect(outcome.kind).toBe('ok');
          if (outcome.kind === 'ok') sent.push(...outcome.frames);
          for (const s of after) {
            const verdict = buffer.push(ev(s), frame(s));
            expect(['send', 'skip']).toContain(verdict);
            if (verdict === 'send') sent.push(frame(s));
          }
          expect(sent).toEqual(range(since + 1, n).map((s) => frame(s)));
        }),
        { numRuns: 1000 },
      );
    });

    it('never sends past a lost live event: output is a gap-free prefix, then a gap is reported', () => {
      fc.assert(
        fc.property(scenario, fc.nat(), ({ n, h, arrivals, split }, pick) => {
          const candidates = arrivals.filter((s) => s > h);
          fc.pre(candidates.length > 0);
          const lost = candidates[pick % candidates.length]!;
          const buffer = new ReplayBuffer({ maxBuffered: 100 });
          const sent: number[] = range(1, h);
          let gap = false;
          const delivered = arrivals.filter((s) => s !== lost);
          const cut = Math.min(split, delivered.length);
          for (const s of delivered.slice(0, cut)) buffer.push(ev(s), frame(s));
          const outcome = buffer.finish({ epoch: EPOCH, lastSentSeq: h, complete: true });
          if (outcome.kind === 'ok') sent.push(...range(h + 1, outcome.lastSeq));
          else gap = outcome.kind === 'gap';
          for (const s of delivered.slice(cut)) {
            const verdict = buffer.push(ev(s), frame(s));
            if (verdict === 'send') sent.push(s);
            if (verdict === 'gap') gap = true;
          }
          // Gap-free and never past the hole (a gap found at finish sends nothing of the buffer)...
          expect(sent).toEqual(range(1, sent.length));
          expect(sent.length).toBeLessThan(lost);
          // ...reported as soon as a seq past the lost one shows up; silent only when none came after it.
          expect(gap).toBe(lost < n);
          if (!gap) expect(sent).toEqual(range(1, lost - 1));
        }),
        { numRuns: 1000 },
      );
    });
  });
});
