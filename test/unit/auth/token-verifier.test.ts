import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthFailureClass,
  authFailureClass,
} from '../../../packages/server/src/auth/auth-failure-class.js';
import {
  readTokenKeySource,
  type TokenRejection,
  TokenVerifier,
} from '../../../packages/server/src/auth/token-verifier.js';
import { AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import {
  claimsFor,
  generateSigningKey,
  nowS,
  type SigningKey,
  signHs256,
  signWithKey,
  swapPayload,
  TempDir,
  unsignedToken,
} from '../../helpers/auth-tokens.js';

const SECRET = 'unit-test-secret-that-is-long-enough';

/** The log class of each rejection reason, and of the claim refusals whose claim has its own class. */
const REASON_CLASSES: Record<TokenRejection, AuthFailureClass> = {
  expired: 'expired',
  invalid_signature: 'signature',
  invalid_claims: 'claims',
  malformed: 'malformed',
  wrong_algorithm: 'algorithm',
  keys_unavailable: 'keys_unavailable',
};
const REFUSAL_CLASSES: Record<string, AuthFailureClass> = {
  'no sub': 'sub',
  'an empty sub': 'sub',
  'a sub of 129 characters': 'sub',
  'a sub with a lone high surrogate': 'sub',
  'a sub with a lone low surrogate': 'sub',
};

let rs: SigningKey;
let es: SigningKey;
let strayRs: SigningKey;
beforeAll(() => {
  rs = generateSigningKey('RS256');
  es = generateSigningKey('ES256');
  strayRs = generateSigningKey('RS256');
});

describe('TokenVerifier', () => {
  describe('#verify with an HS256 secret', () => {
    const verifier = new TokenVerifier({ key: { kind: 'secret', secret: SECRET } });

    it('accepts a valid token and reports its sub and exp in milliseconds', async () => {
      const claims = claimsFor('u1');
      expect(await verifier.verify(await signHs256(SECRET, claims))).toEqual({
        ok: true,
        token: { userId: 'u1', expiresAtMs: (claims.exp as number) * 1000 },
      });
    });

    it.each([1, 128])('accepts a sub of %i characters', async (length) => {
      const result = await verifier.verify(await signHs256(SECRET, claimsFor('u'.repeat(length))));
      expect(result.ok).toBe(true);
    });

    it('accepts a sub with a surrogate pair (an astral character is well-formed)', async () => {
      const result = await verifier.verify(await signHs256(SECRET, claimsFor('u\ud83d\ude00')));
      expect(result).toMatchObject({ ok: true, token: { userId: 'u😀' } });
    });

    const hs = (claims: JWTPayload) => signHs256(SECRET, claims);
    const refusals: { name: string; token: () => Promise<string> | string; reason: TokenRejection }[] = [
      { name: 'an expired token', token: () => hs({ sub: 'u1', exp: nowS() - 1 }), reason: 'expired' },
      {
        name: 'another secret',
        token: () => signHs256(`${SECRET}!`, claimsFor('u1')),
        reason: 'invalid_signature',
      },
      {
        name: 'a swapped payload',
        token: async () => swapPayload(await hs(claimsFor('u1')), claimsFor('admin')),
        reason: 'invalid_signature',
      },
      { name: 'alg: none', token: () => unsignedToken(claimsFor('u1')), reason: 'wrong_algorithm' },
      { name: 'an RS256 token', token: () => signWithKey(rs, claimsFor('u1')), reason: 'wrong_algorithm' },
      { name: 'no sub', token: () => hs({ exp: nowS() + 60 }), reason: 'invalid_claims' },
      { name: 'an empty sub', token: () => hs(claimsFor('')), reason: 'invalid_claims' },
      {
        name: 'a sub of 129 characters',
        token: () => hs(claimsFor('u'.repeat(129))),
        reason: 'invalid_claims',
      },
      // ioredis writes a lone surrogate as U+FFFD: this sub would share the keys of "victim\ufffd".
      {
        name: 'a sub with a lone high surrogate',
        token: () => hs(claimsFor('victim\ud800')),
        reason: 'invalid_claims',
      },
      {
        name: 'a sub with a lone low surrogate',
        token: () => hs(claimsFor('\udc00victim')),
        reason: 'invalid_claims',
      },
      { name: 'no exp', token: () => hs({ sub: 'u1' }), reason: 'invalid_claims' },
      {
        name: 'a string exp',
        token: () => hs({ sub: 'u1', exp: 'never' as unknown as number }),
        reason: 'invalid_claims',
      },
      {
        name: 'an nbf in the future',
        token: () => hs({ ...claimsFor('u1'), nbf: nowS() + 600 }),
        reason: 'invalid_claims',
      },
      { name: 'an empty string', token: () => '', reason: 'malformed' },
      { name: 'two segments', token: () => 'abc.def', reason: 'malformed' },
      { name: 'a header that is not JSON', token: () => 'bm90IGpzb24.e30.sig', reason: 'malformed' },
    ];

    it.each(refusals)('refuses $name as $reason', async ({ name, token, reason }) => {
      const result = await verifier.verify(await token());
      expect(result).toMatchObject({ ok: false, reason });
      // The class the `authentication failed` log line names (auth/auth-failure-class.ts).
      if (result.ok) throw new Error('accepted');
      expect(authFailureClass(result)).toBe(REFUSAL_CLASSES[name] ?? REASON_CLASSES[reason]);
    });
  });

  describe('#verify with issuer and audience', () => {
    const verifier = new TokenVerifier({
      key: { kind: 'secret', secret: SECRET },
      issuer: 'https://issuer.example',
      audience: 'agentcast',
    });

    it.each([
      {
        name: 'the right iss and aud',
        claims: { iss: 'https://issuer.example', aud: 'agentcast' },
        ok: true,
      },
      {
        name: 'an aud list with ours',
        claims: { iss: 'https://issuer.example', aud: ['x', 'agentcast'] },
        ok: true,
      },
      {
        name: 'a wrong iss',
        claims: { iss: 'https://issuer.example.evil', aud: 'agentcast' },
        ok: false,
        cls: 'issuer',
      },
      {
        name: 'a wrong aud',
        claims: { iss: 'https://issuer.example', aud: 'agentcast-admin' },
        ok: false,
        cls: 'audience',
      },
      { name: 'no iss', claims: { aud: 'agentcast' }, ok: false, cls: 'issuer' },
      { name: 'no aud', claims: { iss: 'https://issuer.example' }, ok: false, cls: 'audience' },
    ])('with $name: ok=$ok', async ({ claims, ok, cls }) => {
      const result = await verifier.verify(await signHs256(SECRET, { ...claimsFor('u1'), ...claims }));
      expect(result).toEqual(
        ok
          ? expect.objectContaining({ ok: true })
          : { ok: false, reason: 'invalid_claims', claim: expect.any(String) },
      );
      if (!result.ok) expect(authFailureClass(result)).toBe(cls);
    });
  });

  describe('#verify with public keys', () => {
    it('accepts RS256 with an RSA public key and refuses HS256 signed with its PEM (HS/RS confusion)', async () => {
      const verifier = new TokenVerifier({ key: { kind: 'publicKey', pem: rs.publicKeyPem } });
      expect((await verifier.verify(await signWithKey(rs, claimsFor('u1')))).ok).toBe(true);
      expect(await verifier.verify(await signHs256(rs.publicKeyPem, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'wrong_algorithm',
      });
      expect(await verifier.verify(await signWithKey(strayRs, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'invalid_signature',
      });
      expect(await verifier.verify(await signWithKey(es, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'wrong_algorithm',
      });
    });

    it('accepts ES256 with an EC public key and refuses RS256', async () => {
      const verifier = new TokenVerifier({ key: { kind: 'publicKey', pem: es.publicKeyPem } });
      expect((await verifier.verify(await signWithKey(es, claimsFor('u1')))).ok).toBe(true);
      expect(await verifier.verify(await signWithKey(rs, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'wrong_algorithm',
      });
    });

    it('finds the key by kid in a JWKS and refuses a key it does not hold', async () => {
      const verifier = new TokenVerifier({
        key: { kind: 'jwks', jwks: { keys: [await rs.publicJwk(), await es.publicJwk()] } },
      });
      expect((await verifier.verify(await signWithKey(rs, claimsFor('u1')))).ok).toBe(true);
      expect((await verifier.verify(await signWithKey(es, claimsFor('u2')))).ok).toBe(true);
      expect(await verifier.verify(await signWithKey(strayRs, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'invalid_signature',
      });
      expect(await verifier.verify(await signHs256(SECRET, claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'wrong_algorithm',
      });
      expect(await verifier.verify(unsignedToken(claimsFor('u1')))).toEqual({
        ok: false,
        reason: 'wrong_algorithm',
      });
    });
  });

  describe('constructor', () => {
    it('throws a TypeError for an empty secret', () => {
      expect(() => new TokenVerifier({ key: { kind: 'secret', secret: '' } })).toThrow(
        new TypeError('TokenVerifier: the JWT secret must not be empty'),
      );
    });
  });
});

describe('readTokenKeySource', () => {
  const dir = new TempDir();
  afterAll(() => dir.remove());

  it('returns undefined when no key is configured', () => {
    expect(readTokenKeySource({})).toBeUndefined();
  });

  it('prefers the secret, then the public key file, then the JWKS file', async () => {
    const pem = dir.write('pub.pem', rs.publicKeyPem);
    const jwks = dir.write('jwks.json', JSON.stringify({ keys: [await es.publicJwk()] }));
    expect(readTokenKeySource({ jwtSecret: 's', jwtPublicKey: pem })).toEqual({
      kind: 'secret',
      secret: 's',
    });
    expect(readTokenKeySource({ jwtPublicKey: pem, jwks })).toEqual({
      kind: 'publicKey',
      pem: rs.publicKeyPem,
    });
    expect(readTokenKeySource({ jwks })).toEqual({ kind: 'jwks', jwks: { keys: [await es.publicJwk()] } });
  });

  it.each([
    {
      name: 'a missing public key file',
      options: () => ({ jwtPublicKey: `${dir.path}/absent.pem` }),
      flag: '--jwt-public-key',
      problem: 'cannot read the file (ENOENT)',
    },
    {
      name: 'a public key file that is not PEM',
      options: () => ({ jwtPublicKey: dir.write('not.pem', 'ssh-ed25519 AAAA me@host\n') }),
      flag: '--jwt-public-key',
      problem: 'not a PEM public key; expected "-----BEGIN PUBLIC KEY-----" (SPKI)',
    },
    {
      name: 'an Ed25519 public key',
      options: () => ({
        jwtPublicKey: dir.write(
          'ed.pem',
          generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        ),
      }),
      flag: '--jwt-public-key',
      problem: 'the key is neither RSA nor EC P-256; RS256 and ES256 tokens need one of them',
    },
    {
      name: 'a JWKS file that is not JSON',
      options: () => ({ jwks: dir.write('bad.json', '{') }),
      flag: '--jwks',
      problem: 'not JSON; expected a JSON Web Key Set {"keys":[…]}',
    },
    {
      name: 'a JWKS without a keys array',
      options: () => ({ jwks: dir.write('nokeys.json', '{"kty":"RSA"}') }),
      flag: '--jwks',
      problem: 'not a JSON Web Key Set; it needs a "keys" array',
    },
    {
      name: 'a JWKS with no usable key (symmetric, encryption-only, P-384, wrong alg, junk)',
      options: () => ({
        jwks: dir.write(
          'unusable.json',
          JSON.stringify({
            keys: [
              { kty: 'oct', k: 'c2VjcmV0' },
              { ...rsJwk(), use: 'enc' },
              { ...rsJwk(), alg: 'PS256' },
              generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'jwk' }),
              'junk',
            ],
          }),
        ),
      }),
      flag: '--jwks',
      problem:
        'none of its 5 keys can verify RS256 or ES256 tokens; it needs an RSA or EC P-256 public key (use "sig", alg RS256/ES256 or none)',
    },
  ])('throws AC_ERR_CONFIG_INVALID naming the flag and file for $name', ({ options, flag, problem }) => {
    const given = options();
    const file = 'jwtPublicKey' in given ? given.jwtPublicKey : given.jwks;
    expect(() => readTokenKeySource(given)).toThrow(
      expect.objectContaining({
        name: 'AgentcastError',
        code: AgentcastErrorCode.ConfigInvalid,
        message: `invalid configuration:\n  - ${flag} "${file}": ${problem}`,
      }),
    );
  });

  it('accepts a key set with one usable key among unusable ones', async () => {
    const keys = [{ kty: 'oct', k: 'c2VjcmV0' }, await es.publicJwk()];
    const jwks = dir.write('mixed.json', JSON.stringify({ keys }));
    expect(readTokenKeySource({ jwks })).toEqual({ kind: 'jwks', jwks: { keys } });
  });
});

/** The RSA test key as a public JWK. */
function rsJwk(): Record<string, unknown> {
  return createPublicKey(rs.publicKeyPem).export({ format: 'jwk' }) as Record<string, unknown>;
}
