import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import type { HistoryQuery, HistoryResult, LogHead } from '../../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { type HttpApiContext, handleHttp } from '../../../packages/server/src/gateway/http-api.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import type { NewEvent, StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';

/**
 * docs/protocol.md §8 edges of the HTTP API that the main integration test leaves out: CORS preflights and
 * refusals, 405 on every route, 404 under /v1/, history query errors and resets, and what an engine
 * failure looks like (503 for an outage, 500 INTERNAL for anything else, never a hung request).
 */

/** An engine whose reads and writes fail with `error` once `failing` is set. */
class FailingEngine extends DelegatingEngine {
  failing: Error | undefined;
  constructor() {
    super(new MemoryEngine());
  }
  override head(userId: string): Promise<LogHead> {
    return this.failing ? Promise.reject(this.failing) : super.head(userId);
  }
  override history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    return this.failing ? Promise.reject(this.failing) : super.history(userId, query);
  }
  override appendBatch(items: readonly { userId: string; event: NewEvent }[]): Promise<StoredEvent[]> {
    return this.failing ? Promise.reject(this.failing) : super.appendBatch(items);
  }
}

const PUBLISH_BODY = JSON.stringify({ user_id: 'u1', type: 'notification', data: {} });

const unavailable = (): AgentcastError =>
  new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'engine unavailable (test double)');

