import { afterEach, describe, expect, it } from 'vitest';
import { clusterSlot } from '../../../packages/server/src/engine/cluster-slot.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { parseStoredFrame } from '../../../packages/server/src/engine/stored-frame.js';

/**
 * Cases that kill mutants which survived `npx stryker run --mutate 'src/engine/**\/*.ts'`; TESTING.md
 * lists the ones left as equivalent. Each states the rule the mutant broke.
 */

describe('MemoryEngine', () => {
  let engine: MemoryEngine | undefined;
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
  });

  it('frees an idempotency key exactly when its ttl has passed, as Redis PX does', async () => {
    let now = 0;
    engine = new MemoryEngine({ now: () => now });
    expect(await engine.claimIdempotency('k', 'r_1', 1000)).toEqual({ claimed: true });
    now = 999;
    expect(await engine.claimIdempotency('k', 'r_2', 1000)).toEqual({ claimed: false, value: 'r_1' });
    now = 1000;
    expect(await engine.claimIdempotency('k', 'r_3', 1000)).toEqual({ claimed: true });
  });

  it('answers a connection that asks again for the slot it holds with true, even at the limit', async () => {
    engine = new MemoryEngine();
    expect(await engine.acquireConnectionSlot('u1', 'c1', 1)).toBe(true);
    expect(await engine.acquireConnectionSlot('u1', 'c1', 1)).toBe(true);
    expect(await engine.acquireConnectionSlot('u1', 'c2', 1)).toBe(false);
    await engine.releaseConnectionSlot('u1', 'c1');
    expect(await engine.acquireConnectionSlot('u1', 'c2', 1)).toBe(true);
  });
});

describe('parseStoredFrame', () => {
  const frame = (fields: Record<string, unknown>) =>
    JSON.stringify({
      type: 'notification',
      seq: 1,
      epoch: 'e_1',
      ts: '2026-01-01T00:00:00.000Z',
      data: {},
      ...fields,
    });

  it.each([
    ['data that is a string', { data: 'text' }],
    ['data that is a number', { data: 5 }],
    ['a seq given as a string', { seq: '1' }],
  ])('drops a frame with %s', (_name, fields) => {
    expect(parseStoredFrame(frame(fields))).toBeUndefined();
  });

  it('has no run_id key at all when the frame has none', () => {
    const parsed = parseStoredFrame(frame({}));
    expect(parsed).toBeDefined();
    expect(Object.keys(parsed ?? {})).not.toContain('run_id');
    expect(parseStoredFrame(frame({ run_id: 'r_1' }))).toMatchObject({ run_id: 'r_1' });
  });
});

describe('clusterSlot', () => {
  it('hashes the whole key when a } comes without a { before it (Redis Cluster hash tags)', () => {
    expect(clusterSlot('a}b')).not.toBe(clusterSlot('a'));
    expect(clusterSlot('a}b')).toBe(clusterSlot('a}b'));
    // A proper tag hashes only what is inside it.
    expect(clusterSlot('x{a}y')).toBe(clusterSlot('a'));
  });
});
