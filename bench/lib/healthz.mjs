import { sleep } from './clock.mjs';

/**
 * Waits (15 s at most) until the server `proc` started answers `GET <base>/healthz` with a 2xx; stops it and
 * throws with the tail of its output when it exits first or never answers.
 */
export async function awaitHealthz(proc, base, kind) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!proc.alive) throw new Error(`${kind} server exited at start: ${proc.tail()}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet: retry until the deadline
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${kind} server did not answer /healthz in 15 s: ${proc.tail()}`);
    }
    await sleep(100);
  }
}
