import { describe, expect, it } from 'vitest';
import {
  resumeFromLastEventId,
  sseEventHead,
  ssePreamble,
} from '../../../../packages/server/src/edges/sse/sse-frame.js';

describe('sse-frame (docs/protocol.md H)', () => {
  describe('#resumeFromLastEventId', () => {
    it.each([
      ['e_abc:42', { since: 42, epoch: 'e_abc' }],
      ['e_a-b_c:0', { since: 0, epoch: 'e_a-b_c' }],
      // Split at the last colon: an epoch never holds one, but the seq is what follows the last.
      ['e_x:7', { since: 7, epoch: 'e_x' }],
    ])('reads %s as a resume request', (header, expected) => {
      expect(resumeFromLastEventId(header)).toEqual(expected);
    });

    it.each([undefined, ''])('treats %j as no Last-Event-ID (EventSource before its first id)', (header) => {
      expect(resumeFromLastEventId(header)).toBeUndefined();
    });

    it.each([
      'nonsense',
      ':42',
      'e_abc:',
      'e_abc:-1',
      'e_abc:4.2',
      'e_abc:1234567890123456',
      'e abc:1',
      'e_abc:1,e_abc:2',
      'e_аbc:1', // a Cyrillic "а"
      `${'e'.repeat(129)}:1`,
      '123',
    ])('refuses the malformed %j (400)', (header) => {
      expect(resumeFromLastEventId(header)).toBeNull();
    });
  });

  it('frames an event as id epoch:seq then its data line, and the retry hint once', () => {
    expect(sseEventHead('e_abc', 5)).toBe('id: e_abc:5\ndata: ');
    expect(ssePreamble(1000)).toBe('retry: 1000\n\n');
  });
});
