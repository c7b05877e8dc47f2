import type { TokenVerification } from './token-verifier.js';

/** Why a token was refused, in the words an operator reads in the `authentication failed` log line. */
export type AuthFailureClass =
  | 'signature'
  | 'expired'
  | 'issuer'
  | 'audience'
  | 'sub'
  | 'claims'
  | 'algorithm'
  | 'malformed'
  | 'sub_mismatch'
  | 'keys_unavailable';

/** Claims whose failure has a class of its own: the ones a misconfigured identity provider gets wrong. */
const CLAIM_CLASSES: Readonly<Record<string, AuthFailureClass>> = {
  iss: 'issuer',
  aud: 'audience',
  sub: 'sub',
};

/**
 * The class of a refused token (signature, expired, issuer, audience, sub…), never anything of the
 * token itself: enough to tell a wrong key from a wrong `--jwt-issuer` without logging a credential.
 */
export function authFailureClass(
  failure: Extract<TokenVerification, { readonly ok: false }>,
): AuthFailureClass {
  switch (failure.reason) {
    case 'expired':
      return 'expired';
    case 'invalid_signature':
      return 'signature';
    case 'wrong_algorithm':
      return 'algorithm';
    case 'malformed':
      return 'malformed';
    case 'keys_unavailable':
      return 'keys_unavailable';
    case 'invalid_claims':
      return (failure.claim === undefined ? undefined : CLAIM_CLASSES[failure.claim]) ?? 'claims';
  }
}
