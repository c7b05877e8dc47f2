import { describe, expect, it } from 'vitest';
import { TransportChoice } from '../../../packages/client/src/transport-choice.js';

describe('TransportChoice', () => {
  it('keeps to the transport it was given with "websocket" and "sse", whatever happens', () => {
    const ws = new TransportChoice('websocket', 1000);
    const sse = new TransportChoice('sse', 1000);
    for (let i = 0; i < 5; i += 1) {
      ws.closed(false, 1006, i);
      sse.closed(false, 1006, i);
    }
    expect(ws.sse(10_000)).toBe(false);
    expect(sse.sse(10_000)).toBe(true);
    expect(sse.retryIn(0)).toBeUndefined();
  });

  it('auto: falls back to SSE after two WebSocket attempts in a row that closed 1006 before their welcome', () => {
    const choice = new TransportChoice('auto', 60_000);
    expect(choice.sse(0)).toBe(false);
    choice.closed(false, 1006, 0);
    expect(choice.sse(0)).toBe(false);
    choice.closed(false, 1006, 100);
    expect(choice.sse(100)).toBe(true);
    expect(choice.retryIn(100)).toBe(60_000);
  });

  it.each([
    ['a welcome in between', (c: TransportChoice) => c.closed(true, 1006, 0)],
    ['an auth refusal (4001) in between', (c: TransportChoice) => c.closed(false, 4001, 0)],
    ['a drain (1012) in between', (c: TransportChoice) => c.closed(false, 1012, 0)],
  ])('auto: does not count failures across %s', (_name, between) => {
    const choice = new TransportChoice('auto', 60_000);
    choice.closed(false, 1006, 0);
    between(choice);
    choice.closed(false, 1006, 0);
    expect(choice.sse(0)).toBe(false);
  });

  it('auto: tries WebSocket again retryMs after the switch, and falls back again on two more failures', () => {
    const choice = new TransportChoice('auto', 1000);
    choice.closed(false, 1006, 0);
    choice.closed(false, 1006, 0);
    expect(choice.sse(999)).toBe(true);
    expect(choice.retryIn(400)).toBe(600);
    expect(choice.sse(1000)).toBe(false);
    expect(choice.retryIn(1000)).toBeUndefined();
    choice.closed(false, 1006, 1000);
    choice.closed(false, 1006, 1001);
    expect(choice.sse(1001)).toBe(true);
    expect(choice.sse(2000)).toBe(true);
    expect(choice.sse(2001)).toBe(false);
  });
});
