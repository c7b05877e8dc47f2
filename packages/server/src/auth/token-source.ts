import { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from '../protocol/frames.js';

/** Where a token was found (docs/protocol.md §2, in order of preference). */
export type TokenSource = 'header' | 'subprotocol' | 'query' | 'frame';

/** What the upgrade request offers. */
export interface UpgradeCredentials {
  readonly authorization?: string | undefined;
  /** Offered subprotocols, already split and trimmed. */
  readonly subprotocols: readonly string[];
  readonly queryToken?: string | null | undefined;
  readonly allowQueryToken: boolean;
}

/** The credential of an `Authorization: Bearer <credential>` header (scheme case-insensitive, RFC 9110 §11.1). */
export function bearerCredential(authorization: string | undefined): string | undefined {
  return authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

/**
 * Picks the token from the upgrade request, in docs/protocol.md §2 order: `Authorization: Bearer`, then
 * the `bearer.<jwt>` subprotocol, then `?token=` when allowed. `undefined` means "wait for an auth
 * frame".
 */
export function tokenFromUpgrade(
  creds: UpgradeCredentials,
): { token: string; source: TokenSource } | undefined {
  const header = bearerCredential(creds.authorization);
  if (header !== undefined) return { token: header, source: 'header' };
  const bearer = creds.subprotocols.find(
    (p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX) && p.length > BEARER_SUBPROTOCOL_PREFIX.length,
  );
  if (bearer !== undefined)
    return { token: bearer.slice(BEARER_SUBPROTOCOL_PREFIX.length), source: 'subprotocol' };
  if (creds.allowQueryToken && typeof creds.queryToken === 'string' && creds.queryToken !== '') {
    return { token: creds.queryToken, source: 'query' };
  }
  return undefined;
}

/**
 * The subprotocol the server selects (docs/protocol.md §1): `agentcast.v1` when offered; never the
 * `bearer.` one, which would echo the token back. `false` means: offered some, none acceptable (400).
 * `null` means none was offered.
 */
export function selectSubprotocol(offered: readonly string[]): string | false | null {
  if (offered.length === 0) return null;
  if (offered.includes(SUBPROTOCOL)) return SUBPROTOCOL;
  return offered.some((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX)) ? null : false;
}
