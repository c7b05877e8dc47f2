/**
 * Microseconds on CLOCK_MONOTONIC (process.hrtime), which every process on the host shares: a publisher
 * stamps events with it and a receiver in another process subtracts, with no clock skew.
 */
export function nowMicros() {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Resolves after `ms`. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
