import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClientIpInput, clientIp } from '../../../packages/server/src/security/client-ip.js';
import { TrustedProxies } from '../../../packages/server/src/security/trusted-proxies.js';

const proxies = new TrustedProxies(['10.0.0.0/8', '2001:db8:ffff::/48', 'loopback']);

describe('clientIp', () => {
  describe('with no trusted proxy', () => {
    it.each<[string, Omit<ClientIpInput, 'trustProxy'>, string | undefined]>([
      ['the socket address', { remoteAddress: '203.0.113.9' }, '203.0.113.9'],
      [
        'the socket address, ignoring a spoofed X-Forwarded-For',
        { remoteAddress: '203.0.113.9', forwardedFor: '1.1.1.1' },
        '203.0.113.9',
      ],
      [
        'the socket address, ignoring a spoofed Forwarded',
        { remoteAddress: '203.0.113.9', forwarded: 'for=1.1.1.1', proxyHeader: 'forwarded' },
        '203.0.113.9',
      ],
      ['an IPv4-mapped socket address as IPv4', { remoteAddress: '::ffff:203.0.113.9' }, '203.0.113.9'],
      ['an IPv6 socket address in canonical form', { remoteAddress: '2001:DB8:0:0::1' }, '2001:db8::1'],
      ['undefined for a destroyed socket', { remoteAddress: undefined }, undefined],
      ['a non-IP address unchanged', { remoteAddress: '/tmp/agentcast.sock' }, '/tmp/agentcast.sock'],
    ])('returns %s', (_name, input, expected) => {
      expect(clientIp({ ...input, trustProxy: [] })).toBe(expected);
      expect(clientIp({ ...input, trustProxy: new TrustedProxies([]) })).toBe(expected);
    });
  });

  describe('behind trusted proxies', () => {
    it.each<[string, Omit<ClientIpInput, 'trustProxy'>, string]>([
      [
        'ignores X-Forwarded-For when the socket peer is not a proxy',
        { remoteAddress: '203.0.113.9', forwardedFor: '1.1.1.1' },
        '203.0.113.9',
      ],
      [
        'takes the hop a trusted proxy saw',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7' },
        '198.51.100.7',
      ],
      [
        'takes the right-most untrusted hop, not a spoofed left one',
        { remoteAddress: '10.0.0.2', forwardedFor: '1.1.1.1, 198.51.100.7' },
        '198.51.100.7',
      ],
      [
        'skips every trusted hop',
        { remoteAddress: '10.0.0.2', forwardedFor: '1.1.1.1, 198.51.100.7, 10.9.9.9, 127.0.0.1' },
        '198.51.100.7',
      ],
      [
        'returns the left-most hop when every hop is trusted',
        { remoteAddress: '10.0.0.2', forwardedFor: '10.1.1.1, 10.2.2.2' },
        '10.1.1.1',
      ],
      ['returns the peer when there is no header', { remoteAddress: '10.0.0.2' }, '10.0.0.2'],
      ['returns the peer for an empty header', { remoteAddress: '10.0.0.2', forwardedFor: '' }, '10.0.0.2'],
      [
        'treats an IPv4-mapped peer as IPv4 when trusting it',
        { remoteAddress: '::ffff:10.0.0.2', forwardedFor: '198.51.100.7' },
        '198.51.100.7',
      ],
      [
        'reads repeated headers in order',
        { remoteAddress: '10.0.0.2', forwardedFor: ['1.1.1.1', '198.51.100.7, 10.3.3.3'] },
        '198.51.100.7',
      ],
      [
        'handles IPv6 hops and canonicalises them',
        { remoteAddress: '2001:db8:ffff::1', forwardedFor: '2001:DB8:1::0:5' },
        '2001:db8:1::5',
      ],
      [
        'normalises an IPv4-mapped hop',
        { remoteAddress: '::1', forwardedFor: '::ffff:198.51.100.7' },
        '198.51.100.7',
      ],
      [
        'strips a port from an IPv4 hop',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7:4711' },
        '198.51.100.7',
      ],
      [
        'strips brackets and a port from an IPv6 hop',
        { remoteAddress: '10.0.0.2', forwardedFor: '[2001:db8:1::5]:4711' },
        '2001:db8:1::5',
      ],
      [
        'accepts a bracketed IPv6 hop without port',
        { remoteAddress: '10.0.0.2', forwardedFor: '[2001:db8:1::5]' },
        '2001:db8:1::5',
      ],
      [
        'stops at a malformed hop and keeps the last good one',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7, garbage, 10.4.4.4' },
        '10.4.4.4',
      ],
      [
        'stops at a malformed right-most hop',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7, not-an-ip' },
        '10.0.0.2',
      ],
      ['stops at an empty hop', { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7,,' }, '10.0.0.2'],
      [
        'stops at text after a bracketed hop',
        { remoteAddress: '10.0.0.2', forwardedFor: '[2001:db8:1::5]x' },
        '10.0.0.2',
      ],
      [
        'stops at text before a bracketed hop',
        { remoteAddress: '10.0.0.2', forwardedFor: 'x[2001:db8:1::5]' },
        '10.0.0.2',
      ],
      [
        'stops at text after a port',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7:80x' },
        '10.0.0.2',
      ],
      [
        'stops at a long port',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7:123456' },
        '10.0.0.2',
      ],
      [
        'stops at a hop with leading zeros',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.051.100.7' },
        '10.0.0.2',
      ],
      [
        'stops at an IPv6 hop with a zone id',
        { remoteAddress: '10.0.0.2', forwardedFor: 'fe80::1%eth0' },
        '10.0.0.2',
      ],
      [
        'ignores Forwarded unless it is the configured header',
        { remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.7', forwarded: 'for=1.1.1.1' },
        '198.51.100.7',
      ],
    ])('%s', (_name, input, expected) => {
      expect(clientIp({ ...input, trustProxy: proxies })).toBe(expected);
    });
  });

  describe('with RFC 7239 Forwarded', () => {
    it.each<[string, string | string[], string]>([
      ['takes for= of the right-most element', 'for=1.1.1.1, for=198.51.100.7', '198.51.100.7'],
      ['reads for= among other pairs, any case', 'by=10.0.0.2;FOR=198.51.100.7;proto=https', '198.51.100.7'],
      ['allows whitespace around for= and its value', 'proto=https; for = 198.51.100.7 ', '198.51.100.7'],
      ['allows whitespace before the next pair', 'for=198.51.100.7 ;proto=https', '198.51.100.7'],
      ['refuses text after a quoted value', 'for="198.51.100.7"x', '10.0.0.2'],
      ['does not read a key that only ends in "for"', 'xfor=198.51.100.7', '10.0.0.2'],
      ['does not read a key that only starts with "for"', 'forx=198.51.100.7', '10.0.0.2'],
      ['refuses a quote inside the value', 'for="198.51"100.7"', '10.0.0.2'],
      ['unquotes an IPv6 value with a port', 'for="[2001:db8:1::5]:4711"', '2001:db8:1::5'],
      ['unquotes an IPv4 value with a port', 'for="198.51.100.7:4711"', '198.51.100.7'],
      ['skips trusted elements', 'for=198.51.100.7, for=10.5.5.5', '198.51.100.7'],
      ['stops at an element without for=', 'for=198.51.100.7, by=10.0.0.9', '10.0.0.2'],
      ['stops at "unknown"', 'for=198.51.100.7, for=unknown', '10.0.0.2'],
      ['stops at an obfuscated identifier', 'for=198.51.100.7, for=_hidden', '10.0.0.2'],
      ['stops at a pair without "="', 'for=198.51.100.7, for', '10.0.0.2'],
      ['is not fooled by an unbalanced quote on the left', 'for="1.1.1.1, for=198.51.100.7', '198.51.100.7'],
      ['reads repeated headers in order', ['for=1.1.1.1', 'for=198.51.100.7'], '198.51.100.7'],
      ['keeps a lone quote as a malformed value', 'for="', '10.0.0.2'],
    ])('%s', (_name, forwarded, expected) => {
      expect(
        clientIp({
          remoteAddress: '10.0.0.2',
          forwarded,
          forwardedFor: '9.9.9.9',
          proxyHeader: 'forwarded',
          trustProxy: proxies,
        }),
      ).toBe(expected);
    });
  });

  it('builds the trusted set from a plain list too', () => {
    expect(
      clientIp({ remoteAddress: '127.0.0.1', forwardedFor: '198.51.100.7', trustProxy: ['loopback'] }),
    ).toBe('198.51.100.7');
    expect(() => clientIp({ remoteAddress: '127.0.0.1', trustProxy: ['nonsense'] })).toThrow(TypeError);
  });

  it('never returns an address left of the right-most untrusted hop (property)', () => {
    const untrusted = fc
      .tuple(fc.integer({ min: 11, max: 126 }), fc.integer({ min: 0, max: 255 }))
      .map(([a, b]) => `${a}.0.0.${b}`);
    const trusted = fc.integer({ min: 0, max: 255 }).map((b) => `10.0.0.${b}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(untrusted, trusted), { maxLength: 8 }), (chain) => {
        const got = clientIp({
          remoteAddress: '10.0.0.1',
          forwardedFor: chain.join(', '),
          trustProxy: proxies,
        });
        const rightmostUntrusted = [...chain].reverse().find((ip) => !ip.startsWith('10.'));
        expect(got).toBe(rightmostUntrusted ?? chain[0] ?? '10.0.0.1');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on random header values (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (xff, fwd) => {
        for (const proxyHeader of ['x-forwarded-for', 'forwarded'] as const) {
          const got = clientIp({
            remoteAddress: '10.0.0.1',
            forwardedFor: xff,
            forwarded: fwd,
            proxyHeader,
            trustProxy: proxies,
          });
          expect(typeof got).toBe('string');
        }
      }),
      { numRuns: 5_000 },
    );
  });
});
