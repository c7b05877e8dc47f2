import { isIPv4, isIPv6 } from 'node:net';

/** An IP address in one canonical text form, so two spellings of one address are one key. */
export interface IpAddress {
  readonly kind: 'ipv4' | 'ipv6';
  /** Dotted quad for IPv4; lower-case, zero-compressed (RFC 5952) without brackets for IPv6. */
  readonly address: string;
}

// Only these characters can appear in an IPv6 literal; checking them first means the URL parser below
// can only ever see a bracketed host, never a path or a port smuggled in with the address.
const IPV6_CHARACTERS = /^[0-9a-fA-F:.]+$/;
const MAPPED_IPV4 = /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/;

/**
 * The canonical form of an IPv6 literal (no brackets), or undefined when `text` is not one.
 * Zone ids (`fe80::1%eth0`) are refused: they name an interface of the sender, not an address.
 */
export function canonicalIPv6(text: string): string | undefined {
  if (!IPV6_CHARACTERS.test(text) || !isIPv6(text)) return undefined;
  // WHATWG URL serialises IPv6 hosts canonically: lower-case, the longest zero run compressed.
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * Parses an IPv4 or IPv6 address into its canonical form. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a
 * dual-stack socket reports for an IPv4 peer) becomes the IPv4 address, so it cannot dodge an IPv4 rule.
 */
export function parseIp(text: string): IpAddress | undefined {
  // node:net's isIPv4 refuses leading zeros ("01.2.3.4"), which some parsers read as octal.
  if (isIPv4(text)) return { kind: 'ipv4', address: text };
  const v6 = canonicalIPv6(text);
  if (v6 === undefined) return undefined;
  if (!MAPPED_IPV4.test(v6)) return { kind: 'ipv6', address: v6 };
  // "::ffff:102:304" -> 0x01020304 -> 1.2.3.4
  const hex = v6
    .slice('::ffff:'.length)
    .split(':')
    .map((group) => group.padStart(4, '0'))
    .join('');
  const n = Number.parseInt(hex, 16);
  return { kind: 'ipv4', address: `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}` };
}

/** Whether `text` is a loopback address: `127.0.0.0/8` (also IPv4-mapped) or `::1`. */
export function isLoopback(text: string): boolean {
  const ip = parseIp(text);
  if (ip === undefined) return false;
  return ip.kind === 'ipv4' ? ip.address.startsWith('127.') : ip.address === '::1';
}
