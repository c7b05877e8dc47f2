import { describe, expect, it } from 'vitest';
import {
  parseAppendBatchReply,
  parseAppendOnceReply,
  parseAppendReply,
  parseCancelReply,
  parseClaimReply,
  parseHeadReply,
  parseHistoryReply,
  parsePromoteReply,
  parseSlotReply,
  parseStartRunReply,
} from '../../../packages/server/src/engine/script-replies.js';
import { encodeEvent } from '../../../packages/server/src/protocol/events.js';

const event = { type: 'x', seq: 3, epoch: 'e_a', ts: '2026-01-01T00:00:00.000Z', data: { n: 3 } };

describe('script replies', () => {
  it('decodes head, append, claim and slot replies', () => {
    expect(parseHeadReply(['e_a', 4])).toEqual({ epoch: 'e_a', seq: 4 });
    expect(parseAppendReply([5, 'e_a'])).toEqual({ epoch: 'e_a', seq: 5 });
    expect(parseClaimReply([1])).toEqual({ claimed: true });
    expect(parseClaimReply([0, 'r_1'])).toEqual({ claimed: false, value: 'r_1' });
    expect(parseSlotReply(1)).toBe(true);
    expect(parseSlotReply(0)).toBe(false);
  });

  it('decodes append-batch replies: one per append, an error for an append that failed', () => {
    const reply = JSON.stringify([[1, 'e_a'], 'not_owner', { err: 'WRONGTYPE no hash' }, [2, 'e_a']]);
    expect(parseAppendBatchReply(reply, 4)).toEqual([
      [null, [1, 'e_a']],
      [null, 'not_owner'],
      [new Error('WRONGTYPE no hash'), undefined],
      [null, [2, 'e_a']],
    ]);
    expect(parseAppendBatchReply(Buffer.from('[[3,"e_b"]]'), 1)).toEqual([[null, [3, 'e_b']]]);
    // Not one reply per append, or not the JSON array: every append of the call fails.
    expect(parseAppendBatchReply(reply, 3)).toBeUndefined();
    expect(parseAppendBatchReply('{"err":"x"}', 1)).toBeUndefined();
    expect(parseAppendBatchReply('not json', 1)).toBeUndefined();
    expect(parseAppendBatchReply([[1, 'e_a']], 1)).toBeUndefined();
  });

  it('decodes append-once replies: conflict, or the record of seqs and epochs', () => {
    expect(parseAppendOnceReply('conflict')).toEqual({ outcome: 'conflict' });
    const record = JSON.stringify({
      f: 'abc',
      r: [
        [1, 'e_a'],
        [2, 'e_a'],
      ],
    });
    expect(parseAppendOnceReply(['repeat', record])).toEqual({
      outcome: 'repeat',
      results: [
        { seq: 1, epoch: 'e_a' },
        { seq: 2, epoch: 'e_a' },
      ],
    });
    expect(parseAppendOnceReply(['stored', record]).outcome).toBe('stored');
    expect(() => parseAppendOnceReply(['maybe', record])).toThrow(TypeError);
    expect(() => parseAppendOnceReply(['stored', '{"f":"abc"}'])).toThrow(TypeError);
  });

  it('decodes request-cancel replies', () => {
    expect(parseCancelReply(['active', 'node-a'])).toEqual({ state: 'active', node: 'node-a' });
    expect(parseCancelReply(['lapsed', 'node-a'])).toEqual({ state: 'lapsed', node: 'node-a' });
    expect(parseCancelReply(['ended'])).toEqual({ state: 'ended' });
    expect(parseCancelReply(['unknown'])).toEqual({ state: 'unknown' });
  });

  it('decodes start-run and promote-run replies, thread turns included (docs/protocol.md E)', () => {
    expect(parseStartRunReply(1)).toEqual({ ok: true });
    expect(parseStartRunReply(0)).toEqual({ ok: false, reason: 'limit' });
    expect(parseStartRunReply('r_1')).toEqual({ ok: false, reason: 'duplicate', runId: 'r_1' });
    expect(parseStartRunReply(['queued', 'r_1'])).toEqual({ ok: true, queued: true, behind: 'r_1' });
    expect(parseStartRunReply(['busy', 'r_1'])).toEqual({ ok: false, reason: 'busy', runId: 'r_1' });
    expect(parseStartRunReply(['queue_full'])).toEqual({ ok: false, reason: 'queue_full' });
    expect(() => parseStartRunReply(['later'])).toThrow('RedisEngine: unexpected start-run reply later');
    for (const promotion of ['started', 'waiting', 'gone'])
      expect(parsePromoteReply(promotion)).toBe(promotion);
    expect(() => parsePromoteReply(1)).toThrow('RedisEngine: unexpected promote-run reply 1');
  });

  it.each([
    ['not an array', () => parseHeadReply('OK'), 'RedisEngine: unexpected script reply OK'],
    ['a string seq', () => parseHeadReply(['e_a', '4']), 'RedisEngine: expected an integer reply, got 4'],
    ['a numeric epoch', () => parseAppendReply([1, 2]), 'RedisEngine: expected a string reply, got 2'],
    [
      'a fractional seq',
      () => parseAppendReply([1.5, 'e']),
      'RedisEngine: expected an integer reply, got 1.5',
    ],
    [
      'a claim without value',
      () => parseClaimReply([0]),
      'RedisEngine: expected a string reply, got undefined',
    ],
    [
      'a cancel of an unknown state',
      () => parseCancelReply(['gone']),
      'RedisEngine: unexpected cancel reply gone',
    ],
    [
      'an active cancel without its node',
      () => parseCancelReply(['active']),
      'RedisEngine: expected a string reply, got undefined',
    ],
    [
      'an unknown verdict',
      () => parseHistoryReply(['e', 1, 'maybe']),
      'RedisEngine: unknown history verdict maybe',
    ],
  ])('throws a TypeError on %s', (_what, parse, message) => {
    expect(parse).toThrow(new TypeError(message));
  });

  describe('parseHistoryReply', () => {
    it.each(['epoch_changed', 'ahead', 'expired'] as const)('decodes the reset %s', (reason) => {
      expect(parseHistoryReply(['e_a', 7, reason])).toEqual({
        result: { kind: 'reset', head: { epoch: 'e_a', seq: 7 }, reason },
        frames: [],
        unreadable: false,
      });
    });

    it('decodes events, complete or cut by the limit', () => {
      const frame = encodeEvent(event);
      expect(parseHistoryReply(['e_a', 3, 'ok', frame])).toEqual({
        result: { kind: 'ok', head: { epoch: 'e_a', seq: 3 }, events: [event], complete: true },
        frames: [frame],
        unreadable: false,
      });
      expect(parseHistoryReply(['e_a', 9, 'partial', frame]).result).toMatchObject({ complete: false });
      expect(parseHistoryReply(['e_a', 3, 'ok']).result).toMatchObject({ events: [], complete: true });
    });

    it('turns an unreadable stored frame into an expired reset', () => {
      expect(parseHistoryReply(['e_a', 3, 'ok', encodeEvent(event), '{oops'])).toEqual({
        result: { kind: 'reset', head: { epoch: 'e_a', seq: 3 }, reason: 'expired' },
        frames: [],
        unreadable: true,
      });
    });
  });
});
