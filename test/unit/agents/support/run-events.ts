import type { Engine } from '../../../../packages/server/src/engine/engine.js';
import type { StoredEvent } from '../../../../packages/server/src/protocol/events.js';

/**
 * Resolves with every event of `runId` (oldest first) once its `agent_completed` is stored. Subscribes
 * before reading history (§4), so nothing stored in between is missed. Rejects after `timeoutMs` saying
 * what it waited for.
 */
export async function runEvents(
  engine: Engine,
  userId: string,
  runId: string,
  timeoutMs = 5_000,
): Promise<StoredEvent[]> {
  const seen = new Map<number, StoredEvent>();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const add = (event: StoredEvent): void => {
    if (event.run_id !== runId) return;
    seen.set(event.seq, event);
    if (event.type === 'agent_completed') finish();
  };
  const unsubscribe = await engine.subscribe(userId, (event) => add(event));
  try {
    const history = await engine.history(userId, { since: 0, limit: 100_000 });
    if (history.kind === 'ok') for (const event of history.events) add(event);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no agent_completed for run ${runId} of ${userId} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await unsubscribe();
  }
  return [...seen.values()].sort((a, b) => a.seq - b.seq);
}

/** A promise with its resolve function, for agents that must wait on the test. */
export { deferred } from '../../../helpers/deferred.js';
