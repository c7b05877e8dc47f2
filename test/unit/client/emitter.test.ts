import { afterEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from '../../../packages/client/src/emitter.js';

interface Events {
  a: number;
  b: string;
}

describe('Emitter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('calls the handlers of a name, in subscription order, with the payload', () => {
    const emitter = new Emitter<Events>();
    const calls: string[] = [];
    emitter.on('a', (n) => calls.push(`first ${n}`));
    emitter.on('a', (n) => calls.push(`second ${n}`));
    emitter.on('b', (s) => calls.push(`b ${s}`));
    emitter.emit('a', 1);
    expect(calls).toEqual(['first 1', 'second 1']);
  });

  it('does nothing for a name without handlers', () => {
    expect(() => new Emitter<Events>().emit('b', 'x')).not.toThrow();
  });

  it('stops calling a handler once unsubscribed; unsubscribing twice is harmless', () => {
    const emitter = new Emitter<Events>();
    const handler = vi.fn();
    const off = emitter.on('a', handler);
    off();
    off();
    emitter.emit('a', 1);
    expect(handler).not.toHaveBeenCalled();
  });

  it('treats the same function subscribed twice as two subscriptions', () => {
    const emitter = new Emitter<Events>();
    const handler = vi.fn();
    const off = emitter.on('a', handler);
    emitter.on('a', handler);
    off();
    emitter.emit('a', 1);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it('reports a throwing handler and still calls the others', () => {
    const report = vi.fn();
    const emitter = new Emitter<Events>(report);
    const boom = new Error('app bug');
    const after = vi.fn();
    emitter.on('a', () => {
      throw boom;
    });
    emitter.on('a', after);
    emitter.emit('a', 1);
    expect(report).toHaveBeenCalledWith(boom);
    expect(after).toHaveBeenCalledWith(1);
  });

  it('lets a handler unsubscribe another during emit without skipping the current round', () => {
    const emitter = new Emitter<Events>();
    const second = vi.fn();
    let offSecond = () => {};
    emitter.on('a', () => offSecond());
    offSecond = emitter.on('a', second);
    emitter.emit('a', 1);
    emitter.emit('a', 2);
    expect(second.mock.calls).toEqual([[1]]);
  });

  it('rethrows handler errors in a microtask by default, like EventTarget', () => {
    const queued: (() => void)[] = [];
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((cb) => {
      queued.push(cb);
    });
    try {
      const emitter = new Emitter<Events>();
      emitter.on('a', () => {
        throw new Error('app bug');
      });
      emitter.emit('a', 1);
      expect(queued).toHaveLength(1);
      expect(() => queued[0]!()).toThrow('app bug');
    } finally {
      spy.mockRestore();
    }
  });
});
