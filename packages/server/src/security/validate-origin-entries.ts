import type { Environment } from './default-origins.js';
import { type OriginPattern, parseOriginPattern } from './origin-pattern.js';
import { tunnelDomainOf } from './tunnel-hosts.js';

/** What {@link validateOriginEntries} needs to know besides the entries. */
export interface OriginEntryRules {
  readonly env: Environment;
  /** `--allow-insecure-origins`: admits http://, IP-literal, localhost and tunnel entries in production. */
  readonly allowInsecureOrigins: boolean;
  /** How messages name the list, e.g. `origins` or `AGENTCAST_ORIGINS`. Default `origins`. */
  readonly label?: string;
}

/** Parsed entries and every problem found; the policy is built only when `problems` is empty. */
export interface AnalyzedOriginEntries {
  readonly patterns: readonly OriginPattern[];
  readonly problems: readonly string[];
}

const INSECURE_FIX = 'or set --allow-insecure-origins';
const SHOWN_ENTRY_LENGTH = 80;

/**
 * Checks an origin allowlist at startup and returns every problem, one message per rule broken, each
 * naming the entry and the fix (empty = fine). Rules (docs/protocol.md §5):
 * - a malformed entry is refused in every environment;
 * - `*` is refused outside development, whatever the options;
 * - in production, http:// entries, IP-literal hosts, localhost and tunnel hosts are refused unless
 *   `allowInsecureOrigins`: they are development origins that must not reach production.
 */
export function validateOriginEntries(entries: readonly string[], rules: OriginEntryRules): string[] {
  return [...analyzeOriginEntries(entries, rules).problems];
}

/** {@link validateOriginEntries}, also returning the parsed patterns, so entries are parsed once. */
export function analyzeOriginEntries(
  entries: readonly string[],
  rules: OriginEntryRules,
): AnalyzedOriginEntries {
  const patterns: OriginPattern[] = [];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const name = `${rules.label ?? 'origins'}[${index}] ${JSON.stringify(shorten(entry))}`;
    const parsed = parseOriginPattern(entry);
    if (!parsed.ok) {
      problems.push(`${name}: ${parsed.error}`);
      return;
    }
    patterns.push(parsed.pattern);
    for (const problem of patternProblems(parsed.pattern, rules)) problems.push(`${name}: ${problem}`);
  });
  return { patterns, problems };
}

function patternProblems(pattern: OriginPattern, rules: OriginEntryRules): string[] {
  if (pattern.kind === 'any') {
    return rules.env === 'development'
      ? []
      : [
          `"*" allows every origin and is refused in ${rules.env} (allowed only in development); list the origins`,
        ];
  }
  if (rules.env !== 'production' || rules.allowInsecureOrigins) return [];
  const problems: string[] = [];
  if (pattern.scheme === 'http') problems.push(`http:// refused in production; use https:// ${INSECURE_FIX}`);
  const host = pattern.kind === 'exact' ? pattern.origin.host : pattern.base;
  if (pattern.kind === 'exact' && pattern.origin.hostKind !== 'dns') {
    problems.push(`IP-literal host refused in production; use a DNS name ${INSECURE_FIX}`);
  }
  if (host === 'localhost' || host.endsWith('.localhost')) {
    problems.push(`localhost refused in production; use your public domain ${INSECURE_FIX}`);
  }
  const tunnel = tunnelDomainOf(host);
  if (tunnel !== undefined) {
    problems.push(`tunnel host (${tunnel}) refused in production; use your own domain ${INSECURE_FIX}`);
  }
  return problems;
}

function shorten(entry: string): string {
  return entry.length > SHOWN_ENTRY_LENGTH ? `${entry.slice(0, SHOWN_ENTRY_LENGTH)}…` : entry;
}
