import { z } from 'zod';
import { APPROVAL_DECISIONS, EVENT_TYPE_PATTERN, ID_MAX_LENGTH, idSchema, isWellFormed } from './events.js';
import { formatIssues } from './issues.js';
import { CATCH_UP_MODES } from './resume-request.js';

/**
 * The bodies, queries and answers of the HTTP routes (docs/protocol.md §8, D, F, G, H) as zod schemas: the
 * routes validate with the request schemas, and the OpenAPI document (openapi/route-table.ts) is generated
 * from the same schemas, so the spec and the check cannot drift apart. Answer schemas are not checked at
 * run time; the contract test holds the gateway's answers to them.
 */

/** `POST /v1/approvals/:approval_id` (docs/protocol.md G). */
export const approvalBodySchema = z.object({
  decision: z.enum(['approve', 'deny']),
  reason: z.string().max(1000).optional(),
});

/** `POST /v1/runs/:run_id/cancel` with the API key (docs/protocol.md D): whose run. Other fields are ignored. */
export const cancelBodySchema = z.object({ user_id: idSchema });

/** A close reason fits a close frame: 123 bytes of UTF-8 (RFC 6455 §5.5). */
export const MAX_REASON_BYTES = 123;
const REASON_MESSAGE = `must be a string of 1..${MAX_REASON_BYTES} bytes of UTF-8`;
const REVOKE_BEFORE_MESSAGE = 'must be a non-negative integer (unix seconds)';

/** `POST /v1/users/:user_id/disconnect` (docs/protocol.md D, "Disconnecting a user"); an empty body is `{}`. */
export const disconnectBodySchema = z.strictObject({
  reason: z
    .string({ error: REASON_MESSAGE })
    .min(1, { error: REASON_MESSAGE })
    .refine((text) => new TextEncoder().encode(text).length <= MAX_REASON_BYTES && isWellFormed(text), {
      error: REASON_MESSAGE,
    })
    .optional()
    .meta({ description: `Shown as the close reason; at most ${MAX_REASON_BYTES} bytes of UTF-8.` }),
  revoke_before: z
    .int({ error: REVOKE_BEFORE_MESSAGE })
    .nonnegative({ error: REVOKE_BEFORE_MESSAGE })
    .optional()
    .meta({ description: 'Unix seconds: tokens issued before it are refused from now on.' }),
});
export type DisconnectBody = z.infer<typeof disconnectBodySchema>;

/**
 * Parses a disconnect body: the first failing field in the words of docs/protocol.md D
 * (`why: unknown field`, `reason: must be …`). Pure, never throws.
 */
export function parseDisconnectBody(
  json: unknown,
): { readonly ok: true; readonly value: DisconnectBody } | { readonly ok: false; readonly message: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, message: 'body: must be a JSON object {"reason"?, "revoke_before"?}' };
  }
  const parsed = disconnectBodySchema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const unknownKeys = parsed.error.issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknownKeys !== undefined) return { ok: false, message: `${unknownKeys.keys[0]}: unknown field` };
  const first = parsed.error.issues[0];
  return {
    ok: false,
    message: `${String(first?.path[0])}: ${first?.path[0] === 'reason' ? REASON_MESSAGE : REVOKE_BEFORE_MESSAGE}`,
  };
}

/** A parsed body, or the message of a 400 `INVALID_MESSAGE` naming the failing field. */
export function parseBody<T>(
  schema: z.ZodType<T>,
  json: unknown,
): { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string } {
  const parsed = schema.safeParse(json);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, message: formatIssues(parsed.error) };
}

// ---- Path parameters and queries (documented; the routes check them in http-api.ts) ----

const idParam = (what: string) =>
  z
    .string()
    .min(1)
    .max(ID_MAX_LENGTH)
    .meta({ description: `${what}, percent-encoded; 1..${ID_MAX_LENGTH} characters` });
const decimal = (description: string) => z.string().regex(/^\d+$/).meta({ description });

export const userPathSchema = z.object({ user_id: idParam('The user') });
export const runPathSchema = z.object({ run_id: idParam('The run') });
export const approvalPathSchema = z.object({ approval_id: idParam('The approval') });

export const historyQuerySchema = z.object({
  since: decimal('Events after this seq; default 0 (an empty value counts as absent).').optional(),
  limit: decimal('At most this many events; default and maximum `--history-size`.').optional(),
  epoch: z
    .string()
    .min(1)
    .max(128)
    .meta({ description: "The epoch `since` is in; default the user's current one." })
    .optional(),
});

/** The user a backend names with the API key on a user's routes (docs/protocol.md F, G). */
const actingUser = idParam(
  "With the API key: the user whose runs to read (required). With the user's JWT: ignored",
).optional();

