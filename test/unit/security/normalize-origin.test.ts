import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_ORIGIN_LENGTH,
  normalizeOrigin,
  type OriginParseFailure,
} from '../../../packages/server/src/security/normalize-origin.js';

describe('normalizeOrigin', () => {
  describe('accepted origins and their normal form', () => {
    it.each([
      ['https://app.example.com', 'https://app.example.com', 'app.example.com', 'dns', 443],
      ['HTTPS://APP.Example.COM', 'https://app.example.com', 'app.example.com', 'dns', 443],
      ['https://app.example.com/', 'https://app.example.com', 'app.example.com', 'dns', 443],
      ['https://app.example.com:443', 'https://app.example.com', 'app.example.com', 'dns', 443],
      ['http://app.example.com:80/', 'http://app.example.com', 'app.example.com', 'dns', 80],
      ['http://app.example.com:443', 'http://app.example.com:443', 'app.example.com', 'dns', 443],
      ['https://app.example.com:80', 'https://app.example.com:80', 'app.example.com', 'dns', 80],
      ['http://localhost:3000', 'http://localhost:3000', 'localhost', 'dns', 3000],
      ['http://localhost:65535', 'http://localhost:65535', 'localhost', 'dns', 65_535],
      ['http://localhost:1', 'http://localhost:1', 'localhost', 'dns', 1],
      ['http://localhost:03000', 'http://localhost:3000', 'localhost', 'dns', 3000],
      ['http://127.0.0.1:8080', 'http://127.0.0.1:8080', '127.0.0.1', 'ipv4', 8080],
      ['http://[::1]:3000', 'http://[::1]:3000', '[::1]', 'ipv6', 3000],
      ['http://[0:0:0:0:0:0:0:1]', 'http://[::1]', '[::1]', 'ipv6', 80],
      ['http://[::1]:80', 'http://[::1]', '[::1]', 'ipv6', 80],
      ['http://0.0.0.0:8080', 'http://0.0.0.0:8080', '0.0.0.0', 'ipv4', 8080],
      ['http://a.0x1g', 'http://a.0x1g', 'a.0x1g', 'dns', 80],
      ['https://[2001:DB8::1]', 'https://[2001:db8::1]', '[2001:db8::1]', 'ipv6', 443],
      ['http://[::ffff:1.2.3.4]', 'http://[::ffff:102:304]', '[::ffff:102:304]', 'ipv6', 80],
      ['https://bücher.example', 'https://xn--bcher-kva.example', 'xn--bcher-kva.example', 'dns', 443],
      ['https://BÜCHER.example', 'https://xn--bcher-kva.example', 'xn--bcher-kva.example', 'dns', 443],
      ['https://xn--bcher-kva.example', 'https://xn--bcher-kva.example', 'xn--bcher-kva.example', 'dns', 443],
      ['https://еxample.com', 'https://xn--xample-2of.com', 'xn--xample-2of.com', 'dns', 443],
      ['https://ｅxample.com', 'https://example.com', 'example.com', 'dns', 443],
      ['https://my_app.internal', 'https://my_app.internal', 'my_app.internal', 'dns', 443],
      ['https://a-b.example', 'https://a-b.example', 'a-b.example', 'dns', 443],
      ['https://1password.com', 'https://1password.com', '1password.com', 'dns', 443],
    ])('%j -> %s', (input, serialized, host, hostKind, port) => {
      const scheme = serialized.slice(0, serialized.indexOf(':'));
      expect(normalizeOrigin(input)).toEqual({
        ok: true,
        origin: { scheme, host, hostKind, port, serialized },
      });
    });
  });

  describe('rejected values and the reason named', () => {
    it.each<[string, OriginParseFailure]>([
      ['null', 'null_origin'],
      ['NULL', 'null_origin'],
      ['', 'malformed'],
      ['example.com', 'malformed'],
      ['//example.com', 'malformed'],
      ['https:example.com', 'malformed'],
      ['https:/example.com', 'malformed'],
      ['https:\\\\example.com', 'malformed'],
      ['https://', 'malformed'],
      ['https://:443', 'malformed'],
      ['https://example.com:', 'malformed'],
      ['https://example.com:0', 'malformed'],
      ['https://example.com:65536', 'malformed'],
      ['https://example.com:123456', 'malformed'],
      ['https://example.com:-1', 'malformed'],
      ['https://example.com:8o', 'malformed'],
      ['https://example.com:443:443', 'malformed'],
      ['https://example.com:0x1bb', 'malformed'],
      ['https://example.com:1e3', 'malformed'],
      ['https://example.com:+443', 'malformed'],
      ['http://[::1]:80:80', 'malformed'],
      ['http://[[::1]]', 'malformed'],
      // issue 13, finding 9: what a URL parser would repair into an allowed origin
      ['https://app.example.com\\.evil.net', 'malformed'],
      ['https://app.example.com\\', 'malformed'],
      ['http://[::1x:3000', 'malformed'],
      ['http://[::1x', 'malformed'],
      ['https://app.example.com^.evil.net', 'malformed'],
      ['https://app|example.com', 'malformed'],
      ['https://app<example>.com', 'malformed'],
      ['http://[::1]]', 'malformed'],
      ['http://[::1]:80]', 'malformed'],
      ['http://127.0.0.1.', 'malformed'],
      ['http://1.2.3.04', 'malformed'],
      ['http://a.1', 'malformed'],
      ['https://example.com.', 'malformed'],
      ['https://.example.com', 'malformed'],
      ['https://a..example.com', 'malformed'],
      ['https://exa%6dple.com', 'malformed'],
      ['https://*.example.com', 'malformed'],
      ['https://exa!mple.com', 'malformed'],
      ['https://xn--a.com', 'malformed'],
      [`https://${'a'.repeat(64)}.com`, 'malformed'],
      ['http://::1', 'malformed'],
      ['http://[::1', 'malformed'],
      ['http://[::1]x', 'malformed'],
      ['http://[::1]:', 'malformed'],
      ['http://[fe80::1%25eth0]', 'malformed'],
      ['http://[::g]', 'malformed'],
      ['http://[1.2.3.4]', 'malformed'],
      ['http://0x7f.0.0.1', 'malformed'],
      ['http://2130706433', 'malformed'],
      ['http://127.1', 'malformed'],
      ['http://01.2.3.4', 'malformed'],
      ['http://256.1.1.1', 'malformed'],
      ['http://1.2.3.4.5', 'malformed'],
      ['http://example.123', 'malformed'],
      ['http://example.0x1', 'malformed'],
      ['file://', 'bad_scheme'],
      ['file:///etc/passwd', 'bad_scheme'],
      ['chrome-extension://abcdefghijklmnop', 'bad_scheme'],
      ['moz-extension://1234', 'bad_scheme'],
      ['ws://example.com', 'bad_scheme'],
      ['wss://example.com', 'bad_scheme'],
      ['ftp://example.com', 'bad_scheme'],
      ['data:text/html,hi', 'bad_scheme'],
      ['javascript:alert(1)', 'bad_scheme'],
      ['https://user@example.com', 'has_userinfo'],
      ['https://user:pass@example.com', 'has_userinfo'],
      ['https://example.com@evil.net', 'has_userinfo'],
      ['https://@example.com', 'has_userinfo'],
      ['https://example.com/path', 'has_path'],
      ['https://example.com//', 'has_path'],
      ['https://example.com/a?b', 'has_path'],
      ['https://example.com/@evil.net', 'has_path'],
      ['https://example.com?x=1', 'has_query'],
      ['https://example.com/?x=1', 'has_query'],
      ['https://example.com?', 'has_query'],
      ['https://example.com?a#b', 'has_query'],
      ['https://example.com#frag', 'has_fragment'],
      ['https://example.com/#frag', 'has_fragment'],
      ['https://example.com#?a', 'has_fragment'],
      [' https://example.com', 'bad_character'],
      ['https://example.com ', 'bad_character'],
      ['https://exa mple.com', 'bad_character'],
      ['https://example.com\t', 'bad_character'],
      ['https://example.com\r\nX-Evil: 1', 'bad_character'],
      ['https://exa\u0000mple.com', 'bad_character'],
      ['https://exa\u007fmple.com', 'bad_character'],
      ['https://exa\u0085mple.com', 'bad_character'],
      ['https://exa\u00a0mple.com', 'bad_character'],
      ['https://exa\u00admple.com', 'bad_character'],
      ['https://exa\u200bmple.com', 'bad_character'],
      ['https://exa\u200dmple.com', 'bad_character'],
      ['https://\u202emoc.elpmaxe', 'bad_character'],
      ['https://exa\u2028mple.com', 'bad_character'],
      ['https://exa\ufeffmple.com', 'bad_character'],
      ['https://exa\ud800mple.com', 'bad_character'],
      ['https://exa\ue000mple.com', 'bad_character'],
      [`https://${'a'.repeat(MAX_ORIGIN_LENGTH)}`, 'too_long'],
      // 220 characters as written, 255 once punycoded.
      [
        `https://${Array(5)
          .fill(`ü${'a'.repeat(40)}`)
          .join('.')}.ab`,
        'too_long',
      ],
    ])('%j -> %s', (input, reason) => {
      expect(normalizeOrigin(input)).toEqual({ ok: false, reason });
    });
  });

  it('accepts exactly 253 characters and refuses 254', () => {
    const host = (length: number): string =>
      `${'a'.repeat(60)}.`.repeat(4).slice(0, length - 'https://'.length - 4);
    const at253 = `https://${host(253)}.com`;
    expect(at253).toHaveLength(253);
    expect(normalizeOrigin(at253).ok).toBe(true);
    expect(normalizeOrigin(`${at253}/`)).toEqual({ ok: false, reason: 'too_long' });
  });

  it('checks the length before anything else, so a huge value costs nothing to refuse', () => {
    expect(normalizeOrigin(`null${' '.repeat(300)}`)).toEqual({ ok: false, reason: 'too_long' });
  });

  describe('properties', () => {
    const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/);
    const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
    const origin = fc
      .record({
        scheme: fc.constantFrom('http', 'https', 'HTTP', 'Https'),
        host: fc.oneof(
          host,
          host.map((h) => h.toUpperCase()),
          fc.constantFrom('bücher.example', '[::1]', '127.0.0.1'),
        ),
        port: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
        slash: fc.boolean(),
      })
      .map(
        ({ scheme, host: h, port, slash }) =>
          `${scheme}://${h}${port === undefined ? '' : `:${port}`}${slash ? '/' : ''}`,
      );

    it('is idempotent: normalising the serialisation gives the same origin', () => {
      fc.assert(
        fc.property(fc.oneof(origin, fc.string({ maxLength: 40 })), (value) => {
          const first = normalizeOrigin(value);
          if (!first.ok) return;
          expect(normalizeOrigin(first.origin.serialized)).toEqual(first);
        }),
        { numRuns: 2000 },
      );
    });

    it('produces a serialisation with no upper case, no default port and no trailing slash', () => {
      fc.assert(
        fc.property(origin, (value) => {
          const result = normalizeOrigin(value);
          if (!result.ok) return;
          const { serialized, scheme, port } = result.origin;
          expect(serialized).toBe(serialized.toLowerCase());
          expect(serialized.endsWith('/')).toBe(false);
          expect(serialized.endsWith(`:${scheme === 'https' ? 443 : 80}`)).toBe(false);
          expect(port).toBeGreaterThanOrEqual(1);
        }),
        { numRuns: 500 },
      );
    });

    it('never throws on random strings (fuzz)', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 300, unit: 'binary' }),
            fc.string({ maxLength: 80, unit: 'grapheme' }),
            fc.string().map((s) => `https://${s}`),
            fc.string({ unit: 'binary' }).map((s) => `http://[${s}]`),
          ),
          (value) => {
            const result = normalizeOrigin(value);
            expect(typeof result.ok).toBe('boolean');
          },
        ),
        { numRuns: 20_000 },
      );
    });
  });
});
