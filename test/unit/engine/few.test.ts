import { describe, expect, it } from 'vitest';
import { fewAdd, fewDelete, fewHas, fewSize, fewValues } from '../../../packages/server/src/engine/few.js';

describe('Few: one value until there are two, then a Set', () => {
  it('keeps one value as itself, two or more in a Set, in insertion order', () => {
    let few = fewAdd<string>(undefined, 'a');
    expect(few).toBe('a');
    expect(fewAdd(few, 'a')).toBe('a');
    few = fewAdd(few, 'b');
    expect(few).toBeInstanceOf(Set);
    few = fewAdd(few, 'c');
    expect([...fewValues(few)]).toEqual(['a', 'b', 'c']);
    expect([fewSize(undefined), fewSize('a'), fewSize(few)]).toEqual([0, 1, 3]);
    expect([
      fewHas(few, 'b'),
      fewHas(few, 'z'),
      fewHas('a', 'a'),
      fewHas('a', 'b'),
      fewHas(undefined, 'a'),
    ]).toEqual([true, false, true, false, false]);
  });

  it('removes values down to undefined', () => {
    expect(fewDelete('a', 'a')).toBeUndefined();
    expect(fewDelete('a', 'b')).toBe('a');
    expect(fewDelete(undefined, 'a')).toBeUndefined();
    let few = fewDelete<string>(new Set(['a', 'b']), 'a');
    expect([...fewValues(few)]).toEqual(['b']);
    few = fewDelete(few, 'b');
    expect(few).toBeUndefined();
    expect([...fewValues(few)]).toEqual([]);
  });
});