export const runsQuerySchema = z.object({
  user_id: actingUser,
  state: z.enum(['active', 'recent']).meta({ description: 'Default `recent`.' }).optional(),
  thread_id: idParam('Only the runs of this thread').optional(),
  limit: decimal('At most this many runs; default 20, at most `--run-snapshots-per-user`.').optional(),
});
export const actingUserQuerySchema = z.object({ user_id: actingUser });
export const approvalsQuerySchema = z.object({
  user_id: actingUser,
  state: z.literal('pending').meta({ description: 'Default `pending`, the only state.' }).optional(),
});

export const eventsQuerySchema = z.object({
  ticket: z
    .string()
    .min(1)
    .meta({ description: 'A single-use ticket from POST /v1/tickets (instead of the Authorization header).' })
    .optional(),
  since: decimal('Resume after this seq (docs/protocol.md §4); `Last-Event-ID` wins over it.').optional(),
  epoch: z.string().min(1).max(128).meta({ description: 'The epoch of `since`.' }).optional(),
  catch_up: z
    .enum(CATCH_UP_MODES)
    .meta({ description: 'How a resume too old for history catches up (docs/protocol.md F).' })
    .optional(),
});

export const demoTokenQuerySchema = z.object({
  user: idParam('The user the token is for; default `demo`').optional(),
});

// ---- Answers ----

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().meta({ description: 'A code of the HTTP error codes catalogue (docs/protocol.md).' }),
    message: z
      .string()
      .meta({ description: 'What went wrong, naming the failing field; never an internal address.' }),
  }),
});

export const publishResultSchema = z.object({
  results: z.array(z.object({ seq: z.int().positive(), epoch: z.string() })),
});

const storedEventSchema = z.looseObject({
  type: z.string().regex(EVENT_TYPE_PATTERN),
  seq: z.int().positive(),
  epoch: z.string(),
  ts: z.string(),
  run_id: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

export const historySchema = z.object({
  epoch: z.string(),
  seq: z.int().nonnegative(),
  complete: z.boolean(),
  reset: z
    .string()
    .optional()
    .meta({ description: 'Why no events are given: the history since then is gone.' }),
  events: z.array(storedEventSchema),
});

export const statsSchema = z.record(z.string(), z.unknown());
export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({ status: z.literal('ready') });
export const notReadySchema = z.object({
  status: z.literal('unavailable'),
  reason: z.enum(['starting', 'draining', 'closed', 'engine_unavailable', 'keys_unavailable']),
  detail: z.string().optional().meta({ description: "The engine's own reason; only with the API key." }),
});

export const activeRunsSchema = z.object({
  runs: z.array(
    z.object({ run_id: z.string(), agent: z.string(), started_at: z.string(), node: z.string() }),
  ),
});

export const presenceSchema = z.object({
  user_id: z.string(),
  connections: z.int().nonnegative(),
  nodes: z.array(z.object({ server_id: z.string(), connections: z.int().positive() })),
  devices: z.array(
    z.object({
      conn_id: z.string(),
      server_id: z.string(),
      transport: z.string(),
      connected_at: z.string(),
      delivered_seq: z.int().nonnegative(),
      seen_seq: z.int().nonnegative(),
    }),
  ),
});

export const disconnectResultSchema = z.object({
  user_id: z.string(),
  status: z.literal('disconnecting'),
  revoke_before: z.int().nonnegative().optional(),
});

export const cancelResultSchema = z.object({ run_id: z.string(), status: z.enum(['cancelling', 'ended']) });

/** A run's snapshot (docs/protocol.md F); fields beyond these may be added. */
export const runSnapshotSchema = z.looseObject({
  run_id: z.string(),
  thread_id: z.string().optional(),
  agent: z.string().optional(),
  task: z.string().optional(),
  status: z.string(),
  started_at: z.string(),
  ended_at: z.string().optional(),
  text: z.string(),
  reasoning: z.string(),
  tools: z.array(z.looseObject({ execution_id: z.string(), tool_name: z.string() })),
  approvals: z.array(z.looseObject({ approval_id: z.string(), tool_name: z.string() })),
  last_seq: z.int().nonnegative(),
  epoch: z.string(),
  truncated: z.boolean(),
});
export const runSnapshotsSchema = z.object({ runs: z.array(runSnapshotSchema) });

export const pendingApprovalsSchema = z.object({
  approvals: z.array(
    z.looseObject({
      approval_id: z.string(),
      run_id: z.string(),
      tool_name: z.string(),
      tool_args: z.record(z.string(), z.unknown()),
      message: z.string(),
      expires_at: z.string(),
    }),
  ),
});
export const approvalResultSchema = z.object({
  approval_id: z.string(),
  decision: z.enum(APPROVAL_DECISIONS),
  duplicate: z.boolean(),
});

export const ticketSchema = z.object({
  ticket: z.string(),
  expires_in: z.int().positive().meta({ description: 'Seconds the ticket may be redeemed in.' }),
});
export const messageResultSchema = z.object({ run_id: z.string(), duplicate: z.boolean() });

export const demoTokenSchema = z.object({
  token: z.string(),
  user_id: z.string(),
  expires_in_s: z.int().positive(),
  default_agent: z.string(),
});

export const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({}),
  paths: z.looseObject({}),
});
