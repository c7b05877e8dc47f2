import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import { z } from 'zod';
import { messageBodySchema } from './frames.js';
import {
  actingUserQuerySchema,
  activeRunsSchema,
  approvalBodySchema,
  approvalPathSchema,
  approvalResultSchema,
  approvalsQuerySchema,
  cancelBodySchema,
  cancelResultSchema,
  demoTokenQuerySchema,
  demoTokenSchema,
  disconnectBodySchema,
  disconnectResultSchema,
  eventsQuerySchema,
  healthSchema,
  historyQuerySchema,
  historySchema,
  idempotencyKeySchema,
  messageResultSchema,
  notReadySchema,
  openApiDocumentSchema,
  pendingApprovalsSchema,
  presenceSchema,
  publishLineSchema,
  publishResultSchema,
  readySchema,
  runPathSchema,
  runSnapshotSchema,
  runSnapshotsSchema,
  runsQuerySchema,
  statsSchema,
  ticketSchema,
  userPathSchema,
} from './http-bodies.js';
import { publishBatchSchema, publishEventSchema } from './publish.js';

/**
 * THE table of the gateway's HTTP routes (docs/protocol.md D, "OpenAPI"). The OpenAPI document
 * (protocol/openapi.ts, served at `GET /v1/openapi.json`, written to docs/openapi.json by the build) and
 * the route templates of metrics and the access log (gateway/http-route.ts) are both derived from it.
 * A new edge adds its routes here, one entry each (docs/architecture.md, "Adding an HTTP route").
 */

/** How a caller proves who it is: the backend's API key, a user's JWT, or a single-use stream ticket. */
export type SecurityScheme = 'apiKey' | 'userJwt' | 'ticket';

