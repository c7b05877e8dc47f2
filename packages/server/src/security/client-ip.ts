import type { ProxyHeader } from '../config/options.js';
import { parseIp } from './ip-address.js';
import { TrustedProxies } from './trusted-proxies.js';

/** Which forwarding header the trusted proxies write (`--proxy-header`); the other is ignored. */
export type { ProxyHeader };

/** Input of {@link clientIp}: the socket peer and the forwarding headers as Node delivers them. */
export interface ClientIpInput {
  /** `req.socket.remoteAddress`; undefined once the socket is destroyed. */
  readonly remoteAddress: string | undefined;
  /** `X-Forwarded-For`: `req.headers['x-forwarded-for']` or `req.headersDistinct['x-forwarded-for']`. */
  readonly forwardedFor?: string | readonly string[] | undefined;
  /** RFC 7239 `Forwarded`: `req.headers.forwarded` or `req.headersDistinct.forwarded`. */
  readonly forwarded?: string | readonly string[] | undefined;
  /** The trusted proxies (`--trust-proxy`). Pass a TrustedProxies built once at startup. */
  readonly trustProxy: TrustedProxies | readonly string[];
  /** The header the proxies write. Default `x-forwarded-for`. */
  readonly proxyHeader?: ProxyHeader;
}

// X-Forwarded-For hops may carry a port ("203.0.113.9:4711", "[2001:db8::1]:4711"), as some proxies add.
const BRACKETED = /^\[([^\]]*)\](?::[0-9]{1,5})?$/;
const IPV4_WITH_PORT = /^([0-9.]+):[0-9]{1,5}$/;
// RFC 7239 §4: `for=node`, the node optionally quoted (it must be, when it holds ":" or "[").
const FOR_PAIR = /^\s*for\s*=\s*"?([^"\s]*)"?\s*$/i;

/**
 * The client's IP address for abuse limits (docs/protocol.md §5): the socket address, unless the socket peer
 * is a trusted proxy. Then the forwarding header is walked from the right (each proxy appends the address
 * it received the request from), trusted hops are skipped, and the right-most untrusted hop is the
 * client; everything left of it was written by the client and can be forged. A malformed hop stops the
 * walk and the last well-formed hop is the answer. When every hop is trusted the left-most one is.
 *
 * Only one header is read: a proxy that writes X-Forwarded-For passes a client's `Forwarded` header
 * through untouched, so reading both would let the client choose its address.
 * Addresses are canonical (`::ffff:1.2.3.4` becomes `1.2.3.4`), so one client is one key.
 */
export function clientIp(input: ClientIpInput): string | undefined {
  const peer = input.remoteAddress === undefined ? undefined : parseIp(input.remoteAddress);
  if (peer === undefined) return input.remoteAddress;
  const trusted =
    input.trustProxy instanceof TrustedProxies ? input.trustProxy : new TrustedProxies(input.trustProxy);
  if (trusted.isEmpty || !trusted.has(peer.address)) return peer.address;
  const hops =
    input.proxyHeader === 'forwarded' ? forwardedHops(input.forwarded) : listItems(input.forwardedFor);
  let last = peer.address;
  for (const item of hops.reverse()) {
    const hop = parseHop(item);
    if (hop === undefined) return last;
    if (!trusted.has(hop)) return hop;
    last = hop;
  }
  return last;
}

/**
 * Items of a comma-separated header, repeated headers concatenated in order (RFC 9110 §5.3). A missing
 * or empty header gives one empty item, which as a hop is malformed: the walk stops at the peer.
 */
function listItems(header: string | readonly string[] | undefined): string[] {
  const joined = typeof header === 'string' ? header : (header ?? []).join(',');
  return joined.split(',').map((item) => item.trim());
}

/**
 * The `for=` value of each element of RFC 7239 `Forwarded`, unquoted; '' for an element without one.
 * Split on commas without honouring quotes: a client's unbalanced quote on the left must not swallow
 * the elements the proxies append on the right.
 */
function forwardedHops(header: string | readonly string[] | undefined): string[] {
  return listItems(header).map((element) => {
    const values = element.split(';').map((pair) => FOR_PAIR.exec(pair)?.[1]);
    return values.find((value) => value !== undefined) ?? '';
  });
}

/** A hop's canonical address, or undefined for `unknown`, obfuscated ids (`_abc`), garbage or nothing. */
function parseHop(hop: string): string | undefined {
  const address = BRACKETED.exec(hop)?.[1] ?? IPV4_WITH_PORT.exec(hop)?.[1] ?? hop;
  return parseIp(address)?.address;
}
