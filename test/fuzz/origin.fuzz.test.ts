import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ORIGIN_LENGTH, normalizeOrigin } from '../../packages/server/src/security/normalize-origin.js';
import { ORIGIN_REJECTION_REASONS, OriginPolicy } from '../../packages/server/src/security/origin-policy.js';
import { propertyParameters } from '../property/support/property-parameters.js';

/**
 * docs/protocol.md §5 for the origin parser and policy, over 100,000 random and mutated origins:
 * `normalizeOrigin` and `OriginPolicy.check` never throw and always answer with a documented reason;
 * what they accept is in normal form (normalising it again changes nothing), and a production policy
 * admits only what its entries name: never `example.com` for `https://*.example.com`, never another
 * scheme or port, never a look-alike.
 */

const ORIGINS = 100_000;

// Pieces origins are made of, including the hostile ones §5 and docs/architecture.md ("Style") name.
const scheme = fc.constantFrom('http', 'https', 'HTTPS', 'ws', 'file', 'chrome-extension', 'javascript', '');
const separator = fc.constantFrom('://', ':/', ':', '//', ':\\\\', '');
const label = fc.oneof(
  fc.constantFrom('example', 'app', 'a', 'evil-example', 'xn--e1afmkfd', 'localhost', 'EXAMPLE', 'ехample'),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }),
);
const dnsHost = fc
  .array(label, { minLength: 1, maxLength: 4 })
  .chain((labels) =>
    fc.constantFrom('com', 'net', 'org', 'com.evil.net', 'example.com', '').map((tld) => [...labels, tld]),
  )
  .map((parts) => parts.filter((p) => p !== '').join('.'));
const host = fc.oneof(
  { arbitrary: dnsHost, weight: 6 },
  {
    arbitrary: fc.constantFrom(
      '127.0.0.1',
      '127.1',
      '0x7f.0.0.1',
      '2130706433',
      '[::1]',
      '[0:0::1]',
      '[::ffff:127.0.0.1]',
      '[::1',
      '::1',
      '[[::1]]',
      'user@example.com',
      'example.com.',
      'ex%61mple.com',
      '*.example.com',
      // What a URL parser repairs into another host (issue 13, finding 9).
      'app.example.com\\.evil.net',
      'app.example.com^.evil.net',
      'app.example.com|evil.net',
      '[::1x',
      '',
    ),
    weight: 2,
  },
  { arbitrary: fc.ipV4(), weight: 1 },
  { arbitrary: fc.ipV6().map((ip) => `[${ip}]`), weight: 1 },
);
const port = fc.oneof(
  fc.constant(''),
  fc.integer({ min: 0, max: 70_000 }).map((p) => `:${p}`),
  fc.constantFrom(':', ':080', ':443', ':80', ':-1', ':1e3', ': 80', ':*'),
);
const tail = fc.constantFrom('', '', '', '/', '//', '/path', '?q=1', '#f', '/?', ' ', '\t', '\u200b', '\n');

/** Origin-shaped strings: mostly near-misses assembled from the pieces above. */
const assembled = fc
  .tuple(scheme, separator, host, port, tail)
  .map(([s, sep, h, p, t]) => `${s}${sep}${h}${p}${t}`);

/** A string with a character inserted, removed or replaced, or its case flipped. */
const mutated = fc
  .tuple(
    assembled,
    fc.nat(),
    fc.string({ unit: 'grapheme', maxLength: 2 }),
    fc.constantFrom('insert', 'cut', 'upper'),
  )
  .map(([text, pick, insert, how]) => {
    const at = pick % (text.length + 1);
    if (how === 'cut') return text.slice(0, at) + text.slice(at + 1);
    if (how === 'upper') return text.slice(0, at) + text.slice(at).toUpperCase();
    return text.slice(0, at) + insert + text.slice(at);
  });

/** Well-formed origins (any of which a policy may or may not admit), so acceptance is exercised too. */
const wellFormed = fc
  .tuple(
    fc.constantFrom('http', 'https', 'HTTPS'),
    host,
    fc.oneof(
      fc.constant(''),
      fc.integer({ min: 1, max: 65_535 }).map((p) => `:${p}`),
    ),
    fc.constantFrom('', '/'),
  )
  .map(([s, h, p, t]) => `${s}://${h}${p}${t}`);

