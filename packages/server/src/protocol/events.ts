import type { JsonObject } from '@agentcast/client';
import { z } from 'zod';
import { formatIssues, issueMessage } from './issues.js';
import { RESERVED_EVENT_TYPES } from './server-frame-type.js';

/** Event types published outside the golden path must match this (docs/protocol.md §3). */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;

/** Users, runs and idempotency keys are 1..128 characters (docs/protocol.md §2, §6). */
export const ID_MAX_LENGTH = 128;

/**
 * Event `data` nests objects and arrays at most this deep, `data` itself being level 1 (docs/protocol.md
 * B). Far above any real payload, far below the depth at which serialising overflows the stack.
 */
export const MAX_DATA_DEPTH = 64;

/** Why an id with a lone surrogate is refused (docs/protocol.md B). */
export const ILL_FORMED_ID_MESSAGE = 'must be well-formed UTF-16 (no lone surrogates)';

/** At most this many events in one `POST /v1/publish` batch (docs/protocol.md §8). */
export const MAX_BATCH_EVENTS = 500;

/** The event types with a required `data` shape (docs/protocol.md §3). */
export const EventType = {
  AgentStarted: 'agent_started',
  AgentThinking: 'agent_thinking',
  ToolExecuting: 'tool_executing',
  ToolCompleted: 'tool_completed',
  AgentCompleted: 'agent_completed',
  StreamChunk: 'stream_chunk',
  Notification: 'notification',
  ApprovalRequested: 'approval_requested',
  ApprovalResolved: 'approval_resolved',
} as const;

/**
 * The decisions an approval is resolved with (docs/protocol.md G): a person's `approved` or `denied`, the
 * approval timeout's `expired`, the run ending first's `cancelled`.
 */
export const APPROVAL_DECISIONS = ['approved', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];

/** Who resolved an approval: a person, the approval timeout, or the run's ending. */
export const APPROVAL_RESOLVERS = ['user', 'timeout', 'run'] as const;
export type ApprovalResolver = (typeof APPROVAL_RESOLVERS)[number];

/**
 * Types the gateway stores for a run's approvals itself (docs/protocol.md G): no publish may carry one and
 * no agent may yield one (an agent asks with `ctx.approval()`), or anyone could fake a question or an answer.
 */
export const APPROVAL_EVENT_TYPES: ReadonlySet<string> = new Set(['approval_requested', 'approval_resolved']);

export type KnownEventType = (typeof EventType)[keyof typeof EventType];

export { type JsonObject, RunStatus } from '@agentcast/client';

/**
 * Whether `text` is well-formed UTF-16: no lone surrogate. Ids become Redis keys, and ioredis writes a
 * lone surrogate as U+FFFD, so `victim\ud800` and `victim\ufffd` would share one user's keys.
 * (`String.prototype.isWellFormed` is ES2024, in Node since 20; the project's lib is ES2023.)
 */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** `text` with each lone surrogate replaced by U+FFFD, as its UTF-8 bytes carry it (`toWellFormed`, ES2024). */
export function toWellFormed(text: string): string {
  return (text as string & { toWellFormed(): string }).toWellFormed();
}

/** An object of Object.prototype, as JSON.parse makes them: what the hand checks of events accept. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Users, runs, threads, message and idempotency keys: 1..128 characters, well-formed (docs/protocol.md B). */
export const idSchema = z.string().min(1).max(ID_MAX_LENGTH).refine(isWellFormed, ILL_FORMED_ID_MESSAGE);
const jsonObject = z.record(z.string(), z.unknown());

/**
 * Whether `value` nests objects or arrays more than `levels` deep (an object or array `value` is level 1).
 * Bounded recursion: at most `levels + 1` frames whatever the input, so it cannot overflow the stack
 * itself; it stops at the first branch that is too deep (a cycle counts as too deep). It visits every
 * enumerable key, inherited ones too: never fewer values than JSON.stringify serialises. Runs on every
 * event: primitives are skipped without a call.
 */
