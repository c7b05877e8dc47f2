import { describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_DELAY_MS, TokenSource } from '../../../packages/client/src/token-source.js';
import { makeJwt } from './fake-web-socket.js';

const NOW = 1_800_000_000_000;
const jwt = (secondsLeft: number) => makeJwt({ sub: 'u1', exp: NOW / 1000 + secondsLeft });

function source(tokens: string[]) {
  const getToken = vi.fn(async () => tokens.shift() ?? 'none-left');
  return { getToken, tokens: new TokenSource({ getToken, refreshBeforeExpiryMs: 30_000, now: () => NOW }) };
}

describe('TokenSource', () => {
  it('caches the token between connections while it has more than refreshBeforeExpiryMs left', async () => {
    const { getToken, tokens } = source([jwt(120)]);
    const first = await tokens.current();
    expect(await tokens.current()).toBe(first);
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  it('fetches a new token when the cached one is about to expire', async () => {
    const { getToken, tokens } = source([jwt(30), jwt(120)]);
    await tokens.current();
    expect(await tokens.current()).not.toBe(await tokens.fresh());
    expect(getToken).toHaveBeenCalledTimes(3);
  });

  it('caches an opaque token forever: there is no exp to go by', async () => {
    const { getToken, tokens } = source(['opaque']);
    await tokens.current();
    await tokens.current();
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(tokens.refreshDelay()).toBeUndefined();
  });

  it('fetches a new token after invalidate()', async () => {
    const { getToken, tokens } = source(['a', 'b']);
    await tokens.current();
    tokens.invalidate();
    expect(await tokens.current()).toBe('b');
    expect(getToken).toHaveBeenCalledTimes(2);
  });

  it.each([
    ['an empty string', ''],
    ['a non-string', 42],
  ])('rejects when getToken() returns %s', async (_name, value) => {
    const tokens = new TokenSource({
      getToken: () => value as string,
      refreshBeforeExpiryMs: 0,
      now: () => NOW,
    });
    await expect(tokens.current()).rejects.toThrow('getToken() must return a non-empty string');
  });

  describe('#refreshDelay', () => {
    it.each([
      ['refreshBeforeExpiryMs before exp', 600, 570_000],
      ['half the lifetime left when that is later (short-lived token)', 40, 20_000],
      ['half the lifetime left when it expires within refreshBeforeExpiryMs', 10, 5_000],
      [
        'capped at the longest delay setTimeout honours (else it would fire at once)',
        50 * 86_400,
        2_147_483_647,
      ],
    ])('is %s', async (_name, secondsLeft, delay) => {
      const { tokens } = source([jwt(secondsLeft)]);
      await tokens.current();
      expect(tokens.refreshDelay()).toBe(delay);
    });

    it('caps at MAX_TIMER_DELAY_MS, 2^31 - 1', () => {
      expect(MAX_TIMER_DELAY_MS).toBe(2 ** 31 - 1);
    });

    it('is undefined without a token or with an expired one (4002 will follow)', async () => {
      const { tokens } = source([jwt(-1)]);
      expect(tokens.refreshDelay()).toBeUndefined();
      await tokens.current();
      expect(tokens.refreshDelay()).toBeUndefined();
    });
  });
});
