import { describe, expect, it } from 'vitest';
import { canonicalIPv6, isLoopback, parseIp } from '../../../packages/server/src/security/ip-address.js';

describe('parseIp', () => {
  it.each([
    ['1.2.3.4', { kind: 'ipv4', address: '1.2.3.4' }],
    ['255.255.255.255', { kind: 'ipv4', address: '255.255.255.255' }],
    ['::1', { kind: 'ipv6', address: '::1' }],
    ['0:0:0:0:0:0:0:1', { kind: 'ipv6', address: '::1' }],
    ['2001:DB8::0:1', { kind: 'ipv6', address: '2001:db8::1' }],
    ['::ffff:1.2.3.4', { kind: 'ipv4', address: '1.2.3.4' }],
    ['::FFFF:0102:0304', { kind: 'ipv4', address: '1.2.3.4' }],
    ['::ffff:255.254.253.252', { kind: 'ipv4', address: '255.254.253.252' }],
    ['::ffff:0:1.2.3.4', { kind: 'ipv6', address: '::ffff:0:102:304' }],
    ['64:ff9b::1.2.3.4', { kind: 'ipv6', address: '64:ff9b::102:304' }],
    ['1::ffff:102:304', { kind: 'ipv6', address: '1::ffff:102:304' }],
    ['::ffff:102:304:1', { kind: 'ipv6', address: '::ffff:102:304:1' }],
  ])('%s -> %j', (text, expected) => {
    expect(parseIp(text)).toEqual(expected);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '256.0.0.1',
    '1.2.3.4 ',
    ':::',
    'fe80::1%eth0',
    '[::1]',
    'g::1',
    'example.com',
    '::1]/x[',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('canonicalIPv6', () => {
  it('does not map IPv4-mapped addresses to IPv4 (origins keep their IPv6 form)', () => {
    expect(canonicalIPv6('::ffff:1.2.3.4')).toBe('::ffff:102:304');
    expect(canonicalIPv6('1.2.3.4')).toBeUndefined();
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['::2', false],
    ['0127.0.0.1', false],
    ['localhost', false],
    ['unknown', false],
    ['', false],
  ])('%j → %s', (ip, expected) => {
    expect(isLoopback(ip)).toBe(expected);
  });
});
