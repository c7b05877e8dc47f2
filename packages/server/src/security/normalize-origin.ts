import { isIPv4 } from 'node:net';
import { domainToASCII } from 'node:url';
import { canonicalIPv6 } from './ip-address.js';

/** The schemes a browser page can have an origin for; anything else is `bad_scheme` (docs/protocol.md §5). */
export type OriginScheme = 'http' | 'https';

/** What kind of host an origin names; startup rules treat IP literals differently (docs/protocol.md §5). */
export type HostKind = 'dns' | 'ipv4' | 'ipv6';

/** An origin in the one form it is compared in (docs/protocol.md §5). */
export interface NormalizedOrigin {
  readonly scheme: OriginScheme;
  /** Lower-case; punycode (`xn--…`) for international names; IPv6 canonical and in brackets (`[::1]`). */
  readonly host: string;
  readonly hostKind: HostKind;
  /** The effective port: the explicit one, or the scheme's default (80 for http, 443 for https). */
  readonly port: number;
  /** `scheme://host[:port]` with the default port left out: the serialisation browsers send. */
  readonly serialized: string;
}

/**
 * Why a string is not an acceptable origin. A small fixed set, safe to use as a Prometheus label.
 * - `null_origin`: the literal `null` (sandboxed iframes, `file://` pages, some redirects);
 * - `too_long`: over {@link MAX_ORIGIN_LENGTH} characters;
 * - `bad_character`: whitespace, control or invisible formatting characters anywhere;
 * - `bad_scheme`: a scheme other than http/https (`file:`, `chrome-extension:`, `ws:` …);
 * - `has_userinfo`, `has_path`, `has_query`, `has_fragment`: an origin is only scheme, host and port;
 * - `malformed`: anything else that is not `scheme://host[:port]`.
 */
export type OriginParseFailure =
  | 'null_origin'
  | 'too_long'
  | 'bad_character'
  | 'bad_scheme'
  | 'has_userinfo'
  | 'has_path'
  | 'has_query'
  | 'has_fragment'
  | 'malformed';

/** The outcome of {@link normalizeOrigin}: never throws, whatever the input. */
export type NormalizeOriginResult =
  | { readonly ok: true; readonly origin: NormalizedOrigin }
  | { readonly ok: false; readonly reason: OriginParseFailure };

/** §5: an origin longer than this is rejected (the longest DNS name is 253 characters). */
export const MAX_ORIGIN_LENGTH = 253;

/** The port each origin scheme implies when none is written. */
export const DEFAULT_PORTS: Readonly<Record<OriginScheme, number>> = { http: 80, https: 443 };

