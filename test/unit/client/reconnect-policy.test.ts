import { describe, expect, it } from 'vitest';
import { ClientErrorCode } from '../../../packages/client/src/client-error.js';
import { ReconnectPolicy } from '../../../packages/client/src/reconnect-policy.js';
import { CloseCode } from '../../../packages/server/src/protocol/close-codes.js';

const options = { initialMs: 500, maxMs: 30_000, maxAuthFailures: 3, restartJitterMs: 1_000 };
const policy = (random = () => 0.5) => new ReconnectPolicy(options, random);

describe('ReconnectPolicy', () => {
  describe('#afterClose', () => {
    it.each([
      ['normal closure by the server', CloseCode.Normal],
      ['going away', CloseCode.GoingAway],
      ['abnormal closure (network lost)', 1006],
      ['internal error', CloseCode.InternalError],
      ['slow consumer (resume, nothing lost)', CloseCode.SlowConsumer],
      ['rate limited', CloseCode.RateLimited],
      ['an unknown code', 4999],
    ])('retries with backoff and the same token after %s (%i)', (_name, code) => {
      const p = policy();
      expect(p.afterClose(code)).toEqual({ action: 'retry', delayMs: 250, freshToken: false });
      expect(p.afterClose(code)).toEqual({ action: 'retry', delayMs: 500, freshToken: false });
      expect(p.attempt).toBe(2);
    });

    it.each([
      ['unauthorized', CloseCode.Unauthorized],
      ['token expired', CloseCode.TokenExpired],
      ['auth timeout', CloseCode.AuthTimeout],
    ])('asks for a fresh token and counts an auth failure after %s (%i)', (_name, code) => {
      const p = policy();
      expect(p.afterClose(code)).toEqual({ action: 'retry', delayMs: 250, freshToken: true });
      expect(p.authFailures).toBe(1);
    });

    it('keeps the token after too many connections (4009), which still counts as a refusal', () => {
      const p = policy();
      expect(p.afterClose(CloseCode.TooManyConnections)).toEqual({
        action: 'retry',
        delayMs: 250,
        freshToken: false,
      });
      expect(p.authFailures).toBe(1);
    });

    it.each([
      [CloseCode.Unauthorized, 'auth refused'],
      [CloseCode.TooManyConnections, 'too many connections for this user'],
    ])('stops after maxAuthFailures refusals in a row (last %i)', (code, why) => {
      const p = policy();
      p.afterClose(CloseCode.TokenExpired);
      p.afterClose(CloseCode.AuthTimeout);
      const plan = p.afterClose(code);
      expect(plan.action).toBe('stop');
      if (plan.action !== 'stop') return;
      expect(plan.error.code).toBe(ClientErrorCode.AuthFailed);
      expect(plan.error.closeCode).toBe(code);
      expect(plan.error.message).toContain(why);
      expect(plan.error.message).toContain('3 refused connections in a row');
    });

    it('does not count refusals separated by a welcome as "in a row"', () => {
      const p = policy();
      p.afterClose(CloseCode.Unauthorized);
      p.afterClose(CloseCode.Unauthorized);
      p.connected();
      expect(p.authFailures).toBe(0);
      expect(p.afterClose(CloseCode.Unauthorized).action).toBe('retry');
      expect(p.afterClose(CloseCode.Unauthorized).action).toBe('retry');
    });

    it('does not reset auth failures on other close codes in between', () => {
      const p = policy();
      p.afterClose(CloseCode.Unauthorized);
      p.afterClose(1006);
      p.afterClose(CloseCode.Unauthorized);
      expect(p.afterClose(CloseCode.Unauthorized).action).toBe('stop');
    });

    it.each([
      ['too many bad frames', CloseCode.TooManyBadFrames],
      ['frame too large', CloseCode.FrameTooLarge],
    ])('stops at once after %s (%i): reconnecting would resend the same frames', (_name, code) => {
      const plan = policy().afterClose(code);
      expect(plan.action).toBe('stop');
      if (plan.action !== 'stop') return;
      expect(plan.error.code).toBe(ClientErrorCode.Rejected);
      expect(plan.error.closeCode).toBe(code);
      expect(plan.error.message).toMatch(/fix the client, then call reconnect\(\)/);
    });

    it('reconnects within random() * restartJitterMs after 1012, without growing the backoff', () => {
      const p = policy(() => 0.25);
      p.afterClose(1006);
      p.afterClose(1006);
      expect(p.afterClose(CloseCode.ServiceRestart)).toEqual({
        action: 'retry',
        delayMs: 250,
        freshToken: false,
      });
      expect(p.afterClose(CloseCode.ServiceRestart)).toEqual({
        action: 'retry',
        delayMs: 250,
        freshToken: false,
      });
      expect(p.attempt).toBe(2);
    });

    it('keeps every 1012 delay within [0, restartJitterMs)', () => {
      expect(policy(() => 0).afterClose(CloseCode.ServiceRestart)).toMatchObject({ delayMs: 0 });
      expect(policy(() => 0.9999).afterClose(CloseCode.ServiceRestart)).toMatchObject({ delayMs: 999 });
    });
  });

  it('starts from initialMs again after stable()', () => {
    const p = policy();
    p.afterClose(1006);
    p.afterClose(1006);
    p.afterClose(1006);
    p.stable();
    expect(p.afterClose(1006)).toMatchObject({ delayMs: 250 });
  });

  it('keeps growing when a connection never became stable (welcome alone does not reset the backoff)', () => {
    const p = policy();
    p.afterClose(1006);
    p.connected();
    expect(p.afterClose(1006)).toMatchObject({ delayMs: 500 });
  });

  it('nextDelay() counts an attempt like a close does', () => {
    const p = policy();
    expect(p.nextDelay()).toBe(250);
    expect(p.nextDelay()).toBe(500);
  });

  it('reset() clears both counters', () => {
    const p = policy();
    p.afterClose(CloseCode.Unauthorized);
    p.afterClose(1006);
    p.reset();
    expect([p.attempt, p.authFailures]).toEqual([0, 0]);
  });
});
