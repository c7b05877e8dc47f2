import { z } from 'zod';
import type { ParseOutcome } from './events.js';
import { idSchema, MAX_BATCH_EVENTS, type NewEvent, newEventSchema } from './events.js';
import { formatIssues } from './issues.js';

/** One event addressed to one user, as `POST /v1/publish` takes it (PROTOCOL.md §8). */
export interface PublishItem {
  readonly userId: string;
  readonly event: NewEvent;
}

const publishEventSchema = z.object({ user_id: idSchema }).and(newEventSchema);

const publishBodySchema = z.union([
  z.object({ events: z.array(publishEventSchema).min(1).max(MAX_BATCH_EVENTS) }),
  publishEventSchema,
]);

/**
 * Validates a publish body: one event or `{"events":[…]}` (at most 500). The message names the failing
 * field (`events.3.data.tool_name: required`), so a backend can fix its request.
 */
export function parsePublishBody(body: unknown): ParseOutcome<PublishItem[]> {
  const isBatch = typeof body === 'object' && body !== null && 'events' in body;
  const schema = isBatch ? publishBodySchema.options[0] : publishBodySchema.options[1];
  const parsed = schema.safeParse(body);
  if (!parsed.success) return { ok: false, message: formatIssues(parsed.error) };
  const list = 'events' in parsed.data ? parsed.data.events : [parsed.data];
  return {
    ok: true,
    value: list.map((e) => ({ userId: e.user_id, event: { type: e.type, run_id: e.run_id, data: e.data } })),
  };
}
