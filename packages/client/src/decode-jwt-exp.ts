/**
 * Reads `exp` (seconds since the epoch) from a JWT's payload, without verifying anything: the client only
 * needs to know when to fetch a fresh token (docs/protocol.md §2). Returns undefined when the token is not a
 * JWT or has no numeric `exp`; the client then never refreshes it and relies on 4002 instead.
 */
export function decodeJwtExp(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload === '') return undefined;
  try {
    // base64url -> base64; atob tolerates missing padding in neither browsers nor Node, so add it.
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const claims: unknown = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')));
    if (typeof claims !== 'object' || claims === null || !('exp' in claims)) return undefined;
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : undefined;
  } catch {
    // Not base64 or not JSON: an opaque token. Expected for non-JWT tokens; there is nothing to refresh by.
    return undefined;
  }
}