export function nestsDeeperThan(value: unknown, levels: number): boolean {
  return typeof value === 'object' && value !== null && deeperThan(value, levels);
}

function deeperThan(value: object, levels: number): boolean {
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item === 'object' && item !== null && deeperThan(item, levels - 1)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item === 'object' && item !== null && deeperThan(item, levels - 1)) return true;
  }
  return false;
}

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
  approval_requested: z.looseObject({
    approval_id: idSchema,
    tool_name: z.string().min(1),
    tool_args: jsonObject,
    message: z.string(),
    expires_at: z.string(),
  }),
  approval_resolved: z.looseObject({
    approval_id: idSchema,
    decision: z.enum(APPROVAL_DECISIONS),
    reason: z.string().optional(),
    by: z.enum(APPROVAL_RESOLVERS),
  }),
};

/** An answer to an approval (docs/protocol.md G). */
export interface ApprovalAnswer {
  readonly decision: ApprovalDecision;
  readonly reason?: string | undefined;
  readonly by: ApprovalResolver;
  /** The answer's idempotency key (the frame `id` or `Idempotency-Key`): a repeat is a duplicate. */
  readonly key?: string | undefined;
}

/** The one `approval_resolved` of an approval of run `runId` (docs/protocol.md G). */
export function approvalResolvedEvent(runId: string, approvalId: string, answer: ApprovalAnswer): NewEvent {
  return {
    type: EventType.ApprovalResolved,
    run_id: runId,
    data: {
      approval_id: approvalId,
      decision: answer.decision,
      ...(answer.reason === undefined ? {} : { reason: answer.reason }),
      by: answer.by,
    },
  };
}

/**
 * What travels with an event besides its data (docs/protocol.md D, "Trace context"): the W3C
 * `traceparent` of the request that published it, so one trace id follows an agent step from the backend
 * to the screen.
 */
export interface EventMeta {
  readonly traceparent: string;
}

/** An event before the engine stored it: what publishers and agents produce. */
export interface NewEvent {
  readonly type: string;
  readonly run_id?: string | undefined;
  readonly data: JsonObject;
  /** Set by the gateway (never by a publish body): the publish request's trace context. */
  readonly meta?: EventMeta | undefined;
}

/** An event as stored and delivered: `seq` is per user, gap-free within `epoch` (docs/protocol.md §3, §4). */
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

/**
 * Checked once the common fields parsed (an event with a failing field is refused anyway): the type is not
 * one of the server's own frame types (docs/protocol.md §3), `data` is at most {@link MAX_DATA_DEPTH}
 * levels deep (B), and golden-path types carry their `data` fields (§3). One check for all three: it runs
 * on every published event.
 */
export function refineEventData(
  ev: { readonly type: string; readonly data: JsonObject },
  ctx: z.RefinementCtx,
): void {
  if (RESERVED_EVENT_TYPES.has(ev.type)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${ev.type}" is reserved for the gateway's own frames`,
      path: ['type'],
    });
  }
  if (APPROVAL_EVENT_TYPES.has(ev.type)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${ev.type}" is stored by the gateway for a run's approval (an agent asks with ctx.approval())`,
      path: ['type'],
    });
  }
  if (nestsDeeperThan(ev.data, MAX_DATA_DEPTH)) {
    ctx.addIssue({ code: 'custom', message: `nested deeper than ${MAX_DATA_DEPTH} levels`, path: ['data'] });
    return; // its fields are not worth reading
  }
  // Own keys only: `constructor` is a valid custom type, and `toString` reaches here too (zod runs this
  // refinement even when the type failed its pattern); neither may find Object.prototype's members.
  if (typeof ev.type !== 'string' || !Object.hasOwn(eventDataSchemas, ev.type)) return;
  const dataSchema = eventDataSchemas[ev.type as KnownEventType];
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

/** Golden-path types whose `data` rule {@link fastEventFields} checks itself: one string field each. */
const FAST_DATA_STRING_FIELD: ReadonlyMap<string, string> = new Map([
  ['stream_chunk', 'text'],
  ['agent_thinking', 'reasoning'],
]);