/** An answer the route gives with a body of its own (not an error). */
export interface RouteAnswer {
  readonly description: string;
  /** JSON answers: the schema of the body. Absent for `text/*` answers. */
  readonly schema?: z.ZodType;
  /** Default `application/json`. */
  readonly contentType?: string;
  /** Headers the answer carries, by name: their description. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * One documented request, sent as is to a real gateway by the contract test
 * (test/integration/openapi-contract.test.ts), which checks the answer against `status`'s schema.
 */
export interface RouteExample {
  readonly name: string;
  readonly summary: string;
  /** The credential the example is sent with; `none` sends no Authorization header. */
  readonly auth: SecurityScheme | 'none';
  readonly path?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON body (sent as `application/json`), or `raw` text sent with `contentType`. */
  readonly body?: unknown;
  readonly raw?: { readonly text: string; readonly contentType: string };
  /** The status the gateway answers it with (on a fresh gateway, after the examples before it ran). */
  readonly status: number;
}

export interface HttpRouteSpec {
  readonly method: 'get' | 'post';
  /** OpenAPI path template: `/v1/users/{user_id}/history`. */
  readonly path: string;
  readonly operationId: string;
  readonly tag: 'publish' | 'users' | 'runs' | 'approvals' | 'browser' | 'operations' | 'demo';
  readonly summary: string;
  /** Markdown; names the docs/protocol.md section of record. */
  readonly description: string;
  /** Alternatives: any one of them is enough. Empty: no credential. */
  readonly security: readonly SecurityScheme[];
  readonly pathParams?: z.ZodObject;
  readonly query?: z.ZodObject;
  /** Optional request headers the route reads, by name; the schema's description documents each. */
  readonly headers?: Readonly<Record<string, z.ZodType>>;
  /** The body, by content type (the first is the usual one). */
  readonly body?: { readonly required: boolean; readonly content: Readonly<Record<string, z.ZodType>> };
  readonly answers: Readonly<Record<number, RouteAnswer>>;
  /** Error statuses (docs/protocol.md, Catalogue, "HTTP error codes") and the codes each may carry. */
  readonly errors: Readonly<Record<number, readonly string[]>>;
  readonly examples: readonly RouteExample[];
}

/** Every `/v1/*` route: a refused cross-origin request (D), a wrong method (D), a gateway bug (D). */
const API_ERRORS = { 403: ['FORBIDDEN'], 405: ['METHOD_NOT_ALLOWED'], 500: ['INTERNAL'] } as const;
const ENGINE_DOWN = { 503: ['UNAVAILABLE'] } as const;
const ID_ERRORS = { 400: ['INVALID_MESSAGE'] } as const;
const JSON_BODY_ERRORS = { 400: ['INVALID_JSON', 'INVALID_MESSAGE'], 413: ['PAYLOAD_TOO_LARGE'] } as const;
const UNAUTHORIZED = { 401: ['UNAUTHORIZED'] } as const;

export const HTTP_ROUTES: readonly HttpRouteSpec[] = [
  {
    method: 'post',
    path: '/v1/publish',
    operationId: 'publish',
    tag: 'publish',
    summary: 'Publish one event, or a batch of up to 500, to users',
    description:
      'Validated whole before anything is stored: one bad event refuses the batch, naming `events.<i>.<field>` (docs/protocol.md §8, D). ' +
      'A `202` means stored: delivered, or replayable until it expires. With `Idempotency-Key` a publish is stored at most once per key ' +
      'and API key within `--publish-idempotency-ttl-s`; a repeat answers the first `202` byte for byte (`Idempotent-Replayed: true`). ' +
      'With `Content-Type: application/x-ndjson` the body is written line by line, one event per line (with an optional ' +
      '`idempotency_key` of its own), each stored and delivered as it arrives; the `202` adds `accepted`, and a bad line ' +
      'stops the stream there, its refusal naming the line and carrying what was stored before it (docs/protocol.md D).',
    security: ['apiKey'],
    headers: {
      'Idempotency-Key': idempotencyKeySchema.meta({
        description:
          '1..128 visible ASCII characters: a retry with the same key and body stores nothing twice (D).',
      }),
      traceparent: z.string().meta({
        description: 'W3C trace context, carried with each event to the screen (D, "Trace context").',
      }),
    },
    body: {
      required: true,
      content: {
        'application/json': publishEventSchema.or(publishBatchSchema),
        'application/x-ndjson': publishLineSchema,
      },
    },
    answers: {
      202: {
        description: 'Stored: one `{seq, epoch}` per event, in the order sent.',
        schema: publishResultSchema,
        headers: { 'Idempotent-Replayed': '`true` on the repeat of a keyed publish.' },
      },
    },
    errors: {
      ...JSON_BODY_ERRORS,
      ...UNAUTHORIZED,
      409: ['IDEMPOTENCY_KEY_REUSED'],
      ...API_ERRORS,
      ...ENGINE_DOWN,
    },
    examples: [
      {
        name: 'one_event',
        summary: 'One event of a run',
        auth: 'apiKey',
        body: {
          user_id: 'u1',
          type: 'agent_started',
          run_id: 'r_1',
          data: { agent_name: 'docs', task_description: 'Find pages' },
        },
        status: 202,
      },
      {
        name: 'batch',
        summary: 'A batch, stored in order, all or nothing',
        auth: 'apiKey',
        headers: { 'Idempotency-Key': 'order-42-step-1' },
        body: {
          events: [
            { user_id: 'u1', type: 'agent_thinking', run_id: 'r_1', data: { reasoning: 'Looking it up' } },
            { user_id: 'u1', type: 'notification', data: { text: 'Your report is ready' } },
          ],
        },
        status: 202,
      },
      {
        name: 'invalid',
        summary: 'A field missing: 400 naming it',
        auth: 'apiKey',
        body: { user_id: 'u1', type: 'tool_executing', run_id: 'r_1', data: {} },
        status: 400,
      },
      {
        name: 'no_key',
        summary: 'Without the API key',
        auth: 'none',
        body: { user_id: 'u1', type: 'ping' },
        status: 401,
      },
    ],
  },
  {
    method: 'get',
    path: '/v1/users/{user_id}/history',
    operationId: 'getHistory',
    tag: 'users',
    summary: "A user's stored events, oldest first",
    description:
      '`since`, `limit` and `epoch` as in docs/protocol.md D; `reset` says why no events could be given.',
    security: ['apiKey'],
    pathParams: userPathSchema,
    query: historyQuerySchema,
    answers: { 200: { description: 'The events after `since`.', schema: historySchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'since',
        summary: 'Events after seq 0',
        auth: 'apiKey',
        path: { user_id: 'u1' },
        query: { since: '0', limit: '10' },
        status: 200,
      },
      {
        name: 'bad_limit',
        summary: 'A malformed limit',
        auth: 'apiKey',
        path: { user_id: 'u1' },
        query: { limit: 'ten' },
        status: 400,
      },
    ],
  },
  {
    method: 'get',
    path: '/v1/users/{user_id}/runs',
    operationId: 'getActiveRuns',
    tag: 'users',
    summary: "A user's active runs on every node",
    description: 'From the run registry every node shares, oldest first (docs/protocol.md D).',
    security: ['apiKey'],
    pathParams: userPathSchema,
    answers: { 200: { description: 'The active runs.', schema: activeRunsSchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      { name: 'runs', summary: "u1's active runs", auth: 'apiKey', path: { user_id: 'u1' }, status: 200 },
    ],
  },
  {
    method: 'get',
    path: '/v1/users/{user_id}/presence',
    operationId: 'getPresence',
    tag: 'users',
    summary: "A user's connections, per node and per device",
    description: 'docs/protocol.md D, "Presence". Also answers `HEAD`.',
    security: ['apiKey'],
    pathParams: userPathSchema,
    answers: { 200: { description: 'Where the user is connected.', schema: presenceSchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      { name: 'presence', summary: "u1's connections", auth: 'apiKey', path: { user_id: 'u1' }, status: 200 },
    ],
  },
  {
    method: 'post',
    path: '/v1/users/{user_id}/disconnect',
    operationId: 'disconnectUser',
    tag: 'users',
    summary: "Close a user's connections on every node, optionally revoking older tokens",
    description:
      'docs/protocol.md D, "Disconnecting a user": connections close with 4010. An empty body is `{}`.',
    security: ['apiKey'],
    pathParams: userPathSchema,
    body: { required: false, content: { 'application/json': disconnectBodySchema } },
    answers: { 202: { description: 'Every node was told.', schema: disconnectResultSchema } },
    errors: { ...JSON_BODY_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'disconnect',
        summary: 'Sign u2 out everywhere',
        auth: 'apiKey',
        path: { user_id: 'u2' },
        body: { reason: 'signed out', revoke_before: 1700000000 },
        status: 202,
      },
      {
        name: 'unknown_field',
        summary: 'A field the route does not take',
        auth: 'apiKey',
        path: { user_id: 'u2' },
        body: { why: 'x' },
        status: 400,
      },
    ],
  },
  {
    method: 'post',
    path: '/v1/runs/{run_id}/cancel',
    operationId: 'cancelRun',
    tag: 'runs',
    summary: 'Cancel a run, from the backend (API key) or by its user (JWT)',
    description:
      "With the API key the body names the user (docs/protocol.md D); with the user's JWT the body is ignored and only the user's own run " +
      "is cancelled (H). `202 cancelling` once delivery to the run's node is accepted, `200 ended` for a run that already ended, " +
      "`404` for an unknown run or another user's.",
    security: ['apiKey', 'userJwt'],
    pathParams: runPathSchema,
    body: { required: false, content: { 'application/json': cancelBodySchema } },
    answers: {
      200: { description: 'The run had already ended.', schema: cancelResultSchema },
      202: {
        description: 'The run is being cancelled; it ends with its one `agent_completed`.',
        schema: cancelResultSchema,
      },
    },
    errors: { ...JSON_BODY_ERRORS, ...UNAUTHORIZED, 404: ['NOT_FOUND'], ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'backend',
        summary: "The backend cancels u1's run",
        auth: 'apiKey',
        path: { run_id: 'r_unknown' },
        body: { user_id: 'u1' },
        status: 404,
      },
      {
        name: 'user',
        summary: 'The user cancels their own run',
        auth: 'userJwt',
        path: { run_id: 'r_unknown' },
        status: 404,
      },
      {
        name: 'no_user',
        summary: 'The API key without a user',
        auth: 'apiKey',
        path: { run_id: 'r_1' },
        body: {},
        status: 400,
      },
    ],
  },
  {
    method: 'get',
    path: '/v1/runs',
    operationId: 'listRuns',
    tag: 'runs',
    summary: "A user's run snapshots, most recently active first",
    description: "docs/protocol.md F. The user's JWT, or the API key with `?user_id=`.",
    security: ['userJwt', 'apiKey'],
    query: runsQuerySchema,
    answers: { 200: { description: 'The snapshots.', schema: runSnapshotsSchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'user',
        summary: 'The user reads their recent runs',
        auth: 'userJwt',
        query: { state: 'recent', limit: '5' },
        status: 200,
      },
      {
        name: 'backend',
        summary: "The backend reads u1's active runs",
        auth: 'apiKey',
        query: { user_id: 'u1', state: 'active' },
        status: 200,
      },
      {
        name: 'bad_state',
        summary: 'An unknown state',
        auth: 'userJwt',
        query: { state: 'old' },
        status: 400,
      },
    ],
  },
  {
    method: 'get',
    path: '/v1/runs/{run_id}',
    operationId: 'getRun',
    tag: 'runs',
    summary: "One run's snapshot",
    description: "docs/protocol.md F: `404` for an unknown run or another user's.",
    security: ['userJwt', 'apiKey'],
    pathParams: runPathSchema,
    query: actingUserQuerySchema,
    answers: { 200: { description: 'The run as it stands.', schema: runSnapshotSchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, 404: ['NOT_FOUND'], ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'user',
        summary: 'The run published above',
        auth: 'userJwt',
        path: { run_id: 'r_1' },
        status: 200,
      },
      {
        name: 'unknown',
        summary: 'An unknown run',
        auth: 'apiKey',
        path: { run_id: 'r_unknown' },
        query: { user_id: 'u1' },
        status: 404,
      },
    ],
  },
  {
    method: 'get',
    path: '/v1/approvals',
    operationId: 'listApprovals',
    tag: 'approvals',
    summary: "A user's approvals waiting for an answer",
    description: "docs/protocol.md G. The user's JWT, or the API key with `?user_id=`.",
    security: ['userJwt', 'apiKey'],
    query: approvalsQuerySchema,
    answers: { 200: { description: 'The pending approvals.', schema: pendingApprovalsSchema } },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'pending',
        summary: "The user's pending approvals",
        auth: 'userJwt',
        query: { state: 'pending' },
        status: 200,
      },
    ],
  },
  {
    method: 'post',
    path: '/v1/approvals/{approval_id}',
    operationId: 'answerApproval',
    tag: 'approvals',
    summary: 'Approve or deny what a run asked',
    description:
      'docs/protocol.md G: `200` for the answer that resolved it or its repeat (same `Idempotency-Key`: `duplicate: true`), ' +
      "`409 CONFLICT` naming the decision that won, `404` for another user's or an unknown approval.",
    security: ['userJwt', 'apiKey'],
    pathParams: approvalPathSchema,
    query: actingUserQuerySchema,
    headers: {
      'Idempotency-Key': idempotencyKeySchema.meta({
        description: '1..128 visible ASCII characters: a repeat answers `duplicate: true`.',
      }),
    },
    body: { required: true, content: { 'application/json': approvalBodySchema } },
    answers: {
      200: { description: 'The decision that resolved the approval.', schema: approvalResultSchema },
    },
    errors: {
      ...JSON_BODY_ERRORS,
      ...UNAUTHORIZED,
      404: ['NOT_FOUND'],
      409: ['CONFLICT'],
      ...API_ERRORS,
      ...ENGINE_DOWN,
    },
    examples: [
      {
        name: 'approve',
        summary: 'Approve (no such approval here: 404)',
        auth: 'userJwt',
        path: { approval_id: 'ap_unknown' },
        body: { decision: 'approve' },
        status: 404,
      },
      {
        name: 'bad_decision',
        summary: 'Neither approve nor deny',
        auth: 'userJwt',
        path: { approval_id: 'ap_1' },
        body: { decision: 'maybe' },
        status: 400,
      },
    ],
  },
  {
    method: 'post',
    path: '/v1/tickets',
    operationId: 'issueTicket',
    tag: 'browser',
    summary: 'A single-use ticket for `GET /v1/events?ticket=`',
    description: 'docs/protocol.md H: for EventSource, which cannot send an Authorization header.',
    security: ['userJwt'],
    answers: { 200: { description: 'The ticket.', schema: ticketSchema } },
    errors: { ...UNAUTHORIZED, ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      { name: 'ticket', summary: 'A ticket for u1', auth: 'userJwt', status: 200 },
      { name: 'no_token', summary: 'Without a JWT', auth: 'none', status: 401 },
    ],
  },
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'postMessage',
    tag: 'browser',
    summary: 'A `user_message` over HTTP: starts a run',
    description: 'docs/protocol.md H and §6: the same fields and the same idempotency by `id` as the frame.',
    security: ['userJwt'],
    body: { required: true, content: { 'application/json': messageBodySchema } },
    answers: {
      202: {
        description: 'The run started (or the one this `id` started before).',
        schema: messageResultSchema,
      },
    },
    errors: {
      ...JSON_BODY_ERRORS,
      ...UNAUTHORIZED,
      404: ['NOT_FOUND'],
      429: ['RATE_LIMITED'],
      ...API_ERRORS,
      ...ENGINE_DOWN,
    },
    examples: [
      {
        name: 'message',
        summary: 'Ask the default agent',
        auth: 'userJwt',
        body: { id: 'm_1', text: 'What is 6 * 7?' },
        status: 202,
      },
      { name: 'no_text', summary: 'Without text', auth: 'userJwt', body: { id: 'm_2' }, status: 400 },
    ],
  },
  {
    method: 'get',
    path: '/v1/events',
    operationId: 'streamEvents',
    tag: 'browser',
    summary: "The user's event stream as Server-Sent Events",
    description:
      'docs/protocol.md H: the same admission checks as a WebSocket upgrade (429, 503, 403), then the credential. ' +
      '`Last-Event-ID` resumes as `since`/`epoch` do. With `--allow-query-token`, `?token=<jwt>` is taken too.',
    security: ['userJwt', 'ticket'],
    query: eventsQuerySchema,
    headers: {
      'Last-Event-ID': z
        .string()
        .meta({ description: '`<epoch>:<seq>`, an id the stream wrote: resume after it.' }),
    },
    answers: {
      200: {
        description: 'The stream: `welcome`, then events, `: ping` heartbeats.',
        contentType: 'text/event-stream',
      },
    },
    errors: {
      400: ['BAD_REQUEST'],
      ...UNAUTHORIZED,
      403: ['FORBIDDEN'],
      405: ['METHOD_NOT_ALLOWED'],
      429: ['RATE_LIMITED'],
      500: ['INTERNAL'],
      503: ['UNAVAILABLE'],
    },
    examples: [
      {
        name: 'ticket',
        summary: 'EventSource with a ticket of POST /v1/tickets, resuming after seq 0',
        auth: 'ticket',
        query: { since: '0' },
        status: 200,
      },
      {
        name: 'bad_since',
        summary: 'A malformed resume point',
        auth: 'userJwt',
        query: { since: 'x' },
        status: 400,
      },
      { name: 'no_credential', summary: 'Neither a JWT nor a ticket', auth: 'none', status: 401 },
    ],
  },
  {
    method: 'post',
    path: '/v1/ag-ui',
    operationId: 'runAgUi',
    tag: 'browser',
    summary: 'AG-UI: a RunAgentInput starts a run, streamed back as AG-UI events',
    description:
      'docs/protocol.md I: the last user message starts a run as a `user_message` would (idempotent by its `id`); ' +
      'the answer is the run as AG-UI events over SSE, each with `id: <epoch>:<seq>`, until `RUN_FINISHED` or ' +
      "`RUN_ERROR`. The body is `@ag-ui/core`'s RunAgentInput, at most `--ag-ui-max-body-bytes`.",
    security: ['userJwt'],
    body: { required: true, content: { 'application/json': RunAgentInputSchema } },
    answers: {
      200: {
        description: 'The run as AG-UI events (`data: <json>` per event), `: ping` heartbeats.',
        contentType: 'text/event-stream',
      },
    },
    errors: {
      ...JSON_BODY_ERRORS,
      ...UNAUTHORIZED,
      404: ['NOT_FOUND'],
      429: ['RATE_LIMITED'],
      ...API_ERRORS,
      ...ENGINE_DOWN,
    },
    examples: [
      {
        name: 'ask',
        summary: 'Ask the default agent, as @ag-ui/client HttpAgent does',
        auth: 'userJwt',
        body: {
          threadId: 't_1',
          runId: 'client-run-1',
          messages: [{ id: 'm_ag_1', role: 'user', content: 'What is 6 * 7?' }],
          tools: [],
          context: [],
        },
        status: 200,
      },
      {
        name: 'no_user_message',
        summary: 'No user message to start a run from',
        auth: 'userJwt',
        body: { threadId: 't_1', runId: 'client-run-2', messages: [] },
        status: 400,
      },
      { name: 'no_jwt', summary: 'Without a JWT', auth: 'none', body: { threadId: 't_1' }, status: 401 },
    ],
  },
  {
    method: 'get',
    path: '/v1/ag-ui/runs/{run_id}',
    operationId: 'streamAgUiRun',
    tag: 'browser',
    summary: "AG-UI: one of the user's runs as AG-UI events, resumable",
    description:
      "docs/protocol.md I: after `Last-Event-ID` (or `?since=`), the run's AG-UI events after that id, then live; " +
      'without one, the run so far (its snapshot as AG-UI events), then live. A run already over replays to its end.',
    security: ['userJwt'],
    pathParams: runPathSchema,
    query: z.object({
      since: z.string().optional().meta({ description: '`<epoch>:<seq>`, as `Last-Event-ID`.' }),
    }),
    headers: {
      'Last-Event-ID': z
        .string()
        .meta({ description: '`<epoch>:<seq>`, an id an AG-UI stream of the run wrote: resume after it.' }),
    },
    answers: {
      200: { description: 'The run as AG-UI events, `: ping` heartbeats.', contentType: 'text/event-stream' },
    },
    errors: { ...ID_ERRORS, ...UNAUTHORIZED, 404: ['NOT_FOUND'], ...API_ERRORS, ...ENGINE_DOWN },
    examples: [
      {
        name: 'unknown',
        summary: 'A run the user does not have',
        auth: 'userJwt',
        path: { run_id: 'r_nope' },
        status: 404,
      },
      {
        name: 'bad_id',
        summary: 'A malformed Last-Event-ID',
        auth: 'userJwt',
        path: { run_id: 'r_nope' },
        headers: { 'Last-Event-ID': 'garbage' },
        status: 400,
      },
      { name: 'no_jwt', summary: 'Without a JWT', auth: 'none', path: { run_id: 'r_nope' }, status: 401 },
    ],
  },
  {
    method: 'get',
    path: '/v1/stats',
    operationId: 'getStats',
    tag: 'operations',
    summary: 'Connections, users and per-node figures',
    description: 'docs/protocol.md §8. The fields are for people, not a contract.',
    security: ['apiKey'],
    answers: { 200: { description: 'The figures.', schema: statsSchema } },
    errors: { ...UNAUTHORIZED, ...API_ERRORS },
    examples: [{ name: 'stats', summary: 'The figures', auth: 'apiKey', status: 200 }],
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApi',
    tag: 'operations',
    summary: 'This document',
    description: 'docs/protocol.md D, "OpenAPI": the same as docs/openapi.json. No credential.',
    security: [],
    answers: { 200: { description: 'The OpenAPI 3.1 document.', schema: openApiDocumentSchema } },
    errors: API_ERRORS,
    examples: [{ name: 'spec', summary: 'The document', auth: 'none', status: 200 }],
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'operations',
    summary: 'Liveness: 200 while the process runs',
    description: 'docs/protocol.md §8.',
    security: [],
    answers: { 200: { description: 'Alive.', schema: healthSchema } },
    errors: { 403: ['FORBIDDEN'], 405: ['METHOD_NOT_ALLOWED'], 500: ['INTERNAL'] },
    examples: [{ name: 'health', summary: 'Alive', auth: 'none', status: 200 }],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'operations',
    summary: 'Readiness: 200 when it accepts work, 503 with a reason',
    description: 'docs/protocol.md §8 and D: the `detail` only for a caller with the API key.',
    security: [],
    answers: {
      200: { description: 'Ready.', schema: readySchema },
      503: {
        description: 'Not ready: starting, draining, or the engine or key set unreachable.',
        schema: notReadySchema,
      },
    },
    errors: { 403: ['FORBIDDEN'], 405: ['METHOD_NOT_ALLOWED'], 500: ['INTERNAL'] },
    examples: [{ name: 'ready', summary: 'Ready', auth: 'none', status: 200 }],
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'operations',
    summary: 'Prometheus metrics (here unless `--metrics-port` moves them)',
    description: 'docs/protocol.md §8.',
    security: [],
    answers: { 200: { description: 'Prometheus text format.', contentType: 'text/plain' } },
    errors: { 403: ['FORBIDDEN'], 404: ['NOT_FOUND'], 405: ['METHOD_NOT_ALLOWED'], 500: ['INTERNAL'] },
    examples: [{ name: 'metrics', summary: 'The metrics', auth: 'none', status: 200 }],
  },
  {
    method: 'get',
    path: '/demo/token',
    operationId: 'getDemoToken',
    tag: 'demo',
    summary: 'A short-lived token for the demo page (only with `--demo`)',
    description:
      'Only with the demo on, and only signed with the generated dev secret or with `--demo-tokens`; `404` otherwise.',
    security: [],
    query: demoTokenQuerySchema,
    answers: { 200: { description: 'A token for `user`.', schema: demoTokenSchema } },
    errors: { 400: ['INVALID_MESSAGE'], 403: ['FORBIDDEN'], 404: ['NOT_FOUND'], 500: ['INTERNAL'] },
    examples: [{ name: 'demo', summary: 'A token for u1', auth: 'none', query: { user: 'u1' }, status: 200 }],
  },
  {
    method: 'get',
    path: '/',
    operationId: 'getDemoPage',
    tag: 'demo',
    summary: 'The demo page (only with `--demo`)',
    description: 'Its assets are served beside it. `503` when the page is not built.',
    security: [],
    answers: { 200: { description: 'The page.', contentType: 'text/html' } },
    errors: { 403: ['FORBIDDEN'], 404: ['NOT_FOUND'], 500: ['INTERNAL'], 503: ['UNAVAILABLE'] },
    examples: [],
  },
];
