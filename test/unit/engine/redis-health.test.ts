import { describe, expect, it, vi } from 'vitest';
import { RedisHealth } from '../../../packages/server/src/engine/redis-health.js';
import { captureLog } from '../../helpers/log-capture.js';

function make() {
  const { log, lines } = captureLog('info');
  return { health: new RedisHealth(log), lines };
}

describe('RedisHealth', () => {
  it('starts not ok, connecting', () => {
    expect(make().health.current).toEqual({ ok: false, reason: 'connecting to redis' });
  });

  it('turns ok only when both connections are up, and says so once', () => {
    const { health, lines } = make();
    const listener = vi.fn();
    health.onChange(listener);
    health.up('command');
    expect(health.current.ok).toBe(false);
    health.up('command');
    health.up('subscriber');
    expect(health.current).toEqual({ ok: true });
    health.up('subscriber');
    expect(listener.mock.calls).toEqual([[{ ok: true }]]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[30, 'redis connected']]);
  });

  it('reports an outage once, with the first reason, and the recovery once', () => {
    const { health, lines } = make();
    const listener = vi.fn();
    health.up('command');
    health.up('subscriber');
    health.onChange(listener);
    health.down('subscriber', 'subscriber connection lost (ECONNRESET)');
    health.down('command', 'command connection lost (ECONNREFUSED)');
    health.down('command', 'again');
    expect(health.current).toEqual({
      ok: false,
      reason: 'redis unreachable: subscriber connection lost (ECONNRESET)',
    });
    health.up('command');
    expect(health.current.ok).toBe(false);
    health.up('subscriber');
    expect(listener.mock.calls).toEqual([
      [{ ok: false, reason: 'redis unreachable: subscriber connection lost (ECONNRESET)' }],
      [{ ok: true }],
    ]);
    expect(lines.map((l) => [l.level, l.msg, l.reason])).toEqual([
      [30, 'redis connected', undefined],
      [40, 'redis unreachable', 'subscriber connection lost (ECONNRESET)'],
      [30, 'redis reachable again', undefined],
    ]);
  });

  it('logs a failed first connect once, without notifying (it was never ok)', () => {
    const { health, lines } = make();
    const listener = vi.fn();
    health.onChange(listener);
    health.down('command', 'command connection lost (ECONNREFUSED)');
    health.down('subscriber', 'subscriber connection lost (ECONNREFUSED)');
    expect(health.current).toEqual({
      ok: false,
      reason: 'redis unreachable: command connection lost (ECONNREFUSED)',
    });
    expect(listener).not.toHaveBeenCalled();
    expect(lines.map((l) => l.msg)).toEqual(['redis unreachable']);
  });

  it('is not ok while commands time out on ready connections, until one is answered; logged once each way', () => {
    const { health, lines } = make();
    const listener = vi.fn();
    health.up('command');
    health.up('subscriber');
    health.onChange(listener);
    health.answered(); // nothing to end
    health.timedOut('a command got no reply within 2000 ms');
    health.timedOut('again');
    expect(health.stalled).toBe(true);
    expect(health.current).toEqual({
      ok: false,
      reason: 'redis not answering: a command got no reply within 2000 ms',
    });
    health.answered();
    health.answered();
    expect(health.stalled).toBe(false);
    expect(health.current).toEqual({ ok: true });
    expect(listener.mock.calls).toEqual([
      [{ ok: false, reason: 'redis not answering: a command got no reply within 2000 ms' }],
      [{ ok: true }],
    ]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'redis connected'],
      [40, 'redis not answering'],
      [30, 'redis answering again'],
    ]);
  });

  it('leaves a timeout during an outage to the outage, and a lost connection ends a stall', () => {
    const { health } = make();
    health.timedOut('before the first connect');
    expect(health.stalled).toBe(false);
    expect(health.current).toEqual({ ok: false, reason: 'connecting to redis' });
    health.up('command');
    health.up('subscriber');
    health.timedOut('stalled');
    health.down('command', 'command connection lost (ECONNRESET)');
    expect(health.stalled).toBe(false);
    expect(health.current).toEqual({
      ok: false,
      reason: 'redis unreachable: command connection lost (ECONNRESET)',
    });
    health.answered(); // a late reply on the other connection does not end the outage
    expect(health.current.ok).toBe(false);
    health.up('command');
    expect(health.current).toEqual({ ok: true });
  });

  it('stops calling a removed listener and survives a throwing one', () => {
    const { health, lines } = make();
    const removed = vi.fn();
    const after = vi.fn();
    health.onChange(() => {
      throw new Error('bug');
    });
    health.onChange(removed)();
    health.onChange(after);
    health.up('command');
    health.up('subscriber');
    expect(removed).not.toHaveBeenCalled();
    expect(after).toHaveBeenCalledWith({ ok: true });
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 50, err: expect.objectContaining({ message: 'bug' }) }),
    );
  });
});
