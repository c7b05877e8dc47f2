import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC-SHA256>` of the signed string (docs/agents.md). */
export const SIGNATURE_HEADER = 'X-Agentcast-Signature';
/** Header carrying the run's user id, percent-encoded (docs/agents.md): the request body may not name it. */
export const USER_ID_HEADER = 'X-Agentcast-User-Id';
/** Header carrying the Unix time in seconds the request was signed at. */
export const TIMESTAMP_HEADER = 'X-Agentcast-Timestamp';
/** How far a timestamp may be from the verifier's clock before the request counts as a replay. */
export const SIGNATURE_TOLERANCE_S = 300;

/**
 * The signature header value of a webhook request: `sha256=` + hex HMAC-SHA256, keyed with the shared
 * secret, of `<timestamp>.<raw body>`. Signing the timestamp with the body lets a backend refuse a
 * captured request replayed later.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a backend checks; see {@link verifyWebhook}. */
export interface WebhookVerification {
  readonly secret: string;
  readonly body: string;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  /** The verifier's clock in seconds since the epoch. */
  readonly nowS: number;
}

/**
 * Checks a webhook request as a TypeScript backend would (the Python example does the same): the
 * signature must match in constant time and the timestamp be within 300 s of `nowS`.
 */
export function verifyWebhook(check: WebhookVerification): boolean {
  const { signature, timestamp } = check;
  if (signature === undefined || timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(check.nowS - Number(timestamp)) > SIGNATURE_TOLERANCE_S) return false;
  const expected = Buffer.from(signWebhook(check.secret, timestamp, check.body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
