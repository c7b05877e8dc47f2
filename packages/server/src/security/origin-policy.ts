import { defaultOriginEntries, type Environment } from './default-origins.js';
import { type NormalizedOrigin, normalizeOrigin, type OriginParseFailure } from './normalize-origin.js';
import { matchesOriginPattern, type OriginPattern } from './origin-pattern.js';
import { analyzeOriginEntries } from './validate-origin-entries.js';

/**
 * Why {@link OriginPolicy.check} refused a request: a parse failure of the header, or
 * - `missing_origin`: no Origin header while `requireOrigin` is set;
 * - `multiple_origins`: several Origin values that differ;
 * - `not_allowed`: a well-formed origin that no entry matches.
 * A small fixed set: use it as a Prometheus label; {@link ORIGIN_REJECTION_REASONS} lists it.
 */
export type OriginRejectionReason =
  | OriginParseFailure
  | 'missing_origin'
  | 'multiple_origins'
  | 'not_allowed';

/** Every {@link OriginRejectionReason}, e.g. to initialise metric label values at 0. */
export const ORIGIN_REJECTION_REASONS: readonly OriginRejectionReason[] = [
  'missing_origin',
  'multiple_origins',
  'not_allowed',
  'null_origin',
  'too_long',
  'bad_character',
  'bad_scheme',
  'has_userinfo',
  'has_path',
  'has_query',
  'has_fragment',
  'malformed',
];

/**
 * The answer of {@link OriginPolicy.check}. `origin` is the normalised origin whenever the header parsed,
 * for logs and for `Access-Control-Allow-Origin`; it is absent when no header was sent.
 */
export type OriginCheckResult =
  | { readonly ok: true; readonly origin?: string }
  | { readonly ok: false; readonly reason: OriginRejectionReason; readonly origin?: string };

/** Options of {@link OriginPolicy}. */
export interface OriginPolicyOptions {
  readonly env: Environment;
  /** The allowlist; undefined or empty means the environment's defaults (see defaultOriginEntries). */
  readonly origins?: readonly string[] | undefined;
  /** `--require-origin`: refuse requests without an Origin header (non-browser clients). Default false. */
  readonly requireOrigin?: boolean;
  /** `--allow-insecure-origins`: see validateOriginEntries. Default false. */
  readonly allowInsecureOrigins?: boolean;
}

// Node joins repeated headers with ", " (req.headers) and a comma never occurs in an origin, so a comma
// separates values; optional whitespace around it is HTTP list syntax (RFC 9110 §5.6.1).
const LIST_SEPARATOR = /[ \t]*,[ \t]*/;

/**
 * The origin allowlist of one gateway (docs/protocol.md §5). Built once from config; `check` is pure and
 * cheap, run on every upgrade and every browser HTTP request. Construction throws a TypeError listing
 * every problem (the same messages as validateOriginEntries), so an unsafe policy cannot exist.
 */
export class OriginPolicy {
  readonly #patterns: readonly OriginPattern[];
  readonly #entries: readonly string[];
  readonly #requireOrigin: boolean;

  constructor(options: OriginPolicyOptions) {
    const configured = options.origins ?? [];
    this.#entries = configured.length > 0 ? [...configured] : defaultOriginEntries(options.env);
    const analyzed = analyzeOriginEntries(this.#entries, {
      env: options.env,
      allowInsecureOrigins: options.allowInsecureOrigins ?? false,
    });
    if (analyzed.problems.length > 0) {
      throw new TypeError(`OriginPolicy: invalid origins: ${analyzed.problems.join('; ')}`);
    }
    this.#patterns = analyzed.patterns;
    this.#requireOrigin = options.requireOrigin ?? false;
  }

  /** The entries in force (the environment defaults when none were configured), for the startup log. */
  get entries(): readonly string[] {
    return this.#entries;
  }

  /** Whether a normalised origin matches any entry. */
  allows(origin: NormalizedOrigin): boolean {
    return this.#patterns.some((pattern) => matchesOriginPattern(pattern, origin));
  }

  /**
   * Decides on an Origin header as Node delivers it: `req.headersDistinct.origin` (string[] | undefined)
   * or `req.headers.origin` (values joined with ", "). Never throws.
   * §5: no header is allowed unless requireOrigin; several differing values are refused, identical
   * duplicates are one value; a value that does not parse or matches no entry is refused.
   */
  check(originHeader: string | readonly string[] | undefined): OriginCheckResult {
    const values = splitValues(originHeader);
    const first = values[0];
    if (first === undefined)
      return this.#requireOrigin ? { ok: false, reason: 'missing_origin' } : { ok: true };
    if (values.some((value) => value !== first)) return { ok: false, reason: 'multiple_origins' };
    const parsed = normalizeOrigin(first);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    const origin = parsed.origin.serialized;
    return this.allows(parsed.origin) ? { ok: true, origin } : { ok: false, reason: 'not_allowed', origin };
  }
}

function splitValues(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return [];
  const list = typeof header === 'string' ? [header] : header;
  return list.flatMap((value) => value.split(LIST_SEPARATOR));
}
