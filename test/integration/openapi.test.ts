import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helpText } from '../../packages/server/src/config/help-text.js';
import { flagName, OPTION_SPECS } from '../../packages/server/src/config/options.js';
import { HTTP_ROUTES, type RouteExample } from '../../packages/server/src/protocol/http-routes.js';
import { fillPath } from '../../packages/server/src/protocol/openapi.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';

/**
 * docs/protocol.md D, "OpenAPI": GET /v1/openapi.json is a valid OpenAPI 3.1 document, the same bytes as
 * docs/openapi.json, naming every route the gateway serves and only those; every documented example,
 * sent to a real gateway, is answered with its documented status and a body its documented schema accepts.
 */

const ROOT = join(import.meta.dirname, '../..');
const SRC = join(ROOT, 'packages/server/src');

type Json = Record<string, unknown>;
type Operation = { responses: Record<string, { content?: Record<string, { schema?: Json }> }> };

let g: Harness;
let served: string;
let doc: { paths: Record<string, Record<string, Operation>> };

beforeAll(async () => {
  // One gateway for every test: the demo on (its token route is documented), the configured secret signing it.
  g = await startGateway({ demo: true, demoTokens: true });
  const res = await fetch(`${g.httpUrl}/v1/openapi.json`);
  expect(res.status).toBe(200);
  served = await res.text();
  doc = JSON.parse(served);
});

afterAll(async () => {
  await g.close();
});

