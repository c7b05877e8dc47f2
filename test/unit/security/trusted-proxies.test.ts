import { describe, expect, it } from 'vitest';
import {
  TrustedProxies,
  validateTrustProxyEntries,
} from '../../../packages/server/src/security/trusted-proxies.js';

describe('TrustedProxies', () => {
  it.each<[string[], string, boolean]>([
    [['203.0.113.5'], '203.0.113.5', true],
    [['203.0.113.5'], '203.0.113.6', false],
    [['203.0.113.5'], '::ffff:203.0.113.5', true],
    [['::ffff:203.0.113.5'], '203.0.113.5', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['192.168.1.0/24'], '192.168.1.77', true],
    [['192.168.1.0/24'], '192.168.2.1', false],
    [['0.0.0.0/0'], '8.8.8.8', true],
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['2001:DB8::1'], '2001:db8:0:0::1', true],
    [['2001:db8::1/128'], '2001:db8::2', false],
    [['loopback'], '127.0.0.1', true],
    [['loopback'], '127.255.0.9', true],
    [['loopback'], '::1', true],
    [['loopback'], '::ffff:127.0.0.1', true],
    [['LOOPBACK'], '127.0.0.1', true],
    [['loopback'], '10.0.0.1', false],
    [['private'], '10.1.2.3', true],
    [['private'], '172.16.0.1', true],
    [['private'], '172.31.255.255', true],
    [['private'], '172.32.0.1', false],
    [['private'], '192.168.0.1', true],
    [['private'], 'fd12::1', true],
    [['private'], 'fe80::1', false],
    [['uniquelocal'], 'fc00::1', true],
    [['uniquelocal'], '10.20.30.40', true],
    [['uniquelocal'], '172.20.0.1', true],
    [['uniquelocal'], '192.168.77.1', true],
    [['uniquelocal'], '8.8.8.8', false],
    [['linklocal'], '169.254.1.1', true],
    [['linklocal'], 'fe80::abcd', true],
    [['loopback', '203.0.113.0/24'], '203.0.113.200', true],
    [['loopback'], 'not-an-ip', false],
    [[], '127.0.0.1', false],
  ])('%j has %s: %s', (entries, address, expected) => {
    expect(new TrustedProxies(entries).has(address)).toBe(expected);
  });

  it('is empty only without entries', () => {
    expect(new TrustedProxies([]).isEmpty).toBe(true);
    expect(new TrustedProxies(['loopback']).isEmpty).toBe(false);
  });

  it('throws a TypeError naming every bad entry', () => {
    expect(() => new TrustedProxies(['10.0.0.0/33', 'loopback', 'proxy.local'])).toThrow(
      new TypeError(
        'TrustedProxies: trust_proxy[0] "10.0.0.0/33": not an IP address, CIDR (10.0.0.0/8, fd00::/8) or keyword (loopback, linklocal, uniquelocal, private); trust_proxy[2] "proxy.local": not an IP address, CIDR (10.0.0.0/8, fd00::/8) or keyword (loopback, linklocal, uniquelocal, private)',
      ),
    );
  });
});

describe('validateTrustProxyEntries', () => {
  it.each([
    ['10.0.0.0/8', true],
    ['10.0.0.0/32', true],
    ['10.0.0.0/0', true],
    ['::/0', true],
    ['fd00::/128', true],
    ['fd00::/129', false],
    ['10.0.0.0/33', false],
    ['10.0.0.0/', false],
    ['10.0.0.0/-1', false],
    ['10.0.0.0/8/8', false],
    ['10.0.0.0/1e1', false],
    ['10.0.0.256', false],
    ['constructor', false],
    ['__proto__', false],
    ['', false],
    ['*', false],
  ])('%j valid: %s', (entry, valid) => {
    expect(validateTrustProxyEntries([entry])).toHaveLength(valid ? 0 : 1);
  });

  it('names the list with the label given', () => {
    expect(validateTrustProxyEntries(['ok', '1.2.3.4', 'x'], '--trust-proxy')).toEqual([
      expect.stringMatching(/^--trust-proxy\[0\] "ok": not an IP address/),
      expect.stringMatching(/^--trust-proxy\[2\] "x": not an IP address/),
    ]);
  });
});