/**
 * An event's own fields checked by hand, as {@link newEventSchema} would parse them: `{ type, runId, data }`,
 * or undefined when the event is invalid or simply not of the common shape (an object not made by JSON, a
 * golden-path type with a richer `data` rule): then the schema decides, and gives the message. Step by step
 * what the schema does: `type` matching EVENT_TYPE_PATTERN, `run_id` absent or an id, `data` absent (`{}`)
 * or a plain object, copied as zod's record copies it (own enumerable string keys, `__proto__` skipped),
 * then refineEventData's rules on the copy. About ten times cheaper than zod: every published, streamed or
 * agent event goes through it (test/unit/protocol/publish-fast-path.test.ts compares both ways).
 */
export function fastEventFields(
  ev: Readonly<Record<string, unknown>>,
): { readonly type: string; readonly runId: string | undefined; readonly data: JsonObject } | undefined {
  const type = ev.type;
  if (typeof type !== 'string' || !EVENT_TYPE_PATTERN.test(type)) return undefined;
  if (RESERVED_EVENT_TYPES.has(type) || APPROVAL_EVENT_TYPES.has(type)) return undefined;
  const runId = ev.run_id;
  if (runId !== undefined && !isFastId(runId)) return undefined;
  const data = fastRecord(ev.data);
  if (data === undefined || nestsDeeperThan(data, MAX_DATA_DEPTH)) return undefined;
  if (Object.hasOwn(eventDataSchemas, type)) {
    const field = FAST_DATA_STRING_FIELD.get(type);
    if (field === undefined || typeof data[field] !== 'string') return undefined;
  }
  return { type, runId, data };
}

/** An id as {@link idSchema} accepts it. */
export function isFastId(value: unknown): value is string {
  return (
    typeof value === 'string' && value.length >= 1 && value.length <= ID_MAX_LENGTH && isWellFormed(value)
  );
}

/**
 * `data` as `z.record(z.string(), z.unknown()).default({})` outputs it: `{}` when absent; for an object of
 * Object.prototype without an own `constructor` (zod's plain-object test then passes), a copy of its own
 * keys without `__proto__`. Undefined for anything else (a symbol or non-enumerable key, another
 * prototype): JSON never makes those, and the schema decides.
 */
function fastRecord(value: unknown): JsonObject | undefined {
  if (value === undefined) return {};
  if (!isPlainObject(value)) return undefined;
  if (Object.hasOwn(value, 'constructor') || Object.getOwnPropertySymbols(value).length > 0) return undefined;
  // zod copies the own enumerable keys (Reflect.ownKeys, filtered): for-in gives those, in the same order,
  // plus inherited enumerable ones, skipped here (Object.prototype has none unless someone added one).
  const copy: Record<string, unknown> = {};
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (key === '__proto__' || !Object.hasOwn(record, key)) continue;
    copy[key] = record[key];
  }
  return copy as JsonObject;
}

/**
 * Validates one event an agent yields or a backend publishes (docs/protocol.md §3): the common event by
 * hand ({@link fastEventFields}), anything else by the schema, which gives the message.
 */
export function parseNewEvent(input: unknown, pathPrefix = ''): ParseOutcome<NewEvent> {
  if (isPlainObject(input)) {
    const fields = fastEventFields(input);
    if (fields !== undefined) {
      // As the schema outputs it: a run_id key only where the input has one.
      const { type, runId, data } = fields;
      const keyed = Object.hasOwn(input, 'run_id');
      return { ok: true, value: keyed ? { type, run_id: runId, data } : { type, data } };
    }
  }
  return parseNewEventWithSchema(input, pathPrefix);
}

/** {@link parseNewEvent} by the schema alone: the reference its fast path is tested against. */
export function parseNewEventWithSchema(input: unknown, pathPrefix = ''): ParseOutcome<NewEvent> {
  const parsed = newEventSchema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, message: formatIssues(parsed.error, pathPrefix) };
}

/**
 * The wire form of an event (docs/protocol.md §3). Built once per event and shared by every
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
    meta: ev.meta,
  });
}
