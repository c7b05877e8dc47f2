import { z } from 'zod';
import { errorBodySchema } from './http-bodies.js';
import { HTTP_ROUTES, type HttpRouteSpec, type SecurityScheme } from './http-routes.js';

/** A JSON value of the document. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The OpenAPI 3.1 document, as served at `GET /v1/openapi.json` (docs/protocol.md D, "OpenAPI"). */
export type OpenApiDocument = JsonObject;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad request: the failing field is named',
  401: 'Missing or refused credential (with `WWW-Authenticate: Bearer`)',
  403: 'Cross-origin request refused',
  404: 'Not found',
  405: 'Method not allowed (with `Allow`)',
  409: 'Conflict',
  413: 'Body too large',
  429: 'Too many requests',
  500: 'A gateway bug; nothing accepted before it was lost',
  503: 'Unavailable; retry (with `Retry-After: 1`)',
};

const SECURITY_SCHEMES: JsonObject = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description:
      "The backend's API key (`--api-key`): `Authorization: Bearer <api key>`. Never give it to a browser.",
  },
  userJwt: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      "A user's JWT, as a WebSocket session takes it (docs/protocol.md §2, A): `Authorization: Bearer <jwt>`.",
  },
  ticket: {
    type: 'apiKey',
    in: 'query',
    name: 'ticket',
    description: 'A single-use ticket from `POST /v1/tickets`, for EventSource (docs/protocol.md H).',
  },
};

/** The JSON Schema of a zod schema as a request carries it (defaults optional), draft 2020-12 as OpenAPI 3.1 takes it. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonObject;
  return rest;
}

function parameters(route: HttpRouteSpec): Json[] {
  const list: Json[] = [];
  const examples = (where: 'path' | 'query', name: string): JsonObject => {
    const found: JsonObject = {};
    for (const example of route.examples) {
      const value = example[where]?.[name];
      if (value !== undefined) found[example.name] = { summary: example.summary, value };
    }
    return Object.keys(found).length === 0 ? {} : { examples: found };
  };
  for (const [where, schema] of [
    ['path', route.pathParams],
    ['query', route.query],
  ] as const) {
    if (schema === undefined) continue;
    const object = jsonSchema(schema, 'input') as {
      properties?: Record<string, JsonObject>;
      required?: string[];
    };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      const { description, ...rest } = property;
      list.push({
        name,
        in: where,
        required: where === 'path' || (object.required ?? []).includes(name),
        ...(description === undefined ? {} : { description }),
        schema: rest,
        ...examples(where, name),
      });
    }
  }
  for (const [name, schema] of Object.entries(route.headers ?? {})) {
    const { description, ...rest } = jsonSchema(schema, 'input');
    list.push({
      name,
      in: 'header',
      required: false,
      ...(description === undefined ? {} : { description }),
      schema: rest,
    });
  }
  return list;
}

function requestBody(route: HttpRouteSpec): JsonObject | undefined {
  if (route.body === undefined) return undefined;
  const content: JsonObject = {};
  let first = true;
  for (const [type, schema] of Object.entries(route.body.content)) {
    const examples: JsonObject = {};
    if (first) {
      for (const example of route.examples) {
        if (example.body !== undefined)
          examples[example.name] = { summary: example.summary, value: example.body as Json };
      }
    }
    content[type] = {
      schema: jsonSchema(schema, 'input'),
      ...(Object.keys(examples).length === 0 ? {} : { examples }),
    };
    first = false;
  }
  return { required: route.body.required, content };
}

function errorAnswer(route: HttpRouteSpec, status: number, codes: readonly string[]): JsonObject {
  const retry = status === 503 && route.path.startsWith('/v1/');
  // The shared shape by reference; the codes this status may carry on this route, inline.
  const schema: JsonObject = {
    allOf: [
      { $ref: '#/components/schemas/Error' },
      {
        type: 'object',
        properties: { error: { type: 'object', properties: { code: { enum: [...codes] } } } },
      },
    ],
  };
  return {
    description: `${STATUS_TEXT[status] ?? 'Error'}: ${codes.map((code) => `\`${code}\``).join(', ')}`,
    ...(retry
      ? { headers: { 'Retry-After': { schema: { type: 'string' }, description: 'Seconds: 1.' } } }
      : {}),
    content: { 'application/json': { schema } },
  };
}

function responses(route: HttpRouteSpec): JsonObject {
  const all: Record<number, Json> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    const contentType = answer.contentType ?? 'application/json';
    all[Number(status)] = {
      description: answer.description,
      ...(answer.headers === undefined
        ? {}
        : {
            headers: Object.fromEntries(
              Object.entries(answer.headers).map(([name, description]) => [
                name,
                { description, schema: { type: 'string' } },
              ]),
            ),
          }),
      content: {
        [contentType]:
          answer.schema === undefined
            ? { schema: { type: 'string' } }
            : { schema: jsonSchema(answer.schema, 'output') },
      },
    };
  }
  for (const [status, codes] of Object.entries(route.errors))
    all[Number(status)] = errorAnswer(route, Number(status), codes);
  const sorted: JsonObject = {};
  for (const status of Object.keys(all).sort()) sorted[status] = all[Number(status)] as Json;
  return sorted;
}

function security(schemes: readonly SecurityScheme[]): Json[] {
  return schemes.map((scheme) => ({ [scheme]: [] }));
}

function operation(route: HttpRouteSpec): JsonObject {
  const body = requestBody(route);
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: route.description,
    security: security(route.security),
    parameters: parameters(route),
    ...(body === undefined ? {} : { requestBody: body }),
    responses: responses(route),
  };
}

/**
 * The OpenAPI 3.1 document of every route of {@link HTTP_ROUTES}, built from the zod schemas the routes
 * validate with. Deterministic: the same table and version give the same bytes (docs/openapi.json is
 * compared with it by a test).
 */
export function buildOpenApiDocument(
  version: string,
  routes: readonly HttpRouteSpec[] = HTTP_ROUTES,
): OpenApiDocument {
  const paths: JsonObject = {};
  for (const route of routes) {
    const item = (paths[route.path] ?? {}) as JsonObject;
    item[route.method] = operation(route);
    paths[route.path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'agentcast gateway HTTP API',
      version,
      description:
        'The HTTP routes of the agentcast gateway; docs/protocol.md is the contract of record (§8, D, F, G, H). ' +
        'The WebSocket (`/ws`, docs/protocol.md §1) is not an HTTP route and is not described here. ' +
        'Every GET route also answers HEAD. Any request may also get `503 UNAVAILABLE` (with `Retry-After: 1`) ' +
        "while the gateway's plain-HTTP socket cap is reached, and Node's `408` with no body when its headers " +
        'or body arrive too slowly (D, "Slow peers").',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:8080', description: 'A local gateway (`agentcast serve`)' }],
    tags: [
      { name: 'publish', description: 'A backend publishes events (API key).' },
      { name: 'users', description: "A backend reads or acts on a user's stream (API key)." },
      { name: 'runs', description: 'Agent runs: snapshots and cancel (user JWT or API key).' },
      { name: 'approvals', description: 'Questions a run asks its user (user JWT or API key).' },
      { name: 'browser', description: "A user's own routes for clients without a WebSocket (user JWT)." },
      { name: 'operations', description: 'Health, readiness, metrics, stats and this document.' },
      { name: 'demo', description: 'Only with `--demo` (development).' },
    ],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

/** The path of a route template with its parameters filled in (percent-encoded). */
export function fillPath(template: string, values: Readonly<Record<string, string>> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? ''));
}
