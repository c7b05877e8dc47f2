/** Bounds of the reconnect backoff, in ms. */
export interface ReconnectDelayBounds {
  readonly min: number;
  readonly max: number;
}

/**
 * How long to wait before reconnect attempt `attempt` (1-based): `min` doubled per attempt, capped at
 * `max`, plus up to 10% jitter so the nodes of a cluster do not all reconnect in the same millisecond.
 */
export function reconnectDelay(
  attempt: number,
  bounds: ReconnectDelayBounds,
  random: () => number = Math.random,
): number {
  const base = Math.min(bounds.max, bounds.min * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.round(base + random() * base * 0.1);
}