describe('GET /v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, checked by @readme/openapi-parser', async () => {
    const result = await validate(JSON.parse(served));
    expect(result.valid ? 'valid' : compileErrors(result)).toBe('valid');
    expect(result.specification).toBe('OpenAPI');
    expect(doc).toMatchObject({ openapi: '3.1.0' });
  });

  it('names every flag of agentcast serve, as --help does, in x-agentcast-flags', () => {
    type Flag = { flag: string; env: string; description: string };
    const flags = (JSON.parse(served) as { 'x-agentcast-flags': Flag[] })['x-agentcast-flags'];
    expect(flags.map((f) => f.flag)).toEqual(OPTION_SPECS.map((spec) => flagName(spec.key)));
    const help = helpText();
    for (const f of flags) {
      expect(help).toContain(f.flag);
      expect(f.env).toMatch(/^AGENTCAST_[A-Z0-9_]+$|^[A-Z][A-Z0-9_]+$/);
      expect(f.description.length).toBeGreaterThan(5);
    }
    // A secret's value is never in the document.
    expect(served).not.toContain('dev-agent-secret');
  });

  it('is byte for byte the committed docs/openapi.json (npm run build writes it)', () => {
    expect(readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8')).toBe(served);
  });

  it('needs no credential, may be read from an allowed origin, and refuses other methods with 405', async () => {
    const browser = await fetch(`${g.httpUrl}/v1/openapi.json`, {
      headers: { Origin: 'http://localhost:3000' },
    });
    expect(browser.status).toBe(200);
    expect(browser.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(await browser.text()).toBe(served);
    const post = await fetch(`${g.httpUrl}/v1/openapi.json`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });
});

/** The paths a route regex's source matches, parameters as `{}`: `\/v1\/(runs|approvals)(\/[^/]+)?` gives four. */
function expandRegex(source: string): string[] {
  let paths = [source.replace(/\\\//g, '/').replace(/\(\[\^\/\]\+\)|\[\^\/\]\+/g, '{}')];
  for (let round = 0; round < 4; round++) {
    paths = paths.flatMap((path) => {
      const optional = /\(([^()|]*)\)\?/.exec(path);
      if (optional) return [path.replace(optional[0], ''), path.replace(optional[0], optional[1] as string)];
      const choice = /\(([a-z|]+)\)/.exec(path);
      if (choice) return (choice[1] as string).split('|').map((word) => path.replace(choice[0], word));
      return [path];
    });
  }
  return paths;
}

/**
 * Every path the router's source names (gateway/, edges/ and the CORS policy, which knows the user's
 * routes): `'/v1/…'` literals and `/^\/v1\/…$/` regexes. A prefix such as `'/v1/runs/'` is not a route.
 */
function routerPaths(): Set<string> {
  const found = new Set<string>();
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? files(join(dir, entry.name))
        : entry.name.endsWith('.ts')
          ? [join(dir, entry.name)]
          : [],
    );
  const sources = [
    ...files(join(SRC, 'gateway')),
    ...files(join(SRC, 'edges')),
    join(SRC, 'security/cors-policy.ts'),
  ];
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    for (const [, path] of text.matchAll(
      /['`](\/(?:v1\/[^'`\s]*|healthz|readyz|metrics|demo\/[^'`\s]*))['`]/g,
    )) {
      if (path?.endsWith('/') === false) found.add(path);
    }
    for (const [, source] of text.matchAll(/\/\^(\\\/(?:v1|healthz|readyz|metrics)[^$]*)\$\//g)) {
      for (const path of expandRegex(source as string)) found.add(path);
    }
  }
  return found;
}

/** Paths the router upgrades to a WebSocket (docs/protocol.md J), not HTTP routes of the document. */
const WEBSOCKET_PATHS: ReadonlySet<string> = new Set(['/v1/ai-sdk/ws']);

const normalized = (template: string) => template.replace(/\{\w*\}|:\w+/g, '{}');

describe('the document and the router', () => {
  it('documents every route the router names, and every documented route is served', async () => {
    const documented = new Set(Object.keys(doc.paths).map(normalized));
    // WebSocket upgrades are not HTTP routes: docs/protocol.md documents them (/ws in §1, /v1/ai-sdk/ws in J).
    const named = new Set([...routerPaths()].filter((path) => !WEBSOCKET_PATHS.has(path)).map(normalized));
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((path) => !documented.has(path))).toEqual([]);
    // Served: each documented path answers a method it does not document with 405 naming the one it does.
    for (const [path, item] of Object.entries(doc.paths)) {
      if (path === '/' || path === '/demo/token') continue; // demo routes fall through to 404 for other methods
      const url = `${g.httpUrl}${fillPath(path, { user_id: 'u1', run_id: 'r_1', approval_id: 'ap_1', chat_id: 'chat-1' })}`;
      const res = await fetch(url, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${TEST_API_KEY}` },
      });
      expect({ path, status: res.status }).toEqual({ path, status: 405 });
      expect(res.headers.get('allow')).toBe(Object.keys(item).join(', ').toUpperCase());
      await res.arrayBuffer();
    }
  });

  it('labels metrics with the documented templates', async () => {
    const { httpRoute } = await import('../../packages/server/src/gateway/http-route.js');
    for (const path of Object.keys(doc.paths)) {
      const filled = fillPath(path, {
        user_id: 'u%201',
        run_id: 'r_1',
        approval_id: 'ap_1',
        chat_id: 'chat-1',
      });
      expect(httpRoute(filled)).toBe(path.replace(/\{(\w+)\}/g, ':$1'));
    }
  });
});

async function ticketFor(token: string): Promise<string> {
  const res = await fetch(`${g.httpUrl}/v1/tickets`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
  });
  return ((await res.json()) as { ticket: string }).ticket;
}

const isStream = (res: Response) => res.headers.get('content-type')?.startsWith('text/event-stream') === true;

async function firstChunk(res: Response): Promise<string> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  await reader.cancel();
  return new TextDecoder().decode(value);
}

describe('the documented examples, sent to a real gateway', () => {
  it('answer their documented status with a body the documented schema accepts', async () => {
    const deref = (await dereference(JSON.parse(served))) as typeof doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const userToken = await g.token('u1');
    const credential = (auth: RouteExample['auth']): Record<string, string> =>
      auth === 'apiKey'
        ? { Authorization: `Bearer ${TEST_API_KEY}` }
        : auth === 'userJwt'
          ? { Authorization: `Bearer ${userToken}` }
          : {};
    let sent = 0;
    for (const route of HTTP_ROUTES) {
      for (const example of route.examples) {
        const url = new URL(`${g.httpUrl}${fillPath(route.path, example.path)}`);
        for (const [name, value] of Object.entries(example.query ?? {})) url.searchParams.set(name, value);
        if (example.auth === 'ticket') url.searchParams.set('ticket', await ticketFor(userToken));
        const body =
          example.raw?.text ?? (example.body === undefined ? undefined : JSON.stringify(example.body));
        const res = await fetch(url, {
          method: route.method.toUpperCase(),
          headers: {
            ...credential(example.auth),
            ...(body === undefined ? {} : { 'Content-Type': example.raw?.contentType ?? 'application/json' }),
            ...example.headers,
          },
          ...(body === undefined ? {} : { body }),
        });
        const label = `${route.method.toUpperCase()} ${route.path} (${example.name})`;
        // A stream never ends by itself: its first chunk (the welcome) is enough, then it is let go.
        const text = isStream(res) ? await firstChunk(res) : await res.text();
        expect({ label, status: res.status, text: res.status === example.status ? '' : text }).toEqual({
          label,
          status: example.status,
          text: '',
        });
        const answer = deref.paths[route.path]?.[route.method]?.responses[String(res.status)];
        expect(answer, `${label}: status ${res.status} documented`).toBeDefined();
        const type = (res.headers.get('content-type') ?? '').split(';')[0] as string;
        const content = answer?.content?.[type];
        expect(content, `${label}: ${type} documented`).toBeDefined();
        if (type === 'text/event-stream') expect(text, label).toMatch(/^(retry|data|id|:)/m);
        if (type === 'application/json') {
          const check = ajv.compile(content?.schema ?? {});
          const ok = check(JSON.parse(text));
          expect({ label, errors: ok ? null : check.errors }).toEqual({ label, errors: null });
        }
        sent += 1;
      }
    }
    expect(sent).toBeGreaterThan(25);
  });
});
