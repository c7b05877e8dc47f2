import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryQuery, HistoryResult, LogHead } from '../../../src/engine/engine.js';
import { MemoryEngine } from '../../../src/engine/memory-engine.js';
import { AgentcastError, AgentcastErrorCode } from '../../../src/protocol/agentcast-error.js';
import type { NewEvent, StoredEvent } from '../../../src/protocol/events.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';

/**
 * PROTOCOL.md §8 edges of the HTTP API that the main integration test leaves out: CORS preflights and
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

const unavailable = (): AgentcastError =>
  new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'engine unavailable (test double)');

describe('HTTP API edges (PROTOCOL.md §8)', () => {
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
      expect(res.json).toMatchObject({ error: { code: 'FORBIDDEN' } });
    });
  });

  describe('methods and routes', () => {
    it.each([
      ['POST', '/healthz', 'GET'],
      ['POST', '/metrics', 'GET'],
      ['GET', '/v1/publish', 'POST'],
      ['POST', '/v1/stats', 'GET'],
      ['DELETE', '/v1/users/u1/history', 'GET'],
    ])('answers %s %s with 405 and Allow: %s', async (method, path, allow) => {
      h = await startGateway();
      const res = await call(path, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.json).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
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
  });
});
