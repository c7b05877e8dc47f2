/** Opaque handle of a scheduled callback. */
export type TimerHandle = unknown;

/** The timer functions the client uses; inject fakes in tests or a custom scheduler. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The platform's timers, looked up on every call so that fake timers installed after the client was
 * created (vitest's `vi.useFakeTimers()`) still apply.
 */
export const systemTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};
