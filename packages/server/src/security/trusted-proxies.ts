import { BlockList } from 'node:net';
import { parseIp } from './ip-address.js';

/**
 * Keywords accepted in `--trust-proxy`, and the ranges they stand for (the names proxy-addr uses).
 * `private` is an alias of `uniquelocal`.
 */
export const TRUST_PROXY_KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const KEYWORDS: ReadonlyMap<string, readonly string[]> = new Map(Object.entries(TRUST_PROXY_KEYWORDS));
const PREFIX = /^[0-9]{1,3}$/;

/**
 * Checks `--trust-proxy` entries (addresses, CIDRs, keywords) and returns every problem, each naming the
 * entry and the fix; empty = fine. `label` names the list in messages (default `trust_proxy`).
 */
export function validateTrustProxyEntries(entries: readonly string[], label = 'trust_proxy'): string[] {
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    if (parseEntry(entry).length === 0) {
      problems.push(
        `${label}[${index}] ${JSON.stringify(entry)}: not an IP address, CIDR (10.0.0.0/8, fd00::/8) or keyword (${Object.keys(TRUST_PROXY_KEYWORDS).join(', ')})`,
      );
    }
  });
  return problems;
}

/**
 * The set of proxies whose forwarding headers are believed (docs/protocol.md §5: X-Forwarded-For only with
 * trust_proxy). Built once at startup; `has` is a pure lookup. The constructor throws a TypeError naming
 * every bad entry.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #size: number;

  constructor(entries: readonly string[]) {
    const problems = validateTrustProxyEntries(entries);
    if (problems.length > 0) throw new TypeError(`TrustedProxies: ${problems.join('; ')}`);
    for (const range of entries.flatMap(parseEntry))
      this.#list.addSubnet(range.address, range.prefix, range.kind);
    this.#size = entries.length;
  }

  /** True when no proxy is trusted: forwarding headers are then ignored entirely. */
  get isEmpty(): boolean {
    return this.#size === 0;
  }

  /** Whether an address (any spelling; IPv4-mapped IPv6 counts as IPv4) is a trusted proxy. */
  has(address: string): boolean {
    const ip = parseIp(address);
    return ip !== undefined && this.#list.check(ip.address, ip.kind);
  }
}

interface Range {
  readonly kind: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefix: number;
}

/** The ranges an entry stands for; empty when the entry is invalid. */
function parseEntry(entry: string): Range[] {
  // A Map, so "constructor" or "__proto__" are not read off Object.prototype as keywords.
  const keyword = KEYWORDS.get(entry.toLowerCase());
  return keyword === undefined ? parseCidr(entry) : keyword.flatMap(parseCidr);
}

/** `address` or `address/prefix` as one range, or none when invalid. */
function parseCidr(text: string): Range[] {
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (ip === undefined) return [];
  const max = ip.kind === 'ipv4' ? 32 : 128;
  if (slash === -1) return [{ ...ip, prefix: max }];
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText) || Number(prefixText) > max) return [];
  return [{ ...ip, prefix: Number(prefixText) }];
}
