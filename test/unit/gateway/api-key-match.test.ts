import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apiKeyList } from '../../../packages/server/src/config/api-keys.js';
import { apiKeyMatches } from '../../../packages/server/src/gateway/http-api.js';

/**
 * apiKeyMatches compares code units in constant time instead of testing string equality: it must answer
 * exactly as "the bearer credential is one of the listed keys" does, for any keys and any header.
 */
describe('apiKeyMatches', () => {
  const unit = fc.constantFrom(
    'a',
    'b',
    'A',
    '0',
    '-',
    '_',
    '\u00e9',
    '\ud83d',
    '\ude00',
    '\u0000',
    '\uffff',
  );
  const text = fc.array(unit, { maxLength: 40 }).map((units) => units.join(''));
  const key = fc.oneof(
    text,
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.constantFrom('k', 'bench-api-key', 'x'.repeat(32), 'x'.repeat(33), 'x'.repeat(64)),
  );

  it('matches exactly the listed keys', () => {
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 3 }), key, fc.nat(3), (keys, other, pick) => {
        const apiKey = keys.join(',');
        const listed = apiKeyList(apiKey);
        // A listed key, a prefix or extension of one (same code units up to the shorter), or anything.
        const base = listed[pick % Math.max(listed.length, 1)] ?? other;
        for (const credential of [base, base.slice(0, -1), `${base}x`, `${base}${base}`, other]) {
          const expected = /^\S+$/.test(credential) && listed.includes(credential);
          expect(apiKeyMatches(`Bearer ${credential}`, apiKey)).toBe(expected);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses without a key configured or without a bearer credential', () => {
    expect(apiKeyMatches('Bearer k', undefined)).toBe(false);
    expect(apiKeyMatches('Bearer k', ' , ')).toBe(false);
    expect(apiKeyMatches(undefined, 'k')).toBe(false);
    expect(apiKeyMatches('Basic k', 'k')).toBe(false);
    expect(apiKeyMatches('bearer   k  ', 'k')).toBe(true);
  });
});
