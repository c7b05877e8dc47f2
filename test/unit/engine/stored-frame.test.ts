import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameParts, parseStoredFrame } from '../../../packages/server/src/engine/stored-frame.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';

/** What append.lua does with the parts. */
function join(head: string, seq: number, epoch: string, tail: string): string {
  return `${head},"seq":${seq},"epoch":"${epoch}"${tail}`;
}

const jsonValue = fc.jsonValue() as fc.Arbitrary<unknown>;
const storedEvent: fc.Arbitrary<StoredEvent> = fc
  .record({
    type: fc.string({ minLength: 1 }),
    run_id: fc.option(fc.string({ unit: 'binary', minLength: 1 }), { nil: undefined }),
    data: fc.dictionary(fc.string({ unit: 'binary' }), jsonValue),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    epoch: fc.stringMatching(/^e_[A-Za-z0-9_-]{16}$/),
    ts: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  })
  .map(({ run_id, ...rest }) => (run_id === undefined ? rest : { ...rest, run_id }));

describe('frameParts', () => {
  it('joined around seq and epoch as append.lua does, is exactly encodeEvent(event)', () => {
    fc.assert(
      fc.property(storedEvent, (event) => {
        const { head, tail } = frameParts(event, event.ts);
        expect(join(head, event.seq, event.epoch, tail)).toBe(encodeEvent(event));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves run_id out when there is none', () => {
    expect(frameParts({ type: 'x', data: { a: 1 } }, '2026-01-01T00:00:00.000Z')).toEqual({
      head: '{"type":"x"',
      tail: ',"ts":"2026-01-01T00:00:00.000Z","data":{"a":1}}',
    });
  });
});

describe('parseStoredFrame', () => {
  it('reads back every frame encodeEvent writes', () => {
    fc.assert(
      fc.property(storedEvent, (event) => {
        expect(parseStoredFrame(encodeEvent(event))).toEqual(JSON.parse(encodeEvent(event)));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps run_id when present', () => {
    const event = { type: 'x', run_id: 'r_1', seq: 1, epoch: 'e_a', ts: 't', data: {} };
    expect(parseStoredFrame(encodeEvent(event))).toEqual(event);
  });

  it('has no run_id key at all when the frame has none', () => {
    const frame = '{"type":"notification","seq":1,"epoch":"e_1","ts":"2026-01-01T00:00:00.000Z","data":{}}';
    const parsed = parseStoredFrame(frame);
    expect(parsed).toBeDefined();
    expect(Object.keys(parsed ?? {})).not.toContain('run_id');
    expect(parseStoredFrame(frame.replace('{"type"', '{"run_id":"r_1","type"'))).toMatchObject({
      run_id: 'r_1',
    });
  });

  it.each([
    ['not JSON', '{"type":'],
    ['not an object', '[1,2]'],
    ['null', 'null'],
    ['no type', '{"seq":1,"epoch":"e","ts":"t","data":{}}'],
    ['seq 0', '{"type":"x","seq":0,"epoch":"e","ts":"t","data":{}}'],
    ['seq not an integer', '{"type":"x","seq":1.5,"epoch":"e","ts":"t","data":{}}'],
    ['seq a string', '{"type":"x","seq":"1","epoch":"e","ts":"t","data":{}}'],
    ['no epoch', '{"type":"x","seq":1,"ts":"t","data":{}}'],
    ['no ts', '{"type":"x","seq":1,"epoch":"e","data":{}}'],
    ['data an array', '{"type":"x","seq":1,"epoch":"e","ts":"t","data":[]}'],
    ['data a string', '{"type":"x","seq":1,"epoch":"e","ts":"t","data":"text"}'],
    ['data a number', '{"type":"x","seq":1,"epoch":"e","ts":"t","data":5}'],
    ['run_id a number', '{"type":"x","seq":1,"epoch":"e","ts":"t","run_id":5,"data":{}}'],
  ])('refuses a frame with %s', (_what, frame) => {
    expect(parseStoredFrame(frame)).toBeUndefined();
  });
});
