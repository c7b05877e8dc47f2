import { z } from 'zod';
import {
  APPROVAL_DECISIONS,
  EVENT_TYPE_PATTERN,
  eventFields,
  ID_MAX_LENGTH,
  ILL_FORMED_ID_MESSAGE,
  idSchema,
  isWellFormed,
} from './events.js';
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

// ---- Path parameters, queries and headers ----

const ID_PARAM_MESSAGE = `must be 1..${ID_MAX_LENGTH} characters`;
const idParam = (what: string) =>
  z
    .string({ error: ID_PARAM_MESSAGE })
    .min(1, { error: ID_PARAM_MESSAGE })
    .max(ID_MAX_LENGTH, { error: ID_PARAM_MESSAGE })
    .refine(isWellFormed, { error: ILL_FORMED_ID_MESSAGE })
    .meta({ description: `${what}; 1..${ID_MAX_LENGTH} characters` });

/** A count in a query: decimal digits, read as a number (docs/protocol.md D). */
const countParam = (description: string) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a non-negative integer' })
    .transform(Number)
    .pipe(z.number().max(Number.MAX_SAFE_INTEGER, { error: `must be at most ${Number.MAX_SAFE_INTEGER}` }))
    .meta({ description });

export const userPathSchema = z.object({ user_id: idParam('The user, percent-encoded') });
export const runPathSchema = z.object({ run_id: idParam('The run, percent-encoded') });
export const approvalPathSchema = z.object({ approval_id: idParam('The approval, percent-encoded') });

/** `GET /v1/users/:user_id/history` (docs/protocol.md D); `limit` is also at most `--history-size`. */
export const historyQuerySchema = z.object({
  since: countParam('Events after this seq; default 0.').optional(),
  limit: countParam('At most this many events; default and maximum `--history-size`.').optional(),
  epoch: z
    .string()
    .meta({ description: "The epoch `since` is in; default the user's current one." })
    .optional(),
});

/** The user a backend names with the API key on a user's routes (docs/protocol.md F, G). */
const actingUser = z
  .string()
  .meta({
    description: "With the API key: the user whose runs to read (required). With the user's JWT: ignored.",
  })
  .optional();

/** `GET /v1/runs` (docs/protocol.md F); `limit` is also at most `--run-snapshots-per-user`. */
export const runsQuerySchema = z.object({
  user_id: actingUser,
  state: z
    .enum(['active', 'recent'], { error: 'must be "active" or "recent"' })
    .meta({ description: 'Default `recent`.' })
    .optional(),
  limit: countParam('At most this many runs; default 20, at most `--run-snapshots-per-user`.')
    .pipe(z.number().min(1, { error: 'must be at least 1' }))
    .optional(),
  thread_id: idParam('Only the runs of this thread').optional(),
});
export const actingUserQuerySchema = z.object({ user_id: actingUser });
/** `GET /v1/approvals` (docs/protocol.md G). */
export const approvalsQuerySchema = z.object({
  user_id: actingUser,
  state: z
    .literal('pending', { error: 'must be "pending"' })
    .meta({ description: 'Default `pending`, the only state.' })
    .optional(),
});

/**
 * The resume point in the query of a WebSocket upgrade and of `GET /v1/events` (docs/protocol.md §4, A, H).
 * Unlike the API's queries, an empty value is malformed here (a client that meant to resume is told so).
 */
export const resumeQuerySchema = z.object({
  since: z
    .string()
    .regex(/^\d{1,15}$/, { error: 'must be a non-negative integer' })
    .meta({ description: 'Resume after this seq (docs/protocol.md §4); `Last-Event-ID` wins over it.' })
    .optional(),
  epoch: z
    .string()
    .min(1, { error: 'must be 1..128 characters' })
    .max(128, { error: 'must be 1..128 characters' })
    .meta({ description: 'The epoch of `since`.' })
    .optional(),
  catch_up: z
    .enum(CATCH_UP_MODES, { error: 'must be "snapshot" or "none"' })
    .meta({ description: 'How a resume catches up on runs (docs/protocol.md F).' })
    .optional(),
});

/** `GET /v1/events` (docs/protocol.md H): the resume point; the credential is the security scheme's. */
export const eventsQuerySchema = resumeQuerySchema;

export const demoTokenQuerySchema = z.object({
  user: idParam('The user the token is for; default `demo`').optional(),
});

/** `Idempotency-Key` of a publish or an approval's answer (docs/protocol.md D, G). */
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/)
  .meta({ description: '1..128 visible ASCII characters, no spaces.' });

/**
 * A query as an object, each parameter's first value. `emptyIsAbsent`: `since=` counts as no `since`,
 * as the API's queries have it (docs/protocol.md D).
 */
export function queryObject(query: URLSearchParams, emptyIsAbsent = true): Record<string, string> {
  const object: Record<string, string> = {};
  for (const [name, value] of query) {
    if (!Object.hasOwn(object, name) && !(emptyIsAbsent && value === '')) object[name] = value;
  }
  return object;
}

/**
 * A parsed query, or the message of a 400 `INVALID_MESSAGE` naming the first failing parameter
 * (`limit: must be a non-negative integer`) and the parameter's name. Pure, never throws.
 */
export function parseQuery<T>(
  schema: z.ZodType<T>,
  query: Record<string, string>,
):
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly field: string } {
  const parsed = schema.safeParse(query);
  if (parsed.success) return { ok: true, value: parsed.data };
  const first = parsed.error.issues[0];
  const field = String(first?.path[0] ?? '');
  return { ok: false, field, message: `${field}: ${first?.message ?? 'malformed'}` };
}

// ---- Answers ----

/**
 * `{"error":{"code","message"}}` (docs/protocol.md §8). Other top-level fields may be added: a streamed
 * publish's refusal also says what it stored (`accepted`, `results`).
 */
export const errorBodySchema = z.looseObject({
  error: z.object({
    code: z.string().meta({ description: 'A code of the HTTP error codes catalogue (docs/protocol.md).' }),
    message: z
      .string()
      .meta({ description: 'What went wrong, naming the failing field; never an internal address.' }),
  }),
});

export const publishResultSchema = z.object({
  results: z.array(
    z.looseObject({
      seq: z.int().positive(),
      epoch: z.string(),
      replayed: z
        .boolean()
        .optional()
        .meta({ description: 'Streamed publish: the line repeated a stored one.' }),
    }),
  ),
  accepted: z
    .int()
    .nonnegative()
    .optional()
    .meta({ description: 'Streamed publish: how many lines were stored.' }),
});

/**
 * One line of a streamed publish (`Content-Type: application/x-ndjson`, docs/protocol.md D): one event of
 * the JSON body's shape, never a batch, with an optional key of its own.
 */
export const publishLineSchema = z.object({
  user_id: idSchema,
  ...eventFields,
  idempotency_key: idempotencyKeySchema.optional().meta({
    description: "Stores the line at most once per key, API key and user (the header's syntax).",
  }),
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
  first_seq: z.int().nonnegative().optional(),
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
