import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

/** A random HS256 secret for development, when none was configured. Never used outside development. */
export function generateDevSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Signs an HS256 token for `userId` valid for `ttlS` seconds; for the demo and for tests. */
export async function signToken(
  secret: string,
  userId: string,
  ttlS: number,
  claims: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlS)
    .sign(new TextEncoder().encode(secret));
}
