/**
 * Whether a token is revoked (docs/protocol.md D, "Disconnecting a user"): the user's tokens issued
 * (`iat`, unix seconds) before `revokedBefore` are refused. A token without `iat` cannot show it was issued
 * after, so while a revocation stands it is refused too.
 */
export function isRevoked(issuedAtS: number | undefined, revokedBefore: number | undefined): boolean {
  if (revokedBefore === undefined) return false;
  return issuedAtS === undefined || issuedAtS < revokedBefore;
}
