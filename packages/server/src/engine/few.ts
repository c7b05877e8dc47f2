/**
 * A small collection kept as its one value until it holds two, then as a Set: nearly every user has one
 * connection, and an empty `Set` costs about 190 bytes of heap where the value itself costs nothing more
 * (docs/architecture.md, "Hot path"; measured with a heap snapshot of 3,000 idle connections). `T` must
 * not itself be a Set. `undefined` is the empty collection.
 */
export type Few<T> = T | Set<T>;

/** Whether `value` is in `few`. */
export function fewHas<T>(few: Few<T> | undefined, value: T): boolean {
  return few instanceof Set ? few.has(value) : few !== undefined && few === value;
}

/** `few` with `value` added (the same Set, mutated, once it is one). */
export function fewAdd<T>(few: Few<T> | undefined, value: T): Few<T> {
  if (few === undefined || few === value) return value;
  if (few instanceof Set) return few.add(value);
  return new Set([few as T, value]);
}

/** `few` without `value`; undefined once empty. A Set stays a Set (it shrinks to one only when emptied). */
export function fewDelete<T>(few: Few<T> | undefined, value: T): Few<T> | undefined {
  if (!(few instanceof Set)) return few === value ? undefined : few;
  few.delete(value);
  return few.size === 0 ? undefined : few;
}

/** How many values `few` holds. */
export function fewSize<T>(few: Few<T> | undefined): number {
  return few instanceof Set ? few.size : few === undefined ? 0 : 1;
}

/** The values of `few`, in insertion order. */
export function fewValues<T>(few: Few<T> | undefined): readonly T[] | Set<T> {
  return few instanceof Set ? few : few === undefined ? [] : [few as T];
}
