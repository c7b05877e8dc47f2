import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../../packages/server/src/agents/seeded-random.js';

describe('SeededRandom', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const a = new SeededRandom(1);
    const b = new SeededRandom(1);
    const c = new SeededRandom(2);
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(seqA);
  });

  it('matches the mulberry32 reference values', () => {
    const r = new SeededRandom(0);
    expect(r.next()).toBeCloseTo(0.26642920868471265, 15);
    expect(r.next()).toBeCloseTo(0.0003297457005828619, 15);
  });

  it('stays in [0, 1) and int() in [min, max] hitting both ends', () => {
    const r = new SeededRandom(123);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i += 1) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      seen.add(r.int(2, 5));
    }
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });

  it('picks every element of a list eventually', () => {
    const r = new SeededRandom(9);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) seen.add(r.pick(['a', 'b', 'c']));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
  });

  it('seedFor mixes seed and text', () => {
    expect(SeededRandom.seedFor(1, 'abc')).toBe(SeededRandom.seedFor(1, 'abc'));
    expect(SeededRandom.seedFor(1, 'abc')).not.toBe(SeededRandom.seedFor(2, 'abc'));
    expect(SeededRandom.seedFor(1, 'abc')).not.toBe(SeededRandom.seedFor(1, 'abd'));
    expect(SeededRandom.seedFor(0, '')).toBe(0x811c9dc5);
  });
});
