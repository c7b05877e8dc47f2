/** Removes the handler it was returned for. Calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * Reports an error thrown by a handler without disturbing the emitter or the other handlers. The default
 * rethrows it in a microtask, as `EventTarget` does: the browser logs it, Node reports an uncaught exception.
 */
export type ListenerErrorReporter = (error: unknown) => void;

const rethrowLater: ListenerErrorReporter = (error) => {
  queueMicrotask(() => {
    throw error;
  });
};

/**
 * A tiny typed event emitter. Handlers run in subscription order; one that throws is reported and the rest
 * still run, so an app bug never corrupts the client's state.
 */
export class Emitter<Events extends object> {
  readonly #handlers = new Map<keyof Events, Set<(payload: unknown) => void>>();
  readonly #report: ListenerErrorReporter;

  constructor(report: ListenerErrorReporter = rethrowLater) {
    this.#report = report;
  }

  /** Calls `handler` for every `name` emitted, until the returned function is called. */
  on<K extends keyof Events>(name: K, handler: (payload: Events[K]) => void): Unsubscribe {
    let set = this.#handlers.get(name);
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    // A wrapper makes each subscription distinct, so subscribing one function twice needs two unsubscribes.
    // Only emit() calls it, always with the payload type of `name`.
    const entry = (payload: unknown): void => handler(payload as Events[K]);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Calls the handlers of `name` with `payload`. */
  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.#handlers.get(name);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        handler(payload);
      } catch (error) {
        this.#report(error);
      }
    }
  }
}
