import { z } from 'zod';
import { formatIssues, issueMessage } from './issues.js';

/** Event types published outside the golden path must match this (PROTOCOL.md §3). */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;

/** Users, runs and idempotency keys are 1..128 characters (PROTOCOL.md §2, §6). */
export const ID_MAX_LENGTH = 128;

/** At most this many events in one `POST /v1/publish` batch (PROTOCOL.md §8). */
export const MAX_BATCH_EVENTS = 500;

/** The event types with a required `data` shape (PROTOCOL.md §3). */
export const EventType = {
  AgentStarted: 'agent_started',
  AgentThinking: 'agent_thinking',
  ToolExecuting: 'tool_executing',
  ToolCompleted: 'tool_completed',
  AgentCompleted: 'agent_completed',
  StreamChunk: 'stream_chunk',
  Notification: 'notification',
} as const;

export type KnownEventType = (typeof EventType)[keyof typeof EventType];

/** How a run ended; exactly one `agent_completed` per run carries it (PROTOCOL.md §3). */
export const RunStatus = {
  Succeeded: 'succeeded',
  Failed: 'failed',
  Cancelled: 'cancelled',
  TimedOut: 'timed_out',
} as const;

export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** A JSON object; event `data` is always one. */
export type JsonObject = { [key: string]: unknown };

export const idSchema = z.string().min(1).max(ID_MAX_LENGTH);
const jsonObject = z.record(z.string(), z.unknown());
const present = z.unknown().refine((v) => v !== undefined, { message: 'required' });

/** Why a run did not succeed; set on `agent_completed` whenever status is not `succeeded`. */
export const runErrorSchema = z.object({ code: z.string().min(1).max(64), message: z.string().max(4096) });
export type RunError = z.infer<typeof runErrorSchema>;

const agentCompletedData = z
  .looseObject({
    status: z.enum(['succeeded', 'failed', 'cancelled', 'timed_out']),
    final_response: z.string().nullable(),
    error: runErrorSchema.optional(),
  })
  .refine((d) => d.status === 'succeeded' || d.error !== undefined, {
    message: 'required when status is not succeeded',
    path: ['error'],
  });

/** `data` schemas of the golden-path types; other types only need `data` to be an object. */
export const eventDataSchemas: Readonly<Record<KnownEventType, z.ZodType<JsonObject>>> = {
  agent_started: z.looseObject({ agent_name: z.string().min(1), task_description: z.string() }),
  agent_thinking: z.looseObject({ reasoning: z.string() }),
  tool_executing: z.looseObject({
    tool_name: z.string().min(1),
    tool_args: jsonObject,
    execution_id: idSchema,
  }),
  tool_completed: z.looseObject({
    tool_name: z.string().min(1),
    execution_id: idSchema,
    success: z.boolean(),
    results: present,
    duration_ms: z.number().nonnegative(),
  }),
  agent_completed: agentCompletedData,
  stream_chunk: z.looseObject({ text: z.string() }),
  notification: jsonObject,
};

/** An event before the engine stored it: what publishers and agents produce. */
export interface NewEvent {
  readonly type: string;
  readonly run_id?: string | undefined;
  readonly data: JsonObject;
}

/** An event as stored and delivered: `seq` is per user, gap-free within `epoch` (PROTOCOL.md §3, §4). */
export interface StoredEvent extends NewEvent {
  readonly seq: number;
  readonly epoch: string;
  /** ISO-8601 time the engine stored it. */
  readonly ts: string;
}

/** The fields of an event; publish bodies extend them with `user_id` (one object schema, no intersection). */
export const eventFields = {
  type: z.string().regex(EVENT_TYPE_PATTERN, `must match ${EVENT_TYPE_PATTERN.source}`),
  run_id: idSchema.optional(),
  data: jsonObject.default({}),
};

/** §3: golden-path types must carry their `data` fields; checked after the common fields parsed. */
export function refineEventData(
  ev: { readonly type: string; readonly data: JsonObject },
  ctx: z.RefinementCtx,
): void {
  const dataSchema = (eventDataSchemas as Record<string, z.ZodType<JsonObject> | undefined>)[ev.type];
  if (dataSchema === undefined) return;
  const parsed = dataSchema.safeParse(ev.data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: 'custom', message: issueMessage(issue), path: ['data', ...issue.path] });
    }
  }
}

export const newEventSchema = z.object(eventFields).superRefine(refineEventData);

/** Result of validating an event: a typed value or a message naming every failing field. */
export type ParseOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

/** Validates one event an agent yields or a backend publishes (PROTOCOL.md §3). */
export function parseNewEvent(input: unknown, pathPrefix = ''): ParseOutcome<NewEvent> {
  const parsed = newEventSchema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, message: formatIssues(parsed.error, pathPrefix) };
}

/**
 * The wire form of an event (PROTOCOL.md §3). Built once per event and shared by every
 * connection of the user: never serialise per connection.
 */
export function encodeEvent(ev: StoredEvent): string {
  return JSON.stringify({
    type: ev.type,
    seq: ev.seq,
    epoch: ev.epoch,
    ts: ev.ts,
    run_id: ev.run_id,
    data: ev.data,
  });
}
