import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';

const body = '{"run_id":"r_1"}';
const signature = signWebhook('k', '1700000000', body);

describe('signWebhook', () => {
  it('is sha256= and the hex HMAC-SHA256 of "<timestamp>.<body>"', () => {
    const hex = createHmac('sha256', 'k').update(`1700000000.${body}`).digest('hex');
    expect(signature).toBe(`sha256=${hex}`);
  });
});

describe('verifyWebhook', () => {
  const good = { secret: 'k', body, signature, timestamp: '1700000000', nowS: 1_700_000_000 };
  it.each([
    ['accepts a fresh, matching signature', {}, true],
    ['accepts a timestamp 300 s behind', { nowS: 1_700_000_300 }, true],
    ['accepts a timestamp 300 s ahead', { nowS: 1_699_999_700 }, true],
    ['refuses a timestamp 301 s old (replay)', { nowS: 1_700_000_301 }, false],
    ['refuses a timestamp 301 s ahead', { nowS: 1_699_999_699 }, false],
    ['refuses another secret', { secret: 'other' }, false],
    ['refuses a changed body', { body: `${body} ` }, false],
    ['refuses a changed timestamp', { timestamp: '1700000001' }, false],
    ['refuses a missing signature', { signature: undefined }, false],
    ['refuses a missing timestamp', { timestamp: undefined }, false],
    ['refuses a timestamp that is not digits', { timestamp: '17e8' }, false],
    ['refuses a truncated signature', { signature: signature.slice(0, -1) }, false],
  ])('%s', (_label, change, expected) => {
    expect(verifyWebhook({ ...good, ...change })).toBe(expected);
  });

  it.each(['x1700000000', '1700000000x', '1700000000000', ''])(
    'refuses a timestamp that is not 1 to 12 digits (%j), even with a matching signature',
    (timestamp) => {
      const secret = 'webhook-secret-0123456789abcdef';
      const body = '{"text":"hi"}';
      const signature = signWebhook(secret, timestamp, body);
      expect(
        verifyWebhook({
          secret,
          body,
          signature,
          timestamp,
          nowS: Number.parseInt(timestamp.replace(/\D/g, ''), 10) || 0,
        }),
      ).toBe(false);
    },
  );
});