// Control characters (Cc), invisible formatting such as zero-width joiners and bidi overrides (Cf),
// lone surrogates (Cs), private-use code points (Co) and every kind of space (Z, \s).
const BAD_CHARACTER = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Z}\s]/u;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;
const PORT = /^[0-9]{1,5}$/;
const DNS_LABEL = /^[a-z0-9_-]{1,63}$/;
/** WHATWG URL's forbidden host code points, and '%' (whitespace and controls are refused earlier). */
const FORBIDDEN_HOST_CHARACTER = /[#%/:<>?@[\\\]^|]/;
const fail = (reason: OriginParseFailure): NormalizeOriginResult => ({ ok: false, reason });

/**
 * Parses an `Origin` header value (or a configured origin) into its normal form (docs/protocol.md §5):
 * scheme and host lower-cased, default port dropped, one trailing slash ignored, international names in
 * punycode. Strict on purpose: it accepts only `scheme://host[:port]`, not what a URL parser would repair
 * (backslashes, percent-escapes, numeric IPv4 forms, empty ports), so no two policies can disagree on it.
 */
export function normalizeOrigin(value: string): NormalizeOriginResult {
  if (value.length > MAX_ORIGIN_LENGTH) return fail('too_long');
  if (BAD_CHARACTER.test(value)) return fail('bad_character');
  if (value.toLowerCase() === 'null') return fail('null_origin');
  const scheme = SCHEME.exec(value);
  if (scheme === null) return fail('malformed');
  const name = scheme[0].slice(0, -1).toLowerCase();
  if (name !== 'http' && name !== 'https') return fail('bad_scheme');
  const rest = value.slice(scheme[0].length);
  if (!rest.startsWith('//')) return fail('malformed');
  const afterSlashes = rest.slice(2);
  const end = afterSlashes.search(/[/?#]/);
  const authority = end === -1 ? afterSlashes : afterSlashes.slice(0, end);
  if (authority.includes('@')) return fail('has_userinfo');
  const tail = tailFailure(end === -1 ? '' : afterSlashes.slice(end));
  if (tail !== undefined) return fail(tail);
  return parseAuthority(name, authority);
}

/** §5: one trailing slash is ignored; any other path, a query or a fragment is refused. */
function tailFailure(tail: string): OriginParseFailure | undefined {
  const pathEnd = tail.search(/[?#]/);
  const path = pathEnd === -1 ? tail : tail.slice(0, pathEnd);
  if (path !== '' && path !== '/') return 'has_path';
  if (pathEnd === -1) return undefined;
  return tail[pathEnd] === '?' ? 'has_query' : 'has_fragment';
}

function parseAuthority(scheme: OriginScheme, authority: string): NormalizeOriginResult {
  // The port follows the last colon, unless that colon is inside the brackets of an IPv6 literal.
  const colon = authority.lastIndexOf(':');
  const hasPort = colon > authority.lastIndexOf(']');
  const port = parsePort(hasPort ? authority.slice(colon + 1) : undefined, scheme);
  const host = normalizeHost(hasPort ? authority.slice(0, colon) : authority);
  if (port === undefined || host === undefined) return fail('malformed');
  const serialized = `${scheme}://${host.host}${port === DEFAULT_PORTS[scheme] ? '' : `:${port}`}`;
  // Punycode can make a short international name longer than the limit.
  if (serialized.length > MAX_ORIGIN_LENGTH) return fail('too_long');
  return { ok: true, origin: { scheme, host: host.host, hostKind: host.kind, port, serialized } };
}

function parsePort(text: string | undefined, scheme: OriginScheme): number | undefined {
  if (text === undefined) return DEFAULT_PORTS[scheme];
  if (!PORT.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65_535 ? port : undefined;
}

function normalizeHost(text: string): { host: string; kind: HostKind } | undefined {
  if (text.startsWith('[')) {
    // The closing bracket must be there: "[::1x" is not "[::1]". canonicalIPv6 refuses brackets inside,
    // so "[::1]x" or "[[::1]]" cannot pass as "[::1]" either.
    if (!text.endsWith(']')) return undefined;
    const v6 = canonicalIPv6(text.slice(1, -1));
    return v6 === undefined ? undefined : { host: `[${v6}]`, kind: 'ipv6' };
  }
  // WHATWG forbidden host code points are refused before IDNA mapping, which would act on them: '%' is
  // percent-decoded ("ex%61mple.com" -> example.com), and '\\' ends the host like '/', so
  // "app.example.com\\.evil.net" would come back as app.example.com.
  if (FORBIDDEN_HOST_CHARACTER.test(text)) return undefined;
  // domainToASCII (UTS #46, what browsers apply) lower-cases, maps full-width forms and returns punycode,
  // or '' when the name is invalid. Look-alikes such as a Cyrillic "е" stay distinct (xn--…).
  const host = domainToASCII(text);
  // Like a URL parser, domainToASCII reads a name ending in a number as IPv4 and rewrites "0x7f.1",
  // "2130706433", "127.1" and "127.0.0.1." to 127.0.0.1 (or fails with ''). Only the canonical spelling
  // is taken, so one address has one spelling.
  if (isIPv4(host)) return host === text ? { host, kind: 'ipv4' } : undefined;
  return host.split('.').every((label) => DNS_LABEL.test(label)) ? { host, kind: 'dns' } : undefined;
}
