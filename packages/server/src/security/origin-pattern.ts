import {
  type NormalizedOrigin,
  normalizeOrigin,
  type OriginParseFailure,
  type OriginScheme,
} from './normalize-origin.js';

/**
 * One origin allowlist entry, parsed once into a structured matcher (docs/protocol.md §5). Matching compares
 * strings and never builds a regular expression, so a dot in an entry can never mean "any character".
 * - `any`: the entry `*` (development only, see validateOriginEntries);
 * - `exact`: `https://app.example.com`, `http://localhost:3000`, `http://localhost:*`;
 * - `subdomain`: `https://*.example.com`, any depth below the base, never the base itself.
 */
export type OriginPattern =
  | { readonly kind: 'any'; readonly source: string }
  | {
      readonly kind: 'exact';
      readonly source: string;
      readonly scheme: OriginScheme;
      /** The parsed host, with its kind, so startup rules can inspect it. */
      readonly origin: NormalizedOrigin;
      /** A port number, or `any` for `:*`. Without a port the entry means the scheme's default port. */
      readonly port: number | 'any';
    }
  | {
      readonly kind: 'subdomain';
      readonly source: string;
      readonly scheme: OriginScheme;
      /** The base after `*.`, e.g. `example.com`. */
      readonly base: string;
      readonly port: number | 'any';
    };

/** The outcome of {@link parseOriginPattern}; `error` says what is wrong and how to write it instead. */
export type ParseOriginPatternResult =
  | { readonly ok: true; readonly pattern: OriginPattern }
  | { readonly ok: false; readonly error: string };

const EXAMPLES = 'https://app.example.com, http://localhost:3000, http://localhost:*, https://*.example.com';

const PARSE_ERRORS: Readonly<Record<OriginParseFailure, string>> = {
  null_origin: '"null" is the origin of sandboxed and file:// pages and cannot be allowed',
  too_long: 'longer than 253 characters',
  bad_character: 'contains whitespace, control or invisible characters; remove them',
  bad_scheme: 'scheme must be http:// or https:// (browsers send the page origin, never ws://, file:// …)',
  has_userinfo: 'an origin has no user name or password; remove "…@"',
  has_path: 'an origin has no path; remove everything after the host and port',
  has_query: 'an origin has no query; remove "?…"',
  has_fragment: 'an origin has no fragment; remove "#…"',
  malformed: `not an origin; expected scheme://host[:port], e.g. ${EXAMPLES}`,
};

/**
 * Parses one allowlist entry (docs/protocol.md §5). `*` may be the whole entry, the first label of the host
 * (`https://*.example.com`) or the port (`http://localhost:*`), nowhere else.
 */
export function parseOriginPattern(entry: string): ParseOriginPatternResult {
  if (entry === '*') return { ok: true, pattern: { kind: 'any', source: entry } };
  const schemeEnd = entry.indexOf('://');
  // ":*" (and one trailing slash after it) is cut off; the rest parses as an origin on the default port.
  const anyPort = /:\*\/?$/.exec(entry);
  let body = anyPort === null ? entry : entry.slice(0, anyPort.index);
  const wildcard = schemeEnd !== -1 && body.startsWith('*.', schemeEnd + 3);
  if (wildcard) body = body.slice(0, schemeEnd + 3) + body.slice(schemeEnd + 5);
  if (body.includes('*')) {
    return error(
      `"*" may only be the whole entry, the first label (https://*.example.com) or the port (http://localhost:*)`,
    );
  }
  const parsed = normalizeOrigin(body);
  if (!parsed.ok) return error(PARSE_ERRORS[parsed.reason]);
  const { origin } = parsed;
  const port = anyPort === null ? origin.port : 'any';
  if (!wildcard)
    return { ok: true, pattern: { kind: 'exact', source: entry, scheme: origin.scheme, origin, port } };
  if (origin.hostKind !== 'dns') return error('a wildcard needs a DNS name after "*.", not an IP address');
  // A single-label base ("*.com") would allow a whole top-level domain; localhost is the one exception.
  if (!origin.host.includes('.') && origin.host !== 'localhost') {
    return error(
      `"*.${origin.host}" would allow a whole top-level domain; name your domain: https://*.example.com`,
    );
  }
  return {
    ok: true,
    pattern: { kind: 'subdomain', source: entry, scheme: origin.scheme, base: origin.host, port },
  };
}

/**
 * Whether a normalised origin matches one entry (docs/protocol.md §5): same scheme, same port (or `:*`), and
 * the same host, or for `*.base` a host ending in "." + base, which excludes the base itself,
 * `evil-base` and `base.evil.net`.
 */
export function matchesOriginPattern(pattern: OriginPattern, origin: NormalizedOrigin): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.scheme !== origin.scheme) return false;
  if (pattern.port !== 'any' && pattern.port !== origin.port) return false;
  if (pattern.kind === 'exact') return origin.host === pattern.origin.host;
  // A normalised host has no empty label, so whatever precedes ".base" is at least one whole label.
  return origin.host.endsWith(`.${pattern.base}`);
}

function error(message: string): ParseOriginPatternResult {
  return { ok: false, error: message };
}
