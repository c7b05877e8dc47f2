/** Removes the handler it was returned for; calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * A typed emitter like the SDK's (which it does not export): handlers run in subscription order, and one
 * that throws is rethrown in a microtask (as `EventTarget` does) without stopping the others.
 */
export class Emitter<Events extends object> {
  readonly #handlers = new Map<keyof Events, Set<(payload: unknown) => void>>();

  on<K extends keyof Events>(name: K, handler: (payload: Events[K]) => void): Unsubscribe {
    let set = this.#handlers.get(name);
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    // A wrapper per subscription: subscribing one function twice needs two unsubscribes.
    const entry = (payload: unknown): void => handler(payload as Events[K]);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.#handlers.get(name);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        handler(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
