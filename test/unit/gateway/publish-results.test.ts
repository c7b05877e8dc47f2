import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { publishResults } from '../../../packages/server/src/gateway/http-api.js';

/** The 202 body of a publish is written by hand: it must be exactly what JSON.stringify gives. */
describe('publishResults', () => {
  it('is JSON.stringify({ results }) of the seq/epoch pairs, for any epoch text', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ seq: fc.nat(), epoch: fc.string({ unit: 'binary' }) }), { maxLength: 20 }),
        (pairs) => {
          expect(publishResults(pairs)).toBe(JSON.stringify({ results: pairs }));
        },
      ),
      { numRuns: 300 },
    );
  });
});
