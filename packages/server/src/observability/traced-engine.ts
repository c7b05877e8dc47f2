import type { Engine } from '../engine/engine.js';
import type { NewEvent } from '../protocol/events.js';
import type { Tracing } from './tracing.js';

/**
 * The engine with an `agentcast.append` span around each append (docs/deploy.md, "Tracing"), continuing
 * the trace of the events' `meta.traceparent` (appends of events without one are not traced). Used only when tracing is on; every other call, and
 * every property, is the engine's own.
 */
export function traceAppends(engine: Engine, tracing: Tracing): Engine {
  const traced: Pick<Engine, 'append' | 'appendBatch' | 'appendBatchOnce'> = {
    append: (userId, event, fence) =>
      within(tracing, event, { events: 1, runId: event.run_id }, () => engine.append(userId, event, fence)),
    appendBatch: (items) =>
      within(tracing, items[0]?.event, { events: items.length }, () => engine.appendBatch(items)),
    appendBatchOnce: (items, key) =>
      within(tracing, items[0]?.event, { events: items.length }, () => engine.appendBatchOnce(items, key)),
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'append' || prop === 'appendBatch' || prop === 'appendBatchOnce') return traced[prop];
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      // Methods run on the engine itself (its private fields), bound once.
      let fn = bound.get(prop);
      if (fn === undefined) {
        fn = value.bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
}

async function within<T>(
  tracing: Tracing,
  first: NewEvent | undefined,
  info: { events: number; runId?: string | undefined },
  append: () => Promise<T>,
): Promise<T> {
  const parent = first?.meta?.traceparent;
  // An event without a trace (published from code, not through POST /v1/publish or a run) starts none.
  if (parent === undefined) return append();
  const span = tracing.start('agentcast.append', parent, 'internal', {
    'agentcast.events': info.events,
    ...(info.runId !== undefined && { 'agentcast.run_id': info.runId }),
  });
  try {
    const result = await append();
    span.end();
    return result;
  } catch (error) {
    span.end(error);
    throw error;
  }
}
