import { randomBytes } from 'node:crypto';

/**
 * Prefixes of the ids the runtime makes: `r_…` runs, `x_…` tool executions (docs/protocol.md §3), `a_…`
 * approvals (G).
 */
export type IdPrefix = 'r' | 'x' | 'a';

/** A fresh unguessable id: the prefix, `_`, then 16 base64url characters (96 random bits). */
export function randomId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
