import type { NewEvent, RunStatus } from '../protocol/events.js';
import { EventType, parseNewEvent, RunStatus as RunStatuses, runErrorSchema } from '../protocol/events.js';

/** What the runtime does with one value an agent yielded. */
export type Admission =
  /** Store it. */
  | { readonly kind: 'publish'; readonly event: NewEvent }
  /** Store it and end the run: it is the run's one `agent_completed` (docs/protocol.md §3). */
  | {
      readonly kind: 'end';
      readonly event: NewEvent;
      readonly status: RunStatus;
      readonly errorCode: string | undefined;
    }
  /** Ignore it; `reason` is for debug logs. */
  | { readonly kind: 'drop'; readonly reason: string }
  /** End the run as failed / INVALID_EVENT with `message`. */
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * Decides what happens to a value an agent yielded. Pure. Validates it with the protocol schema
 * (docs/protocol.md §3) after stamping the run's `run_id`, so an agent can neither forget nor forge it.
 * `agent_started` is dropped: the runtime already published the run's one `agent_started`.
 */
export function admitAgentEvent(value: unknown, runId: string): Admission {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', message: 'agent yielded a value that is not an event object { type, data }' };
  }
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (type === EventType.AgentStarted) {
    return { kind: 'drop', reason: 'agent_started is published by the runtime' };
  }
  const parsed = parseNewEvent({ type, run_id: runId, data });
  if (!parsed.ok) {
    const label = typeof type === 'string' ? ` ${type.slice(0, 64)}` : '';
    return { kind: 'invalid', message: `agent yielded an invalid${label} event: ${parsed.message}` };
  }
  if (parsed.value.type === EventType.AgentCompleted) {
    const { status, error } = parsed.value.data;
    const runError = runErrorSchema.safeParse(error);
    return {
      kind: 'end',
      event: parsed.value,
      status: isRunStatus(status) ? status : RunStatuses.Failed,
      errorCode: runError.success ? runError.data.code : undefined,
    };
  }
  return { kind: 'publish', event: parsed.value };
}

const RUN_STATUSES: ReadonlySet<unknown> = new Set(Object.values(RunStatuses));

function isRunStatus(value: unknown): value is RunStatus {
  return RUN_STATUSES.has(value);
}
