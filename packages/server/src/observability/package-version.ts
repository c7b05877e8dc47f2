import { readFileSync } from 'node:fs';

/**
 * The version of @agentcast/server, for `agentcast_build_info`: its package.json sits two folders above
 * `src/observability/` and `dist/observability/` alike. `unknown` when it cannot be read (a bundler
 * that dropped it), never a crash.
 */
export function packageVersion(): string {
  try {
    const manifest: unknown = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    const version = (manifest as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    // ENOENT or malformed JSON: the version is a label, not worth failing a gateway for.
    return 'unknown';
  }
}