const originText = fc.oneof(
  { arbitrary: wellFormed, weight: 4 },
  { arbitrary: assembled, weight: 3 },
  { arbitrary: mutated, weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ minLength: 250, maxLength: 300 }).map((s) => `https://${s}`), weight: 1 },
);

/** An Origin header as Node hands it over: absent, one value, a joined list, or several values. */
const originHeader: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  { arbitrary: originText, weight: 8 },
  { arbitrary: fc.array(originText, { minLength: 1, maxLength: 3 }), weight: 1 },
  { arbitrary: originText.map((o) => `${o}, ${o}`), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
);

const REASONS: readonly string[] = ORIGIN_REJECTION_REASONS;

describe('normalizeOrigin and OriginPolicy.check (fuzz)', () => {
  const production = new OriginPolicy({
    env: 'production',
    origins: ['https://*.example.com', 'https://app.example.org'],
    requireOrigin: true,
  });
  const development = new OriginPolicy({ env: 'development' });

  it(`answer ${ORIGINS.toLocaleString('en')} random and mutated origins with a normal form or a documented reason`, () => {
    const parameters = propertyParameters<[string, string | string[] | undefined]>({
      numRuns: ORIGINS,
      mutationRuns: 3000,
    });
    const runs = parameters.numRuns ?? ORIGINS;
    let accepted = 0;
    let admitted = 0;
    fc.assert(
      fc.property(originText, originHeader, (text, header) => {
        const parsed = normalizeOrigin(text);
        if (parsed.ok) {
          accepted++;
          const { origin } = parsed;
          // The normal form is a fixed point, short enough, and spelled as browsers send it.
          expect(normalizeOrigin(origin.serialized)).toEqual(parsed);
          expect(origin.serialized.length).toBeLessThanOrEqual(MAX_ORIGIN_LENGTH);
          expect(origin.serialized).toBe(origin.serialized.toLowerCase());
          expect(['http', 'https']).toContain(origin.scheme);
          expect(origin.port).toBeGreaterThanOrEqual(1);
          expect(origin.port).toBeLessThanOrEqual(65_535);
          expect(origin.serialized).not.toMatch(new RegExp(`:${origin.scheme === 'http' ? 80 : 443}$`));
          expect(origin.serialized.slice(origin.scheme.length + 3)).not.toMatch(/[/?#@]/);
          // Nothing that ends or escapes a host in a URL parser was in the accepted text, and an IPv6
          // literal was closed: the text named this host and no other.
          const authority = text.slice(text.indexOf('//') + 2).replace(/\/$/, '');
          expect(authority).not.toMatch(/[\\^|<>%]/);
          expect(authority.startsWith('[')).toBe(authority.includes(']'));
        } else {
          expect(REASONS).toContain(parsed.reason);
        }
        for (const policy of [production, development]) {
          const result = policy.check(header);
          if (!result.ok) {
            expect(REASONS).toContain(result.reason);
            continue;
          }
          if (result.origin === undefined) {
            // Only a missing header passes without an origin, and only where it is not required.
            expect(header === undefined || (Array.isArray(header) && header.length === 0)).toBe(true);
            expect(policy).toBe(development);
            continue;
          }
          const normal = normalizeOrigin(result.origin);
          expect(normal.ok).toBe(true);
          if (!normal.ok) continue;
          expect(policy.allows(normal.origin)).toBe(true);
          if (policy === production) {
            admitted++;
            // §5: the wildcard matches subdomains only; https on its default port only.
            const { host: h, scheme: s, port: p } = normal.origin;
            expect(s).toBe('https');
            expect(p).toBe(443);
            expect(h === 'app.example.org' || (h.endsWith('.example.com') && h !== '.example.com')).toBe(
              true,
            );
          } else {
            expect(['localhost', '127.0.0.1', '[::1]']).toContain(normal.origin.host);
          }
        }
      }),
      parameters,
    );
    // The generators reach acceptance and admission, so the property is not vacuous.
    expect(accepted).toBeGreaterThan(runs / 10);
    expect(admitted).toBeGreaterThan(runs / 2000);
  }, 120_000);
});
