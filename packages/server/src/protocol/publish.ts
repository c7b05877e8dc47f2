import { z } from 'zod';
import type { ParseOutcome } from './events.js';
import {
  eventFields,
  fastEventFields,
  idSchema,
  isFastId,
  isPlainObject,
  MAX_BATCH_EVENTS,
  type NewEvent,
  parseNewEvent,
  refineEventData,
} from './events.js';
import { formatIssues } from './issues.js';

/** One event addressed to one user, as `POST /v1/publish` takes it (docs/protocol.md §8). */
export interface PublishItem {
  readonly userId: string;
  readonly event: NewEvent;
}

// One object schema (not an intersection with the event schema): each event is parsed once. Exported for
// the OpenAPI document (openapi/route-table.ts), which is generated from these very schemas.
export const publishEventSchema = z
  .object({ user_id: idSchema, ...eventFields })
  .superRefine(refineEventData);
export const publishBatchSchema = z.object({
  events: z.array(publishEventSchema).min(1).max(MAX_BATCH_EVENTS),
});

type PublishEvent = z.infer<typeof publishEventSchema>;

function toItem(e: PublishEvent): PublishItem {
  return { userId: e.user_id, event: { type: e.type, run_id: e.run_id, data: e.data } };
}

/**
 * Validates a publish body: one event or `{"events":[…]}` (at most 500). The message names the failing
 * field (`events.3.data.tool_name: required`), so a backend can fix its request.
 *
 * The common body (events of a custom type, `stream_chunk` or `agent_thinking`, plain JSON objects) is
 * checked by {@link fastPublishItem} first, about ten times cheaper than zod on the publish path; anything
 * it does not accept goes to the schemas, which give the answer and its message. It accepts only what the
 * schemas accept, with the same value: test/unit/protocol/publish-fast-path.test.ts compares both.
 */
export function parsePublishBody(body: unknown): ParseOutcome<PublishItem[]> {
  const fast = fastPublishBody(body);
  return fast === undefined ? parsePublishBodyWithSchemas(body) : { ok: true, value: fast };
}

/** {@link parsePublishBody} by the zod schemas alone: the reference its fast path is tested against. */
export function parsePublishBodyWithSchemas(body: unknown): ParseOutcome<PublishItem[]> {
  if (typeof body === 'object' && body !== null && 'events' in body) {
    const parsed = publishBatchSchema.safeParse(body);
    return parsed.success
      ? { ok: true, value: parsed.data.events.map(toItem) }
      : { ok: false, message: formatIssues(parsed.error) };
  }
  const parsed = publishEventSchema.safeParse(body);
  return parsed.success
    ? { ok: true, value: [toItem(parsed.data)] }
    : { ok: false, message: formatIssues(parsed.error) };
}

/** The items of a body {@link fastPublishItem} accepts every event of, else undefined (ask the schemas). */
function fastPublishBody(body: unknown): PublishItem[] | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  if (!('events' in body)) {
    const item = fastPublishItem(body);
    return item === undefined ? undefined : [item];
  }
  if (Array.isArray(body)) return undefined;
  const events = (body as { readonly events: unknown }).events;
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_BATCH_EVENTS) return undefined;
  const items: PublishItem[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const item = fastPublishItem(events[i]);
    if (item === undefined) return undefined;
    items[i] = item;
  }
  return items;
}

/**
 * One event of a publish body checked by hand, as {@link publishEventSchema} would parse it: the item, or
 * undefined when the event is invalid or simply not of the common shape (see {@link fastEventFields}): then
 * the schema decides. `user_id` an id, then the event's own fields.
 */
function fastPublishItem(input: unknown): PublishItem | undefined {
  if (!isPlainObject(input)) return undefined;
  const userId = input.user_id;
  if (!isFastId(userId)) return undefined;
  const fields = fastEventFields(input);
  if (fields === undefined) return undefined;
  return { userId, event: { type: fields.type, run_id: fields.runId, data: fields.data } };
}

/**
 * Validates one event for one user given from code (`gateway.publish()`), by the rules of one HTTP publish:
 * the user id first (`user_id: …`), then the event.
 */
export function parsePublishItem(userId: unknown, event: unknown): ParseOutcome<PublishItem> {
  const user = idSchema.safeParse(userId);
  if (!user.success) return { ok: false, message: formatIssues(user.error, 'user_id') };
  const parsed = parseNewEvent(event);
  return parsed.ok ? { ok: true, value: { userId: user.data, event: parsed.value } } : parsed;
}

/** An `idempotency_key` of a streamed publish line, as the `Idempotency-Key` header (docs/protocol.md D). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** One line of a streamed publish (docs/protocol.md D, "Streamed publish"): the event and its own key. */
export interface PublishLine extends PublishItem {
  /** The line's `idempotency_key`, when it has one. */
  readonly key?: string | undefined;
}

/**
 * Validates one line of a streamed publish: a single event of the JSON path's shape (`{"user_id","type",
 * "run_id"?,"data"?}`, never `{"events":[…]}`) plus an optional `idempotency_key`. Same rules, same
 * messages as {@link parsePublishBody}, so a backend fixes a bad line as it fixes a bad request.
 */
export function parsePublishLine(json: unknown): ParseOutcome<PublishLine> {
  return parseLine(json, true);
}

/** {@link parsePublishLine} by the zod schemas alone: the reference its fast path is tested against. */
export function parsePublishLineWithSchemas(json: unknown): ParseOutcome<PublishLine> {
  return parseLine(json, false);
}

/**
 * One line: its own checks, then the event. With `fast`, the common event is checked by hand as a publish
 * body's events are ({@link fastPublishItem}, which reads only the event's fields), and anything it does
 * not accept goes to the schema, which gives the answer and its message.
 */
function parseLine(json: unknown, fast: boolean): ParseOutcome<PublishLine> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, message: 'must be one event object {"user_id","type","data"}' };
  }
  const key = (json as Record<string, unknown>).idempotency_key;
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key))) {
    return { ok: false, message: 'idempotency_key: must be 1..128 visible ASCII characters (no spaces)' };
  }
  if ('events' in json) return { ok: false, message: 'events: one event per line, not a batch' };
  const item = fast ? fastPublishItem(json) : undefined;
  if (item !== undefined) return { ok: true, value: { userId: item.userId, event: item.event, key } };
  const { idempotency_key: _key, ...event } = json as Record<string, unknown>;
  const parsed = publishEventSchema.safeParse(event);
  if (!parsed.success) return { ok: false, message: formatIssues(parsed.error) };
  return { ok: true, value: { ...toItem(parsed.data), key } };
}
