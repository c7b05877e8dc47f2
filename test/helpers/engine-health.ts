import type { Engine, EngineHealth } from '../../packages/server/src/engine/engine.js';

/**
 * Resolves with the engine's health once its `ok` is `ok`: at once when it already is, else at the
 * change. Rejects after `timeoutMs`, naming `what` was awaited.
 */
export function healthIs(
  engine: Engine,
  ok: boolean,
  what = 'the engine',
  timeoutMs = 8000,
): Promise<EngineHealth> {
  const now = engine.health();
  if (now.ok === ok) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${what} not ok=${ok} in ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = engine.onHealthChange((health) => {
      if (health.ok !== ok) return;
      clearTimeout(timer);
      stop();
      resolve(health);
    });
  });
}
