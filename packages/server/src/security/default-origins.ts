/** The deployment environments; each has its own origin defaults and startup rules (docs/protocol.md §5). */
export type Environment = 'development' | 'test' | 'staging' | 'production';

/** Every environment, in the order the docs list them. */
export const ENVIRONMENTS: readonly Environment[] = ['development', 'test', 'staging', 'production'];

// §5: development and test default to the loopback names on any port, over http and https.
const LOCAL_ORIGINS: readonly string[] = [
  'http://localhost:*',
  'https://localhost:*',
  'http://127.0.0.1:*',
  'https://127.0.0.1:*',
  'http://[::1]:*',
  'https://[::1]:*',
];

/**
 * The allowlist used when none is configured (docs/protocol.md §5). Staging and production default to
 * nothing: they fail closed, so a forgotten setting refuses browsers instead of admitting all of them.
 */
export function defaultOriginEntries(env: Environment): readonly string[] {
  return env === 'development' || env === 'test' ? LOCAL_ORIGINS : [];
}
