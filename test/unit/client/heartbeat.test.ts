import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat } from '../../../packages/client/src/heartbeat.js';
import { systemTimers } from '../../../packages/client/src/timers.js';

describe('Heartbeat', () => {
  const sendPing = vi.fn();
  const onDead = vi.fn();
  let hb: Heartbeat;
  beforeEach(() => {
    vi.useFakeTimers();
    sendPing.mockReset();
    onDead.mockReset();
    hb = new Heartbeat({ intervalMs: 25_000, timeoutMs: 10_000 }, systemTimers, { sendPing, onDead });
  });
  afterEach(() => {
    hb.stop();
    vi.useRealTimers();
  });

  it('sends a ping every intervalMs while frames keep arriving', () => {
    hb.start();
    vi.advanceTimersByTime(24_999);
    expect(sendPing).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(sendPing).toHaveBeenCalledTimes(1);
    hb.alive();
    vi.advanceTimersByTime(25_000);
    hb.alive();
    vi.advanceTimersByTime(25_000);
    expect(sendPing).toHaveBeenCalledTimes(3);
    expect(onDead).not.toHaveBeenCalled();
  });

  it('declares the connection dead when nothing arrives within timeoutMs of a ping', () => {
    hb.start();
    vi.advanceTimersByTime(25_000 + 9_999);
    expect(onDead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onDead).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100_000);
    expect(onDead).toHaveBeenCalledTimes(1);
    expect(sendPing).toHaveBeenCalledTimes(1);
  });

  it('counts any frame as life, not just a pong', () => {
    hb.start();
    vi.advanceTimersByTime(25_000);
    vi.advanceTimersByTime(9_000);
    hb.alive();
    vi.advanceTimersByTime(10_000);
    expect(onDead).not.toHaveBeenCalled();
  });

  it('does not stack pings while the previous one is unanswered (timeout longer than interval)', () => {
    const slow = new Heartbeat({ intervalMs: 1_000, timeoutMs: 5_000 }, systemTimers, { sendPing, onDead });
    slow.start();
    vi.advanceTimersByTime(5_999); // ping at 1 000, its deadline at 6 000
    expect(sendPing).toHaveBeenCalledTimes(1);
    expect(onDead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onDead).toHaveBeenCalledTimes(1);
    slow.stop();
  });

  it('does nothing after stop(), and start() twice keeps a single cycle', () => {
    hb.start();
    hb.start();
    vi.advanceTimersByTime(25_000);
    expect(sendPing).toHaveBeenCalledTimes(1);
    hb.stop();
    hb.stop();
    vi.advanceTimersByTime(100_000);
    expect(onDead).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});
