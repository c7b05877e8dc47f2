import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeOrigin } from '../../../packages/server/src/security/normalize-origin.js';
import {
  matchesOriginPattern,
  parseOriginPattern,
} from '../../../packages/server/src/security/origin-pattern.js';

/** Whether `origin` (an Origin header value) is allowed by the single entry `entry`. */
function matches(entry: string, origin: string): boolean {
  const pattern = parseOriginPattern(entry);
  if (!pattern.ok) throw new Error(`bad test entry ${entry}: ${pattern.error}`);
  const parsed = normalizeOrigin(origin);
  return parsed.ok && matchesOriginPattern(pattern.pattern, parsed.origin);
}

describe('matchesOriginPattern', () => {
  // §5: the four entry kinds, with hostile origins against each.
  it.each<[string, string, boolean]>([
    // exact
    ['https://app.example.com', 'https://app.example.com', true],
    ['https://app.example.com', 'https://APP.EXAMPLE.COM', true],
    ['https://app.example.com', 'HTTPS://app.example.com', true],
    ['https://app.example.com', 'https://app.example.com/', true],
    ['https://app.example.com', 'https://app.example.com:443', true],
    ['https://app.example.com', 'https://app.example.com:8443', false],
    ['https://app.example.com', 'http://app.example.com', false],
    ['https://app.example.com', 'https://example.com', false],
    ['https://app.example.com', 'https://evil.app.example.com', false],
    ['https://app.example.com', 'https://app.example.com.evil.net', false],
    ['https://app.example.com', 'https://appxexample.com', false],
    ['https://app.example.com', 'https://app-example.com', false],
    ['https://app.example.com', 'https://app.example.co', false],
    ['https://app.example.com', 'https://app.example.com//', false],
    ['https://app.example.com', 'https://app.example.com/login', false],
    ['https://app.example.com', 'https://app.example.com?x', false],
    ['https://app.example.com', 'https://app.example.com#x', false],
    ['https://app.example.com', 'https://user@app.example.com', false],
    ['https://app.example.com', 'https://app.example.com@evil.net', false],
    ['https://app.example.com', ' https://app.example.com', false],
    ['https://app.example.com', 'https://app.example.com\u0000', false],
    ['https://app.example.com', 'https://app.example.com.', false],
    ['https://app.example.com', 'null', false],
    ['https://app.example.com', 'wss://app.example.com', false],
    ['https://app.example.com', 'https://аpp.example.com', false],
    ['https://app.example.com/', 'https://app.example.com', true],
    ['HTTPS://App.Example.com', 'https://app.example.com', true],
    ['https://app.example.com:443', 'https://app.example.com', true],
    ['http://app.example.com:80', 'http://app.example.com', true],
    // Cyrillic "е" look-alike (U+0435) and IDN
    ['https://example.com', 'https://еxample.com', false],
    ['https://example.com', 'https://xn--xample-2of.com', false],
    ['https://еxample.com', 'https://xn--xample-2of.com', true],
    ['https://еxample.com', 'https://example.com', false],
    ['https://bücher.example', 'https://xn--bcher-kva.example', true],
    ['https://xn--bcher-kva.example', 'https://bücher.example', true],
    ['https://bücher.example', 'https://bucher.example', false],
    // explicit port: only that port
    ['http://localhost:3000', 'http://localhost:3000', true],
    ['http://localhost:3000', 'http://localhost:3001', false],
    ['http://localhost:3000', 'http://localhost', false],
    ['http://localhost:3000', 'https://localhost:3000', false],
    ['http://localhost:3000', 'http://LOCALHOST:3000/', true],
    ['http://localhost:3000', 'http://localhost:3000.evil.net', false],
    // no port: only the scheme's default port
    ['http://localhost', 'http://localhost:80', true],
    ['http://localhost', 'http://localhost:8080', false],
    ['https://app.example.com', 'https://app.example.com:80', false],
    // any port
    ['http://localhost:*', 'http://localhost', true],
    ['http://localhost:*', 'http://localhost:5173', true],
    ['http://localhost:*', 'http://localhost:65535', true],
    ['http://localhost:*', 'https://localhost:5173', false],
    ['http://localhost:*', 'http://localhost.evil.net:5173', false],
    ['http://localhost:*', 'http://evil-localhost:5173', false],
    ['http://localhost:*', 'http://sub.localhost:5173', false],
    ['http://localhost:*', 'http://127.0.0.1:5173', false],
    ['http://127.0.0.1:*', 'http://127.0.0.1:9000', true],
    ['http://127.0.0.1:*', 'http://127.0.0.2:9000', false],
    ['http://127.0.0.1:*', 'http://2130706433:9000', false],
    // IPv6
    ['http://[::1]:*', 'http://[::1]:3000', true],
    ['http://[::1]:*', 'http://[0:0:0:0:0:0:0:1]:3000', true],
    ['http://[::1]:*', 'http://[::2]:3000', false],
    ['http://[::1]:*', 'http://::1:3000', false],
    ['https://[2001:db8::1]', 'https://[2001:DB8:0::1]', true],
    // subdomain wildcard
    ['https://*.example.com', 'https://a.example.com', true],
    ['https://*.example.com', 'https://a.b.example.com', true],
    ['https://*.example.com', 'https://A.EXAMPLE.COM', true],
    ['https://*.example.com', 'https://a.example.com/', true],
    ['https://*.example.com', 'https://example.com', false],
    ['https://*.example.com', 'https://evil-example.com', false],
    ['https://*.example.com', 'https://evilexample.com', false],
    ['https://*.example.com', 'https://example.com.evil.net', false],
    ['https://*.example.com', 'https://a.example.com.evil.net', false],
    ['https://*.example.com', 'https://a.example.co', false],
    ['https://*.example.com', 'https://a.exampleXcom', false],
    ['https://*.example.com', 'http://a.example.com', false],
    ['https://*.example.com', 'https://a.example.com:8443', false],
    ['https://*.example.com', 'https://.example.com', false],
    ['https://*.example.com', 'https://a.еxample.com', false],
    ['https://*.example.com', 'https://user@a.example.com', false],
    ['https://*.example.com', 'https://a.example.com/path', false],
    ['https://*.example.com', 'null', false],
    ['https://*.example.com', 'file://a.example.com', false],
    ['https://*.example.com', 'chrome-extension://a.example.com', false],
    ['https://*.example.com:*', 'https://a.example.com:8443', true],
    ['https://*.example.com:*', 'https://a.example.com', true],
    ['https://*.example.com:*', 'https://example.com:8443', false],
    ['https://*.example.com:8443', 'https://a.example.com:8443', true],
    ['https://*.example.com:8443', 'https://a.example.com', false],
    ['https://*.bücher.example', 'https://shop.xn--bcher-kva.example', true],
    ['http://*.localhost:*', 'http://app.localhost:3000', true],
    ['http://*.localhost:*', 'http://localhost:3000', false],
    // any origin (development only)
    ['*', 'https://anything.example', true],
    ['*', 'http://localhost:1234', true],
    ['*', 'null', false],
    ['*', 'file://', false],
    ['*', 'https://x.com/path', false],
  ])('%s vs %j -> %s', (entry, origin, expected) => {
    expect(matches(entry, origin)).toBe(expected);
  });

  describe('properties', () => {
    // DNS labels that start with a letter (a numeric last label would read as IPv4) and never hold "--"
    // (an "xn--" label must be valid punycode).
    const label = fc.stringMatching(/^[a-z][a-z0-9]{0,3}(?:-[a-z0-9]{1,3})?$/);
    const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

    it('a wildcard match implies the host ends with "." + base; an exact match implies equal hosts', () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          host,
          host,
          fc.constantFrom('', ':*', ':8443'),
          (wild, base, candidate, port) => {
            const entry = `https://${wild ? '*.' : ''}${base}${port}`;
            const pattern = parseOriginPattern(entry);
            const origin = normalizeOrigin(`https://${candidate}`);
            fc.pre(pattern.ok && origin.ok);
            if (!pattern.ok || !origin.ok) return;
            const matched = matchesOriginPattern(pattern.pattern, origin.origin);
            const expected = wild ? candidate.endsWith(`.${base}`) : candidate === base;
            expect(matched).toBe(expected && port !== ':8443');
          },
        ),
        { numRuns: 500 },
      );
    });

    it('a subdomain of the base always matches, and the base itself never does', () => {
      fc.assert(
        fc.property(host, host, (sub, base) => {
          fc.pre(base.includes('.'));
          expect(matches(`https://*.${base}`, `https://${sub}.${base}`)).toBe(true);
          expect(matches(`https://*.${base}`, `https://${base}`)).toBe(false);
          expect(matches(`https://*.${base}`, `https://${sub}-${base}`)).toBe(false);
          expect(matches(`https://*.${base}`, `https://${base}.${sub}`)).toBe(false);
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('parseOriginPattern', () => {
  it('parses the four kinds into structured matchers', () => {
    expect(parseOriginPattern('*')).toEqual({ ok: true, pattern: { kind: 'any', source: '*' } });
    expect(parseOriginPattern('https://*.Example.com:*')).toEqual({
      ok: true,
      pattern: {
        kind: 'subdomain',
        source: 'https://*.Example.com:*',
        scheme: 'https',
        base: 'example.com',
        port: 'any',
      },
    });
    expect(parseOriginPattern('http://localhost:*/')).toMatchObject({
      ok: true,
      pattern: { kind: 'exact', port: 'any' },
    });
    expect(parseOriginPattern('http://localhost:3000')).toMatchObject({
      ok: true,
      pattern: { kind: 'exact', scheme: 'http', port: 3000, origin: { host: 'localhost', hostKind: 'dns' } },
    });
    expect(parseOriginPattern('https://app.example.com')).toMatchObject({ ok: true, pattern: { port: 443 } });
  });

  it.each([
    [
      'https://a*.example.com',
      '"*" may only be the whole entry, the first label (https://*.example.com) or the port (http://localhost:*)',
    ],
    ['https://*example.com', '"*" may only be the whole entry'],
    ['https://app.*.example.com', '"*" may only be the whole entry'],
    ['https://*.*.example.com', '"*" may only be the whole entry'],
    ['*://app.example.com', '"*" may only be the whole entry'],
    ['https://*', '"*" may only be the whole entry'],
    ['**', '"*" may only be the whole entry'],
    ['ab*.example.com', '"*" may only be the whole entry'],
    ['https://app.example.com:*:*', '"*" may only be the whole entry'],
    [
      'https://*.com',
      '"*.com" would allow a whole top-level domain; name your domain: https://*.example.com',
    ],
    ['https://*.1.2.3.4', 'a wildcard needs a DNS name after "*.", not an IP address'],
    ['https://*.[::1]', 'a wildcard needs a DNS name after "*.", not an IP address'],
    ['app.example.com', 'not an origin; expected scheme://host[:port], e.g. https://app.example.com'],
    ['https://app.example.com:99999', 'not an origin; expected scheme://host[:port]'],
    ['https://', 'not an origin; expected scheme://host[:port]'],
    ['', 'not an origin; expected scheme://host[:port]'],
    ['wss://app.example.com', 'scheme must be http:// or https://'],
    ['chrome-extension://abc', 'scheme must be http:// or https://'],
    ['null', '"null" is the origin of sandboxed and file:// pages and cannot be allowed'],
    ['https://app.example.com/app', 'an origin has no path; remove everything after the host and port'],
    ['https://app.example.com//', 'an origin has no path'],
    ['https://app.example.com?x', 'an origin has no query; remove "?…"'],
    ['https://app.example.com#x', 'an origin has no fragment; remove "#…"'],
    ['https://me@app.example.com', 'an origin has no user name or password; remove "…@"'],
    [' https://app.example.com', 'contains whitespace, control or invisible characters; remove them'],
    [`https://${'a'.repeat(250)}`, 'longer than 253 characters'],
  ])('refuses %j: %s', (entry, message) => {
    const result = parseOriginPattern(entry);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.startsWith(message)).toBe(true);
  });
});
