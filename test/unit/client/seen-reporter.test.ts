import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SeenReporter } from '../../../packages/client/src/seen-reporter.js';
import { systemTimers } from '../../../packages/client/src/timers.js';

describe('SeenReporter', () => {
  let sent: number[];
  let open: boolean;
  let reporter: SeenReporter;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    open = true;
    reporter = new SeenReporter(systemTimers, 1000, (seq) => {
      if (open) sent.push(seq);
      return open;
    });
  });
  afterEach(() => {
    reporter.stop();
    vi.useRealTimers();
  });

  it('reports the first seq at once, then coalesces a burst into one report per interval', () => {
    reporter.handed(1);
    expect(sent).toEqual([1]);
    for (let seq = 2; seq <= 50; seq++) reporter.handed(seq);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(999);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1, 50]);
    // Quiet: nothing new to report, the cooldown ends without a frame, and the next event goes at once.
    vi.advanceTimersByTime(5000);
    expect(sent).toEqual([1, 50]);
    reporter.handed(51);
    expect(sent).toEqual([1, 50, 51]);
  });

  it('reports what the app already has on a new connection, and nothing for a fresh start or a reset', () => {
    reporter.connected(0);
    expect(sent).toEqual([]);
    reporter.connected(42);
    expect(sent).toEqual([42]);
    // The same seq again on the next connection: the new connection has not heard it.
    reporter.connected(42);
    expect(sent).toEqual([42, 42]);
  });

  it('sends nothing without an open connection, and reports once one is back', () => {
    open = false;
    reporter.handed(3);
    expect(sent).toEqual([]);
    open = true;
    reporter.connected(3);
    expect(sent).toEqual([3]);
  });

  it('drops the pending report when stopped (the connection is gone)', () => {
    reporter.handed(1);
    reporter.handed(2);
    reporter.stop();
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual([1]);
  });
});
