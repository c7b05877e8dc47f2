import { describe, expect, it } from 'vitest';
import { PresenceState } from '../../../packages/server/src/gateway/presence-state.js';

describe('PresenceState', () => {
  it('reports the connection with its delivered and seen seqs, and clears dirty', () => {
    const state = new PresenceState(1000, 4);
    expect(state.dirty).toBe(false);
    state.delivered(5);
    expect(state.dirty).toBe(true);
    expect(state.report('c1', 'node-a')).toEqual({
      connectionId: 'c1',
      serverId: 'node-a',
      transport: 'websocket',
      connectedAt: 1000,
      deliveredSeq: 5,
      seenSeq: 0,
    });
    expect(state.dirty).toBe(false);
  });

  it.each([
    ['a seen seq up to the delivered one', [3], 3],
    ['a seen seq past the delivered one, as the delivered one', [9], 5],
    ['only forward moves', [4, 2], 4],
  ])('keeps %s', (_name, seen, expected) => {
    const state = new PresenceState(0, 5);
    for (const seq of seen) state.seen(seq);
    expect(state.report('c', 'n').seenSeq).toBe(expected);
  });

  it('is not dirty after a seen seq that changes nothing', () => {
    const state = new PresenceState(0, 5);
    state.seen(0);
    expect(state.dirty).toBe(false);
  });
});
