import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortableSleep } from '../../../packages/server/src/agents/abortable-sleep.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('abortableSleep', () => {
  it('resolves after the delay', async () => {
    vi.useFakeTimers();
    let done = false;
    const sleeping = abortableSleep(100, new AbortController().signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the reason as soon as the signal aborts, clearing its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const sleeping = abortableSleep(10_000, controller.signal);
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once for an aborted signal, even for 0 ms', async () => {
    const controller = new AbortController();
    controller.abort('gone');
    await expect(abortableSleep(0, controller.signal)).rejects.toBe('gone');
  });

  it('resolves without a timer for 0 ms or less', async () => {
    vi.useFakeTimers();
    await abortableSleep(0, new AbortController().signal);
    await abortableSleep(-5, new AbortController().signal);
    expect(vi.getTimerCount()).toBe(0);
  });
});
