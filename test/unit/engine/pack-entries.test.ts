import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packEntries } from '../../../packages/server/src/engine/redis-engine.js';

const wellFormed = (text: string) => (text as string & { toWellFormed(): string }).toWellFormed();

/** lua/append-batch.lua's one argument: JSON Redis's cjson accepts, with what ioredis would have sent as bytes. */
describe('packEntries', () => {
  it('is the entries as JSON, each string in its well-formed form (a lone surrogate as U+FFFD)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.constantFrom('\ud800', 'a\udc00b', '\\ud800', '😀'),
    );
    fc.assert(
      fc.property(fc.array(fc.array(text, { maxLength: 5 }), { maxLength: 5 }), (entries) => {
        const packed = packEntries(entries);
        expect(JSON.parse(packed)).toEqual(entries.map((entry) => entry.map(wellFormed)));
        // What cjson refuses: an escaped lone surrogate.
        expect(packed).not.toMatch(/(?<!\\)(\\\\)*\\ud[89a-f]/i);
      }),
      { numRuns: 500 },
    );
  });
});
