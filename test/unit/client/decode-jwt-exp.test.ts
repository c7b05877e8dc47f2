import { describe, expect, it } from 'vitest';
import { decodeJwtExp } from '../../../packages/client/src/decode-jwt-exp.js';
import { makeJwt } from './fake-web-socket.js';

const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe('decodeJwtExp', () => {
  it('reads exp from the payload without verifying the signature', () => {
    expect(decodeJwtExp(makeJwt({ sub: 'u1', exp: 1_800_000_000 }))).toBe(1_800_000_000);
  });

  it.each([1, 2, 3])('decodes payloads that need %i padding characters removed by base64url', (extra) => {
    const token = makeJwt({ sub: 'x'.repeat(extra), exp: 42 });
    expect(decodeJwtExp(token)).toBe(42);
  });

  it('decodes the base64url alphabet (- and _), not only base64', () => {
    // "?>" encodes to "Pz4" in base64, "~~~" to "fn5-": both alphabets' special characters appear.
    const payload = b64url(JSON.stringify({ exp: 7, note: '???>>>~~~' }));
    expect(payload).toMatch(/[-_]/);
    expect(decodeJwtExp(`h.${payload}.s`)).toBe(7);
  });

  it('reads exp from a payload with non-ASCII claims', () => {
    expect(decodeJwtExp(`h.${b64url(JSON.stringify({ name: 'Zoë 名前', exp: 9 }))}.s`)).toBe(9);
  });

  it.each([
    ['an opaque token', 'opaque-token'],
    ['an empty payload', 'a..c'],
    ['a payload that is not base64', 'a.!!!.c'],
    ['a payload that is not JSON', `a.${b64url('not json')}.c`],
    ['a JSON payload that is not an object', `a.${b64url('42')}.c`],
    ['null', `a.${b64url('null')}.c`],
    ['no exp', `a.${b64url('{"sub":"u"}')}.c`],
    ['a string exp', `a.${b64url('{"exp":"1800000000"}')}.c`],
  ])('returns undefined for %s', (_name, token) => {
    expect(decodeJwtExp(token)).toBeUndefined();
  });
});
