import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/server/src/config/load-config.js';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import { type HttpApiContext, handleHttp } from '../../packages/server/src/gateway/http-api.js';
import { Metrics } from '../../packages/server/src/observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import type { StoredEvent } from '../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { captureLog } from '../helpers/log-capture.js';

/**
 * docs/protocol.md §8 through a real gateway: publishing, history, stats, metrics and readiness; CORS
 * preflights and refusals; exact statuses, codes, messages and headers on every route (404, 405,
 * HEAD); and what an engine failure looks like (503 for an outage, 500 INTERNAL for anything else,
 * never a hung request).
 */

const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

async function call(
  h: Harness,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${h.httpUrl}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Prometheus text and the like stay strings.
  }
  return { status: res.status, headers: res.headers, body };
}

function post(h: Harness, body: unknown, headers: Record<string, string> = auth) {
  return call(h, '/v1/publish', {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('HTTP API (docs/protocol.md §8)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('answers /healthz and /readyz while running', async () => {
    h = await startGateway();
    expect(await call(h, '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(h, '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('publishes one event and answers 202 with its seq and epoch', async () => {
    h = await startGateway();
    const res = await post(h, {
      user_id: 'u1',
      type: 'agent_thinking',
      run_id: 'r_1',
      data: { reasoning: 'hm' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ results: [{ seq: 1, epoch: expect.stringMatching(/^e_/) }] });
  });

  it('publishes a batch in order across users', async () => {
    h = await startGateway();
    const events = [
      { user_id: 'a', type: 'notification', data: {} },
      { user_id: 'b', type: 'notification', data: {} },
      { user_id: 'a', type: 'notification', data: {} },
    ];
    const res = await post(h, { events });
    expect(res.status).toBe(202);
    expect((res.body as { results: { seq: number }[] }).results.map((r) => r.seq)).toEqual([1, 1, 2]);
  });

  it.each([
    ['a missing user_id', { type: 'notification', data: {} }, 'user_id: required'],
    ['a bad type', { user_id: 'u', type: 'Bad Type', data: {} }, 'type: must match'],
    [
      'a golden-path event without its fields',
      { user_id: 'u', type: 'tool_executing', data: { tool_name: 'x' } },
      'data.tool_args',
    ],
    [
      'agent_completed failed without error',
      { user_id: 'u', type: 'agent_completed', data: { status: 'failed', final_response: null } },
      'data.error',
    ],
    ['an empty batch', { events: [] }, 'events'],
    [
      'a bad event inside a batch',
      {
        events: [
          { user_id: 'u', type: 'notification' },
          { user_id: '', type: 'x' },
        ],
      },
      'events.1.user_id',
    ],
    ['data that is not an object', { user_id: 'u', type: 'notification', data: [1, 2] }, 'data'],
  ])('refuses %s with 400 naming the field', async (_name, body, field) => {
    h = await startGateway();
    const res = await post(h, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: { code: 'INVALID_MESSAGE', message: expect.stringContaining(field) },
    });
  });

  it('refuses a batch of more than 500 events and stores none of it', async () => {
    h = await startGateway();
    const events = Array.from({ length: 501 }, () => ({ user_id: 'u', type: 'notification', data: {} }));
    expect((await post(h, { events })).status).toBe(400);
    expect((await h.gateway.engine.head('u')).seq).toBe(0);
  });

  it('refuses invalid JSON with 400 INVALID_JSON, saying the body is not valid JSON', async () => {
    h = await startGateway();
    expect(await post(h, '{"user_id":')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_JSON', message: 'body is not valid JSON' } },
    });
  });

  it('refuses a body over max_publish_bytes with 413 naming the limit, and stores none of it', async () => {
    h = await startGateway({ maxPublishBytes: 2048 });
    const res = await post(h, { user_id: 'u', type: 'notification', data: { pad: 'x'.repeat(4096) } });
    expect(res).toMatchObject({
      status: 413,
      body: {
        error: { code: 'PAYLOAD_TOO_LARGE', message: 'body exceeds 2048 bytes (max_publish_bytes)' },
      },
    });
    expect((await h.gateway.engine.head('u')).seq).toBe(0);
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong key', { Authorization: 'Bearer wrong-key' }],
    ['a key that is a prefix of the real one', { Authorization: `Bearer ${TEST_API_KEY.slice(0, 5)}` }],
    ['another scheme', { Authorization: `Basic ${TEST_API_KEY}` }],
  ])('answers 401 to %s', async (_name, headers) => {
    h = await startGateway();
    const res = await post(h, { user_id: 'u', type: 'notification', data: {} }, headers);
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('accepts every key of a comma-separated --api-key (rotation) and no other, logging none of them', async () => {
    const oldKey = 'old-api-key-0123456789';
    const newKey = 'new-api-key-9876543210';
    const { log, lines } = captureLog('debug');
    h = await startGateway({ apiKey: ` ${newKey} , ${oldKey} ` }, { log });
    for (const key of [newKey, oldKey]) {
      const res = await call(h, '/v1/stats', { headers: { Authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
    }
    for (const key of [`${newKey},${oldKey}`, `${newKey} , ${oldKey}`, newKey.slice(0, 8), '']) {
      const res = await call(h, '/v1/stats', { headers: { Authorization: `Bearer ${key}` } });
      expect(res.status).toBe(401);
    }
    const text = JSON.stringify(lines);
    expect(text).not.toContain(newKey);
    expect(text).not.toContain(oldKey);
  });

  it('keeps the W3C traceparent of a publish with each of its events, in the frame’s meta (D, "Trace context")', async () => {
    h = await startGateway();
    const client = await h.connect('u');
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const body = { events: [1, 2].map((n) => ({ user_id: 'u', type: 'notification', data: { n } })) };
    expect((await post(h, body, { ...auth, traceparent })).status).toBe(202);
    // Malformed (upper case, all-zero trace id, version ff) is ignored, as the W3C spec says: no meta.
    for (const bad of [
      traceparent.toUpperCase(),
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `ff${traceparent.slice(2)}`,
    ]) {
      expect(
        (await post(h, { user_id: 'u', type: 'notification', data: {} }, { ...auth, traceparent: bad }))
          .status,
      ).toBe(202);
    }
    const events = await client.events(5);
    expect(events.map((e) => e.meta)).toEqual([
      { traceparent },
      { traceparent },
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('answers 401 on /v1/* when no API key is configured at all', async () => {
    h = await startGateway({ apiKey: undefined });
    const res = await call(h, '/v1/stats', { headers: { Authorization: 'Bearer anything' } });
    expect(res.status).toBe(401);
  });

  it('returns stored events oldest first from /v1/users/:id/history', async () => {
    h = await startGateway();
    await post(h, { events: [1, 2, 3].map((n) => ({ user_id: 'u 1', type: 'notification', data: { n } })) });
    const all = await call(h, '/v1/users/u%201/history', { headers: auth });
    expect(all.status).toBe(200);
    expect((all.body as { events: StoredEvent[] }).events.map((e) => e.seq)).toEqual([1, 2, 3]);
    const tail = await call(h, '/v1/users/u%201/history?since=1&limit=1', { headers: auth });
    expect(tail.body).toMatchObject({ seq: 3, complete: false, events: [{ seq: 2, data: { n: 2 } }] });
    expect((await call(h, '/v1/users/u%201/history?since=-1', { headers: auth })).status).toBe(400);
  });

  it('reports connections and users on /v1/stats', async () => {
    h = await startGateway({ serverId: 'node-a' });
    await h.connect('u1');
    await h.connect('u1');
    await h.connect('u2');
    const res = await call(h, '/v1/stats', { headers: auth });
    expect(res.body).toMatchObject({
      server_id: 'node-a',
      engine: 'memory',
      connections: 3,
      authenticated_connections: 3,
      users: 2,
    });
  });

  it('exposes Prometheus metrics including publish->send latency', async () => {
    h = await startGateway();
    const client = await h.connect('u1');
    await post(h, { user_id: 'u1', type: 'notification', data: {} });
    await client.events(1);
    const res = await call(h, '/metrics');
    expect(res.status).toBe(200);
    const text = res.body as string;
    expect(text).toContain('agentcast_connections 1');
    expect(text).toMatch(/agentcast_events_published_total\{source="http"\} 1/);
    expect(text).toMatch(/agentcast_events_delivered_total 1/);
    expect(text).toContain('agentcast_publish_to_send_seconds_bucket');
  });

  it('serves /metrics on its own port when metrics_port is set, and not on the main one', async () => {
    h = await startGateway({ metricsPort: 0 });
    const { metricsPort } = h.gateway.addresses();
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
    expect((await call(h, '/metrics')).status).toBe(404);
  });

  it('answers 404 and 405 with JSON errors', async () => {
    h = await startGateway();
    expect(await call(h, '/nope')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await call(h, '/v1/publish', { headers: auth })).toMatchObject({
      status: 405,
      body: { error: { code: 'METHOD_NOT_ALLOWED' } },
    });
  });

  it('answers 404 to a target the URL parser refuses (`//`) and keeps serving', async () => {
    h = await startGateway();
    // fetch normalises `//`, so the request line is written by hand; before, it crashed the process.
    const exchange = async (head: string): Promise<string> => {
      const socket = connect(h.port, '127.0.0.1');
      socket.end(`GET // HTTP/1.1\r\nHost: x\r\n${head}\r\n`);
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('utf8');
      });
      await once(socket, 'close');
      return answer;
    };
    const answer = await exchange('');
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(answer).toContain('"message":"no route GET //"');
    const upgrade = await exchange(
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
    );
    expect(upgrade.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(await call(h, '/healthz')).toMatchObject({ status: 200 });
    const metrics = await call(h, '/metrics');
    expect(metrics.body).toContain(
      'agentcast_http_requests_total{route="other",method="GET",status="404"} 1',
    );
  });

  it('publishes from code through gateway.publish with the same validation', async () => {
    h = await startGateway();
    const client = await h.connect('u1');
    const stored = await h.gateway.publish('u1', { type: 'stream_chunk', data: { text: 'hi' } });
    expect(stored.seq).toBe(1);
    expect((await client.events(1))[0]).toMatchObject({ type: 'stream_chunk', data: { text: 'hi' } });
    await expect(h.gateway.publish('u1', { type: 'stream_chunk', data: {} })).rejects.toMatchObject({
      code: 'AC_ERR_EVENT_INVALID',
    });
  });

  describe('CORS', () => {
    it('answers an allowed preflight for /v1/* with 204 and the allowed methods when the API is exposed', async () => {
      h = await startGateway({ exposeApiToBrowsers: true, origins: ['http://localhost:3000'] });
      const res = await call(h, '/v1/publish', {
        method: 'OPTIONS',
        headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    });

    it('refuses a request from an origin outside the policy with 403 FORBIDDEN on any route', async () => {
      h = await startGateway({ origins: ['http://localhost:3000'] });
      const res = await call(h, '/healthz', { headers: { Origin: 'https://evil.example.com' } });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        error: { code: 'FORBIDDEN', message: 'cross-origin request refused (not_allowed)' },
      });
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    });
  });

  describe('answers', () => {
    it('sends JSON as application/json; charset=utf-8 with its exact length', async () => {
      h = await startGateway();
      const res = await fetch(`${h.httpUrl}/healthz`);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const text = await res.text();
      expect(text).toBe('{"status":"ok"}');
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    });

    it('serves /metrics in the Prometheus text format', async () => {
      h = await startGateway();
      const res = await fetch(`${h.httpUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await res.text()).toContain('# TYPE agentcast_connections gauge');
    });

    it('names the method and path of an unknown route, outside /v1/ and under it', async () => {
      h = await startGateway();
      expect(await call(h, '/nope')).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'no route GET /nope' } },
      });
      expect(await call(h, '/v1/nothing-here', { method: 'DELETE', headers: auth })).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'no route DELETE /v1/nothing-here' } },
      });
    });

    it('tells a client without the API key how to send it', async () => {
      h = await startGateway();
      const res = await call(h, '/v1/stats');
      expect(res).toMatchObject({
        status: 401,
        body: {
          error: {
            code: 'UNAUTHORIZED',
            message: 'missing or wrong API key; send Authorization: Bearer <api key>',
          },
        },
      });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('the demo routes behind the API', () => {
    it('serves /demo/token when the demo is on, and the router answers what the demo does not', async () => {
      h = await startGateway({ demo: true, demoTokens: true });
      const token = await call(h, '/demo/token?user=alice');
      expect(token.status).toBe(200);
      expect(token.body).toMatchObject({ user_id: 'alice', expires_in_s: 3600 });
      expect(await call(h, '/demo/token', { method: 'POST' })).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'no route POST /demo/token' } },
      });
    });

    it('has no /demo/token when the demo is off', async () => {
      h = await startGateway({ demo: false });
      expect(await call(h, '/demo/token')).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'no route GET /demo/token' } },
      });
    });
  });

  describe('methods and routes', () => {
    it.each([
      ['POST', '/healthz', 'GET'],
      ['POST', '/metrics', 'GET'],
      ['GET', '/v1/publish', 'POST'],
      ['POST', '/v1/stats', 'GET'],
      ['DELETE', '/v1/users/u1/history', 'GET'],
      ['POST', '/readyz', 'GET'],
      ['PUT', '/v1/users/u1/history', 'GET'],
    ])('answers %s %s with 405 and Allow: %s', async (method, path, allow) => {
      h = await startGateway();
      const res = await call(h, path, { method, headers: auth });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.body).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } });
    });

    it('answers HEAD on the GET routes like GET, without a body', async () => {
      h = await startGateway();
      for (const path of ['/healthz', '/readyz', '/v1/stats']) {
        const res = await fetch(`${h.httpUrl}${path}`, { method: 'HEAD', headers: auth });
        expect([path, res.status]).toEqual([path, 200]);
        expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(await res.text()).toBe('');
      }
    });

    it('answers HEAD /healthz like GET and an unknown /v1/ route with 404', async () => {
      h = await startGateway();
      expect((await call(h, '/healthz', { method: 'HEAD', headers: auth })).status).toBe(200);
      const res = await call(h, '/v1/nothing-here', { headers: auth });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });
  });

  describe('GET /v1/users/:user_id/history', () => {
    it.each([
      [
        'a user id over 128 characters',
        `/v1/users/${'u'.repeat(129)}/history`,
        'user_id: must be 1..128 characters',
      ],
      [
        'malformed percent-encoding',
        '/v1/users/%E0%A4%A/history',
        'user_id: not valid percent-encoded UTF-8',
      ],
      ['a non-numeric since', '/v1/users/u1/history?since=abc', 'since: must be a non-negative integer'],
      ['a negative limit', '/v1/users/u1/history?limit=-1', 'limit: must be a non-negative integer'],
      ['a limit above history_size', '/v1/users/u1/history?limit=1001', 'limit: must be at most 1000'],
      [
        'a since above 2^53',
        '/v1/users/u1/history?since=9007199254740992',
        'since: must be at most 9007199254740991',
      ],
    ])('refuses %s with 400 naming the field', async (_name, path, message) => {
      h = await startGateway({ historySize: 1000 });
      const res = await call(h, path, { headers: auth });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'INVALID_MESSAGE', message } } });
    });

    it.each([
      ['a trailing segment', '/v1/users/u1/history/more'],
      ['a prefix before /v1/users', '/v1/x/v1/users/u1/history'],
      ['an empty user id', '/v1/users//history'],
    ])('answers 404 to a history path with %s', async (_name, path) => {
      h = await startGateway();
      await h.publish({ user_id: 'u1', type: 'notification', data: {} });
      expect(await call(h, path, { headers: auth })).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: `no route GET ${path}` } },
      });
    });

    it('accepts a user id of exactly 128 characters and a limit of exactly history_size', async () => {
      h = await startGateway({ historySize: 1000 });
      const user = 'u'.repeat(128);
      await h.publish({ user_id: user, type: 'notification', data: {} });
      const res = await call(h, `/v1/users/${user}/history?since=0&limit=1000`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ seq: 1, complete: true, events: [{ seq: 1, type: 'notification' }] });
    });

    it.each([
      ['since', 'since=1x'],
      ['since', 'since=%201'],
      ['limit', 'limit=1.5'],
    ])('refuses a %s that only starts with digits (%s)', async (name, query) => {
      h = await startGateway();
      expect(await call(h, `/v1/users/u1/history?${query}`, { headers: auth })).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_MESSAGE', message: `${name}: must be a non-negative integer` } },
      });
    });

    it('reads a since of several digits', async () => {
      h = await startGateway();
      for (let i = 0; i < 12; i++) await h.publish({ user_id: 'u1', type: 'notification', data: { i } });
      const res = await call(h, '/v1/users/u1/history?since=10', { headers: auth });
      expect(res.status).toBe(200);
      expect((res.body as { events: { seq: number }[] }).events.map((e) => e.seq)).toEqual([11, 12]);
    });

    it('reads since, limit and an empty parameter as given, and a user id percent-decoded', async () => {
      h = await startGateway({ historySize: 1000 });
      for (let i = 0; i < 5; i++) await h.publish({ user_id: 'a b', type: 'notification', data: { i } });
      const res = await call(h, '/v1/users/a%20b/history?since=1&limit=2&epoch=', { headers: auth });
      expect(res.status).toBe(200);
      const body = res.body as { seq: number; complete: boolean; events: { seq: number }[] };
      expect(body.events.map((e) => e.seq)).toEqual([2, 3]);
      expect([body.seq, body.complete]).toEqual([5, false]);
      const all = await call(h, '/v1/users/a%20b/history?since=&limit=', { headers: auth });
      expect((all.body as { events: unknown[]; complete: boolean }).events).toHaveLength(5);
      expect((all.body as { complete: boolean }).complete).toBe(true);
    });

    it('answers an unknown epoch with reset and no events', async () => {
      h = await startGateway();
      await h.publish({ user_id: 'u1', type: 'notification', data: {} });
      const res = await call(h, '/v1/users/u1/history?since=0&epoch=e_other', { headers: auth });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ seq: 1, complete: false, events: [] });
      expect((res.body as { reset?: string }).reset).toEqual(expect.any(String));
    });
  });

  describe('engine failures', () => {
    /** What the engine fails with while down: an outage, as the Redis engine reports one. */
    const unavailable = (): AgentcastError =>
      new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'engine unavailable (test double)');
    const publishBody = JSON.stringify({ user_id: 'u1', type: 'notification', data: {} });
    /** The engine calls an HTTP request makes: the reads of a history, the write of a publish. */
    const httpCalls = ['head', 'history', 'appendBatch'] as const;

    it('answers 503 and stores nothing when the engine is unavailable', async () => {
      const down = new DelegatingEngine();
      down.fail('appendBatch', new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down'));
      h = await startGateway({}, { engine: down });
      const res = await post(h, { user_id: 'u', type: 'notification', data: {} });
      expect(res).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
      await down.close();
    });

    it('says "nothing was stored" only when the engine refused before sending; otherwise that the events may have been stored', async () => {
      let failure: Error = new Error('set below');
      const failing = new DelegatingEngine();
      failing.fail('appendBatch', () => failure);
      h = await startGateway({}, { engine: failing });
      const one = { user_id: 'u', type: 'notification', data: {} };
      const messageOf = async (body: unknown) =>
        ((await post(h, body)).body as { error: { message: string } }).error.message;
      failure = new EngineUnavailableError('redis unreachable: 10.0.0.5:6379', { nothingApplied: true });
      expect(await messageOf(one)).toBe('the engine is unavailable; nothing was stored, retry later');
      failure = new EngineUnavailableError('Command timed out', { nothingApplied: false });
      expect(await messageOf(one)).toMatch(
        /^the engine did not confirm the write: the event may or may not have been stored, and a retry may store it twice/,
      );
      expect(await messageOf({ events: [one, one] })).toMatch(
        /none, some or all of the events may have been stored/,
      );
      // An unavailable error that does not say nothing was applied is not taken to mean it.
      failure = new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down');
      expect(await messageOf(one)).toMatch(/may or may not have been stored/);
      for (const m of [await messageOf(one)]) expect(m).not.toMatch(/10\.0\.0\.5|timed out|redis/);
      await failing.close();
    });

    it('answers /readyz without the API key with a stable reason word only; the detail needs the key', async () => {
      const engine = new DelegatingEngine();
      engine.setHealth({
        ok: false,
        reason: 'redis unreachable: command connection lost (connect ECONNREFUSED 10.0.0.5:6379)',
      });
      h = await startGateway({}, { engine });
      const anonymous = await call(h, '/readyz');
      expect(anonymous).toMatchObject({
        status: 503,
        body: { status: 'unavailable', reason: 'engine_unavailable' },
      });
      expect(Object.keys(anonymous.body as object).sort()).toEqual(['reason', 'status']);
      expect(
        await call(h, '/readyz', { headers: { Authorization: 'Bearer wrong-key-0123456789' } }),
      ).toMatchObject({
        body: { status: 'unavailable', reason: 'engine_unavailable' },
      });
      expect(
        (await call(h, '/readyz', { headers: { Authorization: 'Bearer wrong-key-0123456789' } })).body,
      ).not.toHaveProperty('detail');
      expect(await call(h, '/readyz', { headers: auth })).toEqual({
        status: 503,
        headers: expect.anything(),
        body: {
          status: 'unavailable',
          reason: 'engine_unavailable',
          detail: 'redis unreachable: command connection lost (connect ECONNREFUSED 10.0.0.5:6379)',
        },
      });
      await h.close();
      await engine.close();
    });

    it('answers 503 UNAVAILABLE on history while the engine is down', async () => {
      const engine = new DelegatingEngine();
      h = await startGateway({}, { engine });
      engine.fail(httpCalls, unavailable());
      const res = await call(h, '/v1/users/u1/history', { headers: auth });
      expect(res).toMatchObject({
        status: 503,
        body: { error: { code: 'UNAVAILABLE', message: 'the engine is unavailable; retry later' } },
      });
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it.each([
      ['history', '/v1/users/u1/history', undefined],
      ['publish', '/v1/publish', publishBody],
    ])(
      'answers 500 INTERNAL on %s when the engine fails unexpectedly, and keeps serving',
      async (_name, path, body) => {
        const engine = new DelegatingEngine();
        h = await startGateway({}, { engine });
        const recover = engine.fail(httpCalls, new Error('disk on fire'));
        const res = await call(
          h,
          path,
          body === undefined ? { headers: auth } : { method: 'POST', body, headers: auth },
        );
        expect(res).toMatchObject({
          status: 500,
          body: { error: { code: 'INTERNAL', message: 'internal error' } },
        });
        expect(JSON.stringify(res.body)).not.toContain('disk on fire');
        recover();
        expect((await call(h, '/v1/users/u1/history', { headers: auth })).status).toBe(200);
      },
    );

    it('answers 503 UNAVAILABLE with Retry-After on publish while the engine is down', async () => {
      const engine = new DelegatingEngine();
      h = await startGateway({}, { engine });
      // Down: the engine refuses before sending anything, and says so.
      engine.fail(
        httpCalls,
        new EngineUnavailableError('engine unavailable (test double)', { nothingApplied: true }),
      );
      const res = await call(h, '/v1/publish', { method: 'POST', body: publishBody, headers: auth });
      expect(res).toMatchObject({
        status: 503,
        body: {
          error: {
            code: 'UNAVAILABLE',
            message: 'the engine is unavailable; nothing was stored, retry later',
          },
        },
      });
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it.each([
      ['history', '/v1/users/u1/history', undefined],
      ['publish', '/v1/publish', publishBody],
    ])(
      'answers 500, not 503, on %s for an agentcast error other than an outage',
      async (_name, path, body) => {
        const engine = new DelegatingEngine();
        h = await startGateway({}, { engine });
        engine.fail(
          httpCalls,
          new AgentcastError(AgentcastErrorCode.EngineClosed, 'engine closed (test double)'),
        );
        const res = await call(
          h,
          path,
          body === undefined ? { headers: auth } : { method: 'POST', body, headers: auth },
        );
        expect(res).toMatchObject({
          status: 500,
          body: { error: { code: 'INTERNAL', message: 'internal error' } },
        });
        expect(res.headers.get('retry-after')).toBeNull();
      },
    );

    it('logs an unexpected failure at error with the path and the error', async () => {
      const engine = new DelegatingEngine();
      const { log, lines } = captureLog('info');
      h = await startGateway({}, { engine, log });
      engine.fail(httpCalls, new Error('disk on fire'));
      expect((await call(h, '/v1/users/u1/history?since=0', { headers: auth })).status).toBe(500);
      // The failure is the error-level line naming a path.
      const failed = lines.filter((l) => l.level === 50 && l.path !== undefined);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({
        level: 50,
        path: '/v1/users/u1/history',
        err: { message: 'disk on fire', type: 'Error' },
      });
    });
  });
});

describe('handleHttp when a route fails after its headers went out', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('logs the failure and cuts the response off instead of appending a second answer', async () => {
    const { log, lines } = captureLog('info');
    const handled: Promise<void>[] = [];
    const ctx: HttpApiContext = {
      config: loadConfig({ overrides: { env: 'test', apiKey: TEST_API_KEY } }),
      engine: new MemoryEngine(),
      runs: {
        cancel: async () => ({ ok: true }),
        answerApproval: async () => ({ ok: true, decision: 'approved', duplicate: false }),
        pendingApprovals: async () => [],
      },
      metrics: new Metrics(),
      log,
      readiness: () => ({ ready: true }),
      stats: () => ({}),
      cors: () => ({ action: 'continue', headers: {} }),
      userAuth: {
        verifier: { verify: async () => ({ ok: false, reason: 'malformed' }) },
        engine: { tokensRevokedBefore: async () => undefined },
        metrics: new Metrics(),
        now: Date.now,
      },
      // A route that starts a streamed answer and then fails.
      demo: async (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        await new Promise<void>((resolve) => res.write('partial', () => resolve()));
        throw new Error('failed mid-answer');
      },
    };
    server = createServer((req, res) => handled.push(handleHttp(req, res, ctx)));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/stream`);
    expect(res.status).toBe(200);
    expect(handled).toHaveLength(1);
    // handleHttp never throws out (docs/protocol.md §8): it settles, having destroyed the half-sent answer.
    await expect(handled[0]).resolves.toBeUndefined();
    await expect(res.text()).rejects.toThrow('terminated');
    expect(lines.filter((l) => l.level === 50 && l.path !== undefined)).toMatchObject([
      { level: 50, path: '/stream', err: { message: 'failed mid-answer' } },
    ]);
  });
});