describe('HTTP API edges (docs/protocol.md §8)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function call(
    path: string,
    init: RequestInit & { auth?: boolean } = {},
  ): Promise<{ status: number; headers: Headers; json: unknown }> {
    const { auth = true, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (auth) headers.set('Authorization', `Bearer ${TEST_API_KEY}`);
    const res = await fetch(`${(h as Harness).httpUrl}${path}`, { ...rest, headers });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
  }

  describe('CORS', () => {
    it('answers an allowed preflight for /v1/* with 204 and the allowed methods when the API is exposed', async () => {
      h = await startGateway({ exposeApiToBrowsers: true, origins: ['http://localhost:3000'] });
      const res = await call('/v1/publish', {
        method: 'OPTIONS',
        auth: false,
        headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    });

    it('refuses a request from an origin outside the policy with 403 FORBIDDEN on any route', async () => {
      h = await startGateway({ origins: ['http://localhost:3000'] });
      const res = await call('/healthz', { auth: false, headers: { Origin: 'https://evil.example.com' } });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({
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
      expect(await call('/nope', { auth: false })).toMatchObject({
        status: 404,
        json: { error: { code: 'NOT_FOUND', message: 'no route GET /nope' } },
      });
      expect(await call('/v1/nothing-here', { method: 'DELETE' })).toMatchObject({
        status: 404,
        json: { error: { code: 'NOT_FOUND', message: 'no route DELETE /v1/nothing-here' } },
      });
    });

    it('tells a client without the API key how to send it', async () => {
      h = await startGateway();
      const res = await call('/v1/stats', { auth: false });
      expect(res).toMatchObject({
        status: 401,
        json: {
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
      h = await startGateway({ demo: true });
      const token = await call('/demo/token?user=alice', { auth: false });
      expect(token.status).toBe(200);
      expect(token.json).toMatchObject({ user_id: 'alice', expires_in_s: 3600 });
      expect(await call('/demo/token', { method: 'POST', auth: false })).toMatchObject({
        status: 404,
        json: { error: { code: 'NOT_FOUND', message: 'no route POST /demo/token' } },
      });
    });

    it('has no /demo/token when the demo is off', async () => {
      h = await startGateway({ demo: false });
      expect(await call('/demo/token', { auth: false })).toMatchObject({
        status: 404,
        json: { error: { code: 'NOT_FOUND', message: 'no route GET /demo/token' } },
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
      const res = await call(path, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.json).toEqual({ error: { code: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } });
    });

    it('answers HEAD on the GET routes like GET, without a body', async () => {
      h = await startGateway();
      for (const path of ['/healthz', '/readyz', '/v1/stats']) {
        const res = await fetch(`${h.httpUrl}${path}`, {
          method: 'HEAD',
          headers: { Authorization: `Bearer ${TEST_API_KEY}` },
        });
        expect([path, res.status]).toEqual([path, 200]);
        expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(await res.text()).toBe('');
      }
    });

    it('answers HEAD /healthz like GET and an unknown /v1/ route with 404', async () => {
      h = await startGateway();
      expect((await call('/healthz', { method: 'HEAD' })).status).toBe(200);
      const res = await call('/v1/nothing-here');
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
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
      const res = await call(path);
      expect(res).toMatchObject({ status: 400, json: { error: { code: 'INVALID_MESSAGE', message } } });
    });

    it.each([
      ['a trailing segment', '/v1/users/u1/history/more'],
      ['a prefix before /v1/users', '/v1/x/v1/users/u1/history'],
      ['an empty user id', '/v1/users//history'],
    ])('answers 404 to a history path with %s', async (_name, path) => {
      h = await startGateway();
      await h.publish({ user_id: 'u1', type: 'notification', data: {} });
      expect(await call(path)).toMatchObject({
        status: 404,
        json: { error: { code: 'NOT_FOUND', message: `no route GET ${path}` } },
      });
    });

    it('accepts a user id of exactly 128 characters and a limit of exactly history_size', async () => {
      h = await startGateway({ historySize: 1000 });
      const user = 'u'.repeat(128);
      await h.publish({ user_id: user, type: 'notification', data: {} });
      const res = await call(`/v1/users/${user}/history?since=0&limit=1000`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ seq: 1, complete: true, events: [{ seq: 1, type: 'notification' }] });
    });

    it.each([
      ['since', 'since=1x'],
      ['since', 'since=%201'],
      ['limit', 'limit=1.5'],
    ])('refuses a %s that only starts with digits (%s)', async (name, query) => {
      h = await startGateway();
      expect(await call(`/v1/users/u1/history?${query}`)).toMatchObject({
        status: 400,
        json: { error: { code: 'INVALID_MESSAGE', message: `${name}: must be a non-negative integer` } },
      });
    });

    it('reads a since of several digits', async () => {
      h = await startGateway();
      for (let i = 0; i < 12; i++) await h.publish({ user_id: 'u1', type: 'notification', data: { i } });
      const res = await call('/v1/users/u1/history?since=10');
      expect(res.status).toBe(200);
      expect((res.json as { events: { seq: number }[] }).events.map((e) => e.seq)).toEqual([11, 12]);
    });

    it('reads since, limit and an empty parameter as given, and a user id percent-decoded', async () => {
      h = await startGateway({ historySize: 1000 });
      for (let i = 0; i < 5; i++) await h.publish({ user_id: 'a b', type: 'notification', data: { i } });
      const res = await call('/v1/users/a%20b/history?since=1&limit=2&epoch=');
      expect(res.status).toBe(200);
      const body = res.json as { seq: number; complete: boolean; events: { seq: number }[] };
      expect(body.events.map((e) => e.seq)).toEqual([2, 3]);
      expect([body.seq, body.complete]).toEqual([5, false]);
      const all = await call('/v1/users/a%20b/history?since=&limit=');
      expect((all.json as { events: unknown[]; complete: boolean }).events).toHaveLength(5);
      expect((all.json as { complete: boolean }).complete).toBe(true);
    });

    it('answers an unknown epoch with reset and no events', async () => {
      h = await startGateway();
      await h.publish({ user_id: 'u1', type: 'notification', data: {} });
      const res = await call('/v1/users/u1/history?since=0&epoch=e_other');
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ seq: 1, complete: false, events: [] });
      expect((res.json as { reset?: string }).reset).toEqual(expect.any(String));
    });
  });

  describe('engine failures', () => {
    it('answers 503 UNAVAILABLE on history while the engine is down', async () => {
      const engine = new FailingEngine();
      h = await startGateway({}, { engine });
      engine.failing = unavailable();
      const res = await call('/v1/users/u1/history');
      expect(res).toMatchObject({
        status: 503,
        json: { error: { code: 'UNAVAILABLE', message: 'the engine is unavailable; retry later' } },
      });
      expect(res.headers.get('retry-after')).toBe('1');
    });

    it.each([
      ['history', '/v1/users/u1/history', undefined],
      ['publish', '/v1/publish', JSON.stringify({ user_id: 'u1', type: 'notification', data: {} })],
    ])(
      'answers 500 INTERNAL on %s when the engine fails unexpectedly, and keeps serving',
      async (_name, path, body) => {
        const engine = new FailingEngine();
        h = await startGateway({}, { engine });
        engine.failing = new Error('disk on fire');
        const res = await call(path, body === undefined ? {} : { method: 'POST', body });
        expect(res).toMatchObject({
          status: 500,
          json: { error: { code: 'INTERNAL', message: 'internal error' } },
        });
        expect(JSON.stringify(res.json)).not.toContain('disk on fire');
        engine.failing = undefined;
        expect((await call('/v1/users/u1/history')).status).toBe(200);
      },
    );

    it('answers 503 UNAVAILABLE with Retry-After on publish while the engine is down', async () => {
      const engine = new FailingEngine();
      h = await startGateway({}, { engine });
      // Down: the engine refuses before sending anything, and says so.
      engine.failing = new EngineUnavailableError('engine unavailable (test double)', {
        nothingApplied: true,
      });
      const res = await call('/v1/publish', { method: 'POST', body: PUBLISH_BODY });
      expect(res).toMatchObject({
        status: 503,
        json: {
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
      ['publish', '/v1/publish', PUBLISH_BODY],
    ])(
      'answers 500, not 503, on %s for an agentcast error other than an outage',
      async (_name, path, body) => {
        const engine = new FailingEngine();
        h = await startGateway({}, { engine });
        engine.failing = new AgentcastError(AgentcastErrorCode.EngineClosed, 'engine closed (test double)');
        const res = await call(path, body === undefined ? {} : { method: 'POST', body });
        expect(res).toMatchObject({
          status: 500,
          json: { error: { code: 'INTERNAL', message: 'internal error' } },
        });
        expect(res.headers.get('retry-after')).toBeNull();
      },
    );

    it('logs an unexpected failure at error with the path and the error', async () => {
      const engine = new FailingEngine();
      const { log, lines } = captureLog('info');
      h = await startGateway({}, { engine, log });
      engine.failing = new Error('disk on fire');
      expect((await call('/v1/users/u1/history?since=0')).status).toBe(500);
      const failed = lines.filter((l) => l.msg === 'http handler failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({
        level: 50,
        path: '/v1/users/u1/history',
        err: { message: 'disk on fire', type: 'Error' },
      });
    });
  });

  describe('POST /v1/publish bodies', () => {
    it('names max_publish_bytes when a body is too large', async () => {
      h = await startGateway({ maxPublishBytes: 2048 });
      const res = await call('/v1/publish', {
        method: 'POST',
        body: JSON.stringify({ user_id: 'u1', type: 'notification', data: { pad: 'x'.repeat(4096) } }),
      });
      expect(res).toMatchObject({
        status: 413,
        json: {
          error: { code: 'PAYLOAD_TOO_LARGE', message: 'body exceeds 2048 bytes (max_publish_bytes)' },
        },
      });
    });

    it('says a body that does not parse is not valid JSON', async () => {
      h = await startGateway();
      expect(await call('/v1/publish', { method: 'POST', body: '{"user_id":' })).toMatchObject({
        status: 400,
        json: { error: { code: 'INVALID_JSON', message: 'body is not valid JSON' } },
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
      metrics: new Metrics(),
      log,
      readiness: () => ({ ready: true }),
      stats: () => ({}),
      cors: () => ({ action: 'continue', headers: {} }),
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
    expect(lines.filter((l) => l.msg === 'http handler failed')).toMatchObject([
      { level: 50, path: '/stream', err: { message: 'failed mid-answer' } },
    ]);
  });
});
