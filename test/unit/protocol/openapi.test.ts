import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { HttpRouteSpec } from '../../../packages/server/src/protocol/http-routes.js';
import { buildOpenApiDocument, fillPath } from '../../../packages/server/src/protocol/openapi.js';

/** The document builder on a route table of its own: what a new edge's entry turns into (docs/protocol.md D). */

const route: HttpRouteSpec = {
  method: 'post',
  path: '/v1/things/{thing_id}',
  operationId: 'postThing',
  tag: 'runs',
  summary: 'A thing',
  description: 'A route of a future edge.',
  security: ['apiKey', 'userJwt'],
  pathParams: z.object({ thing_id: z.string().min(1) }),
  query: z.object({ mode: z.enum(['a', 'b']), note: z.string().optional() }),
  headers: { 'X-Thing': z.string() },
  body: {
    required: true,
    content: { 'application/json': z.object({ n: z.int() }), 'text/plain': z.string() },
  },
  answers: { 200: { description: 'Text.', contentType: 'text/plain' } },
  errors: { 418: ['TEAPOT'], 503: ['UNAVAILABLE'] },
  examples: [
    { name: 'one', summary: 'One', auth: 'apiKey', path: { thing_id: 't1' }, body: { n: 1 }, status: 200 },
  ],
};

describe('buildOpenApiDocument', () => {
  const doc = buildOpenApiDocument('9.9.9', [route]) as {
    info: { version: string };
    paths: Record<string, { post: Record<string, unknown> }>;
  };
  const op = doc.paths['/v1/things/{thing_id}']?.post as Record<string, unknown>;

  it('turns one table entry into a valid OpenAPI 3.1 operation', async () => {
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid).toBe(true);
    expect(doc.info.version).toBe('9.9.9');
  });

  it('documents parameters from the zod schemas: path always required, query as the schema says', () => {
    expect(op.parameters).toEqual([
      {
        name: 'thing_id',
        in: 'path',
        required: true,
        schema: { type: 'string', minLength: 1 },
        examples: { one: { summary: 'One', value: 't1' } },
      },
      { name: 'mode', in: 'query', required: true, schema: { type: 'string', enum: ['a', 'b'] } },
      { name: 'note', in: 'query', required: false, schema: { type: 'string' } },
      { name: 'X-Thing', in: 'header', required: false, schema: { type: 'string' } },
    ]);
  });

  it('puts the examples on the first content type, and error statuses with their codes and Retry-After', () => {
    const body = op.requestBody as { content: Record<string, { examples?: unknown }> };
    expect(body.content['application/json']?.examples).toEqual({ one: { summary: 'One', value: { n: 1 } } });
    expect(body.content['text/plain']?.examples).toBeUndefined();
    const responses = op.responses as Record<
      string,
      { description: string; headers?: object; content: object }
    >;
    expect(Object.keys(responses)).toEqual(['200', '418', '503']);
    expect(responses['200']?.content).toEqual({ 'text/plain': { schema: { type: 'string' } } });
    expect(responses['418']?.description).toBe('Error: `TEAPOT`');
    expect(responses['503']?.headers).toHaveProperty('Retry-After');
    expect(op.security).toEqual([{ apiKey: [] }, { userJwt: [] }]);
  });
});

describe('fillPath', () => {
  it('fills and percent-encodes each parameter, leaving a missing one empty', () => {
    expect(fillPath('/v1/users/{user_id}/runs/{run_id}', { user_id: 'a b/c' })).toBe(
      '/v1/users/a%20b%2Fc/runs/',
    );
  });
});
