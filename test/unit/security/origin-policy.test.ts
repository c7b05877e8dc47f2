import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  defaultOriginEntries,
  ENVIRONMENTS,
  type Environment,
} from '../../../packages/server/src/security/default-origins.js';
import { normalizeOrigin } from '../../../packages/server/src/security/normalize-origin.js';
import {
  ORIGIN_REJECTION_REASONS,
  OriginPolicy,
} from '../../../packages/server/src/security/origin-policy.js';

describe('OriginPolicy', () => {
  describe('environment defaults (§5)', () => {
    const local = [
      'http://localhost:5173',
      'https://localhost:8443',
      'http://127.0.0.1:3000',
      'https://127.0.0.1',
      'http://[::1]:8080',
      'https://[::1]',
    ];

    it.each<[Environment, string, boolean]>([
      ...local.map((o): [Environment, string, boolean] => ['development', o, true]),
      ...local.map((o): [Environment, string, boolean] => ['test', o, true]),
      ...local.map((o): [Environment, string, boolean] => ['staging', o, false]),
      ...local.map((o): [Environment, string, boolean] => ['production', o, false]),
      ['development', 'http://localhost.evil.net:5173', false],
      ['development', 'http://127.0.0.2:3000', false],
      ['development', 'http://app.localhost:3000', false],
      ['development', 'https://app.example.com', false],
      ['test', 'http://192.168.1.10:3000', false],
      ['staging', 'https://app.example.com', false],
      ['production', 'https://app.example.com', false],
    ])('%s allows %s: %s', (env, origin, allowed) => {
      const policy = new OriginPolicy({ env, origins: undefined });
      expect(policy.check(origin).ok).toBe(allowed);
    });

    it.each<[Environment, number]>([
      ['development', 6],
      ['test', 6],
      ['staging', 0],
      ['production', 0],
    ])('%s lists %i default entries', (env, count) => {
      expect(defaultOriginEntries(env)).toHaveLength(count);
      expect(new OriginPolicy({ env }).entries).toEqual(defaultOriginEntries(env));
    });

    it('uses the defaults for an empty list, and only the configured entries otherwise', () => {
      expect(new OriginPolicy({ env: 'development', origins: [] }).check('http://localhost:3000')).toEqual({
        ok: true,
        origin: 'http://localhost:3000',
      });
      const configured = new OriginPolicy({ env: 'development', origins: ['https://app.example.com'] });
      expect(configured.entries).toEqual(['https://app.example.com']);
      expect(configured.check('http://localhost:3000')).toEqual({
        ok: false,
        reason: 'not_allowed',
        origin: 'http://localhost:3000',
      });
    });
  });

  describe('#check', () => {
    const policy = new OriginPolicy({
      env: 'production',
      origins: ['https://app.example.com', 'https://*.example.org'],
    });
    const strict = new OriginPolicy({
      env: 'production',
      origins: ['https://app.example.com'],
      requireOrigin: true,
    });

    it.each<[string, string | readonly string[] | undefined, object]>([
      ['allows a request without Origin', undefined, { ok: true }],
      ['allows an empty header list as no Origin', [], { ok: true }],
      [
        'allows a listed origin and returns its normal form',
        'HTTPS://App.Example.com/',
        { ok: true, origin: 'https://app.example.com' },
      ],
      [
        'allows a subdomain of a wildcard entry',
        'https://a.b.example.org',
        { ok: true, origin: 'https://a.b.example.org' },
      ],
      [
        'refuses an unlisted origin, naming it',
        'https://evil.net',
        { ok: false, reason: 'not_allowed', origin: 'https://evil.net' },
      ],
      [
        'refuses the apex of a wildcard entry',
        'https://example.org',
        { ok: false, reason: 'not_allowed', origin: 'https://example.org' },
      ],
      ['refuses null', 'null', { ok: false, reason: 'null_origin' }],
      ['refuses a path', 'https://app.example.com/x', { ok: false, reason: 'has_path' }],
      ['refuses an empty value', '', { ok: false, reason: 'malformed' }],
      [
        'accepts identical duplicates from headersDistinct',
        ['https://app.example.com', 'https://app.example.com'],
        { ok: true, origin: 'https://app.example.com' },
      ],
      [
        'accepts identical duplicates joined by Node',
        'https://app.example.com, https://app.example.com',
        { ok: true, origin: 'https://app.example.com' },
      ],
      [
        'refuses differing values from headersDistinct',
        ['https://app.example.com', 'https://evil.net'],
        { ok: false, reason: 'multiple_origins' },
      ],
      [
        'refuses differing values joined by Node',
        'https://app.example.com, https://evil.net',
        { ok: false, reason: 'multiple_origins' },
      ],
      [
        'refuses differing values inside one array item',
        ['https://app.example.com,https://evil.net'],
        { ok: false, reason: 'multiple_origins' },
      ],
      [
        'refuses values that differ only in spelling',
        ['https://app.example.com', 'https://APP.example.com'],
        { ok: false, reason: 'multiple_origins' },
      ],
      [
        'refuses a trailing comma as a second, empty value',
        'https://app.example.com,',
        { ok: false, reason: 'multiple_origins' },
      ],
      [
        'refuses a space-separated origin list (RFC 6454 §7)',
        'https://app.example.com https://evil.net',
        { ok: false, reason: 'bad_character' },
      ],
    ])('%s', (_name, header, expected) => {
      expect(policy.check(header)).toEqual(expected);
    });

    it('allows a request without an Origin header when requireOrigin is not given (docs/protocol.md §5)', () => {
      expect(new OriginPolicy({ env: 'test' }).check(undefined)).toEqual({ ok: true });
      expect(
        new OriginPolicy({ env: 'production', origins: ['https://app.example.com'] }).check(undefined),
      ).toEqual({ ok: true });
    });

    it('refuses a missing Origin when requireOrigin is set', () => {
      expect(strict.check(undefined)).toEqual({ ok: false, reason: 'missing_origin' });
      expect(strict.check([])).toEqual({ ok: false, reason: 'missing_origin' });
      expect(strict.check('https://app.example.com')).toEqual({
        ok: true,
        origin: 'https://app.example.com',
      });
    });

    it('returns only reasons from ORIGIN_REJECTION_REASONS and never throws on random input (fuzz)', () => {
      const devAny = new OriginPolicy({ env: 'development', origins: ['*'] });
      const reasons = new Set<string>(ORIGIN_REJECTION_REASONS);
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 300, unit: 'binary' }),
            fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
          ),
          (header) => {
            for (const p of [policy, strict, devAny]) {
              const result = p.check(header);
              if (!result.ok) expect(reasons.has(result.reason)).toBe(true);
            }
          },
        ),
        { numRuns: 20_000 },
      );
    });

    it('agrees with #allows on every origin that parses', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(
            'https://app.example.com',
            'https://x.example.org',
            'https://example.org',
            'http://app.example.com',
          ),
          (value) => {
            const parsed = normalizeOrigin(value);
            if (!parsed.ok) throw new Error('fixture must parse');
            expect(policy.check(value).ok).toBe(policy.allows(parsed.origin));
          },
        ),
        { numRuns: 50 },
      );
    });
  });

  describe('construction', () => {
    it('throws a TypeError naming every invalid entry', () => {
      expect(
        () =>
          new OriginPolicy({
            env: 'staging',
            origins: ['https://ok.example.com', 'https://*.com', 'ftp://x.io'],
          }),
      ).toThrow(
        new TypeError(
          'OriginPolicy: invalid origins: origins[1] "https://*.com": "*.com" would allow a whole top-level domain; name your domain: https://*.example.com; origins[2] "ftp://x.io": scheme must be http:// or https:// (browsers send the page origin, never ws://, file:// …)',
        ),
      );
    });

    it('refuses "*" outside development, and http:// in production unless allowInsecureOrigins', () => {
      expect(() => new OriginPolicy({ env: 'test', origins: ['*'] })).toThrow(TypeError);
      expect(
        () => new OriginPolicy({ env: 'production', origins: ['*'], allowInsecureOrigins: true }),
      ).toThrow(TypeError);
      expect(() => new OriginPolicy({ env: 'production', origins: ['http://app.example.com'] })).toThrow(
        /http:\/\/ refused in production/,
      );
      const insecure = new OriginPolicy({
        env: 'production',
        origins: ['http://app.example.com'],
        allowInsecureOrigins: true,
      });
      expect(insecure.check('http://app.example.com')).toEqual({
        ok: true,
        origin: 'http://app.example.com',
      });
    });

    it('allows any well-formed origin with "*" in development, but never null or a path', () => {
      const any = new OriginPolicy({ env: 'development', origins: ['*'] });
      expect(any.check('https://whatever.example')).toEqual({ ok: true, origin: 'https://whatever.example' });
      expect(any.check('null')).toEqual({ ok: false, reason: 'null_origin' });
      expect(any.check('https://x.example/p')).toEqual({ ok: false, reason: 'has_path' });
    });

    it('copies the configured list, so later changes to the caller array have no effect', () => {
      const origins = ['https://app.example.com'];
      const policy = new OriginPolicy({ env: 'production', origins });
      origins.push('https://evil.net');
      expect(policy.entries).toEqual(['https://app.example.com']);
      expect(policy.check('https://evil.net').ok).toBe(false);
    });
  });

  it('lists every rejection reason, each once', () => {
    expect([...ORIGIN_REJECTION_REASONS].sort()).toEqual([
      'bad_character',
      'bad_scheme',
      'has_fragment',
      'has_path',
      'has_query',
      'has_userinfo',
      'malformed',
      'missing_origin',
      'multiple_origins',
      'not_allowed',
      'null_origin',
      'too_long',
    ]);
  });

  it('lists the four environments', () => {
    expect(ENVIRONMENTS).toEqual(['development', 'test', 'staging', 'production']);
  });
});
