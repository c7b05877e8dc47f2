import { afterEach, describe, expect, it } from 'vitest';
import type { EngineHealth } from '../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import { AgentcastError, AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import type { NewEvent, StoredEvent } from '../../packages/server/src/protocol/events.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';

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

  it('refuses invalid JSON with 400 INVALID_JSON', async () => {
    h = await startGateway();
    expect(await post(h, '{"user_id":')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_JSON' } },
    });
  });

  it('refuses a body over max_publish_bytes with 413', async () => {
    h = await startGateway({ maxPublishBytes: 2048 });
    const res = await post(h, { user_id: 'u', type: 'notification', data: { pad: 'x'.repeat(4096) } });
    expect(res).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
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

  it('answers 503 and stores nothing when the engine is unavailable', async () => {
    const down = new (class extends DelegatingEngine {
      override appendBatch(_items: readonly { userId: string; event: NewEvent }[]): Promise<StoredEvent[]> {
        return Promise.reject(new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'redis is down'));
      }
    })(new MemoryEngine());
    h = await startGateway({}, { engine: down });
    const res = await post(h, { user_id: 'u', type: 'notification', data: {} });
    expect(res).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    await down.close();
  });

  it('says "nothing was stored" only when the engine refused before sending; otherwise that the events may have been stored', async () => {
    let failure: unknown;
    const failing = new (class extends DelegatingEngine {
      override appendBatch(_items: readonly { userId: string; event: NewEvent }[]): Promise<StoredEvent[]> {
        return Promise.reject(failure);
      }
    })(new MemoryEngine());
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
    const engine = new (class extends DelegatingEngine {
      override health(): EngineHealth {
        return {
          ok: false,
          reason: 'redis unreachable: command connection lost (connect ECONNREFUSED 10.0.0.5:6379)',
        };
      }
    })(new MemoryEngine());
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
});
