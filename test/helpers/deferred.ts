/** A promise and the function that resolves it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** What a held engine call sees: it calls `reached()` on arrival, then waits for `until`. */
export interface Hold {
  readonly until: Promise<void>;
  readonly reached: () => void;
}

/** A {@link Hold} and its controls: `wasReached` resolves once a call arrived, `open()` lets it go on. */
export function gate(): Hold & { readonly wasReached: Promise<void>; readonly open: () => void } {
  const arrived = deferred();
  const release = deferred();
  return {
    until: release.promise,
    reached: arrived.resolve,
    wasReached: arrived.promise,
    open: release.resolve,
  };
}
