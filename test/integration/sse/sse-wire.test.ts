import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../../packages/server/src/config/config.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';
import { SseStream } from '../../helpers/sse-stream.js';

const GOOD_ORIGIN = 'https://app.example.com';

describe('GET /v1/events (docs/protocol.md H)', () => {
  const open: Harness[] = [];
  const streams: SseStream[] = [];

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    for (const g of open.splice(0)) await g.close();
  });

  async function start(overrides: Partial<Config> = {}): Promise<Harness> {
    const g = await startGateway(overrides);
    open.push(g);
    return g;
  }

  async function stream(g: Harness, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
    const s = await SseStream.open(`${g.httpUrl}/v1/events${query}`, headers);
    streams.push(s);
    return s;
  }

  async function streamOf(g: Harness, userId: string, query = '', headers: Record<string, string> = {}) {
    const s = await stream(g, query, { Authorization: `Bearer ${await g.token(userId)}`, ...headers });
    return s;
  }

  function notify(userId: string, n: number, pad = '') {
    return { user_id: userId, type: 'notification', data: { n, pad } };
  }

  async function post(g: Harness, path: string, auth: string, body?: unknown) {
    const res = await fetch(`${g.httpUrl}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  it('streams retry once, then the welcome without id, then each event as id epoch:seq with the WebSocket’s bytes', async () => {
    const g = await start();
    const ws = await g.connect('u1');
    const rawWs: string[] = [];
    ws.ws.on('message', (data) => rawWs.push(data.toString()));
    const s = await streamOf(g, 'u1', '', { 'Accept-Encoding': 'gzip, deflate, br' });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.headers['cache-control']).toBe('no-cache, no-transform');
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers['content-encoding']).toBeUndefined();
    // A close-delimited body (docs/protocol.md H): no chunked framing around each message.
    expect(s.headers['transfer-encoding']).toBeUndefined();
    const welcome = await s.next();
    expect(s.raw.startsWith('retry: 1000\n\ndata: {"type":"welcome"')).toBe(true);
    expect(welcome.id).toBeUndefined();
    expect(welcome.frame.data).toMatchObject({ user_id: 'u1', seq: 0, resume: 'none' });
    await g.publish({ events: [notify('u1', 1), notify('u1', 2), notify('u2', 3)] });
    const events = await s.events(2);
    await ws.events(2);
    const epoch = welcome.frame.data?.epoch as string;
    expect(events.map((e) => e.id)).toEqual([`${epoch}:1`, `${epoch}:2`]);
    expect(events.map((e) => e.data)).toEqual(rawWs);
    expect(s.raw).not.toContain('"n":3');
  });

  it('writes a comment line every --sse-heartbeat-ms', async () => {
    const g = await start({ sseHeartbeatMs: 100 });
    const s = await streamOf(g, 'u1');
    await s.next('welcome');
    await s.commentsReach(2);
    expect(s.raw).toContain('\n: ping\n\n');
  });

  it.each([
    ['no credential', async (_g: Harness) => ({})],
    ['a forged token', async (_g: Harness) => ({ Authorization: 'Bearer not.a.jwt' })],
    ['an expired token', async (g: Harness) => ({ Authorization: `Bearer ${await g.token('u1', -10)}` })],
  ])('answers %s with 401 and a JSON error, no stream', async (_name, headers) => {
    const g = await start();
    const s = await stream(g, '', await headers(g));
    expect(s.status).toBe(401);
    expect(s.headers['www-authenticate']).toBe('Bearer');
    expect(await s.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
  });

  it('takes ?token= only with --allow-query-token', async () => {
    const off = await start();
    const refused = await stream(off, `?token=${await off.token('u1')}`);
    expect(refused.status).toBe(401);
    const on = await start({ allowQueryToken: true });
    const accepted = await stream(on, `?token=${await on.token('u1')}`);
    expect(accepted.status).toBe(200);
    await accepted.next('welcome');
  });

  it('refuses a bad Origin with 403 and counts it: the address is then blocked with 429', async () => {
    const g = await start({ origins: [GOOD_ORIGIN], violationLimit: 2 });
    const good = await streamOf(g, 'u1', '', { Origin: GOOD_ORIGIN });
    expect(good.status).toBe(200);
    expect(good.headers['access-control-allow-origin']).toBe(GOOD_ORIGIN);
    for (let i = 0; i < 2; i += 1) {
      const bad = await streamOf(g, 'u1', '', { Origin: 'https://evil.example.com' });
      expect(bad.status).toBe(403);
      expect(await bad.json()).toEqual({ error: { code: 'FORBIDDEN', message: expect.any(String) } });
    }
    const blocked = await streamOf(g, 'u1', '', { Origin: GOOD_ORIGIN });
    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
  });

  it('counts streams and WebSockets together against --max-connections (503)', async () => {
    const g = await start({ maxConnections: 2 });
    await g.connect('u1');
    const s = await streamOf(g, 'u2');
    await s.next('welcome');
    const third = await streamOf(g, 'u3');
    expect(third.status).toBe(503);
    expect(await third.json()).toEqual({ error: { code: 'UNAVAILABLE', message: expect.any(String) } });
    const ws = g.open(await g.token('u4'));
    const refused = await new Promise<number | undefined>((resolve) =>
      ws.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode)),
    );
    expect(refused).toBe(503);
  });

  it('shares the per-user slots with WebSockets (503 beyond --max-connections-per-user)', async () => {
    const g = await start({ maxConnectionsPerUser: 2 });
    await g.connect('u1');
    const s = await streamOf(g, 'u1');
    await s.next('welcome');
    const third = await streamOf(g, 'u1');
    expect(third.status).toBe(503);
    expect(await third.json()).toEqual({
      error: { code: 'UNAVAILABLE', message: 'too many connections for this user' },
    });
  });

  it('resumes from Last-Event-ID exactly, and resets on an id of another epoch', async () => {
    const g = await start();
    await g.publish({ events: [1, 2, 3, 4].map((n) => notify('u1', n)) });
    const first = await streamOf(g, 'u1', '?since=0&epoch=x');
    const all = await first.events(0);
    expect(all).toEqual([]);
    const welcome = (await first.next('welcome')).frame.data as { epoch: string; resume: string };
    expect(welcome.resume).toBe('reset');
    const resumed = await streamOf(g, 'u1', '?since=0', { 'Last-Event-ID': `${welcome.epoch}:2` });
    expect((await resumed.next('welcome')).frame.data?.resume).toBe('ok');
    expect((await resumed.events(2)).map((e) => e.frame.seq)).toEqual([3, 4]);
    const foreign = await streamOf(g, 'u1', '', { 'Last-Event-ID': 'e_another:2' });
    expect((await foreign.next('welcome')).frame.data?.resume).toBe('reset');
    const malformed = await streamOf(g, 'u1', '', { 'Last-Event-ID': 'nonsense' });
    expect(malformed.status).toBe(400);
  });

  it('resumes from ?since=&epoch= like the WebSocket', async () => {
    const g = await start();
    const published = await g.publish({ events: [1, 2, 3].map((n) => notify('u1', n)) });
    const { epoch } = (published.json as { results: { epoch: string }[] }).results[0] as { epoch: string };
    const s = await streamOf(g, 'u1', `?since=1&epoch=${epoch}`);
    expect((await s.next('welcome')).frame.data?.resume).toBe('ok');
    expect((await s.events(2)).map((e) => e.id)).toEqual([`${epoch}:2`, `${epoch}:3`]);
    const bad = await streamOf(g, 'u1', '?since=-1');
    expect(bad.status).toBe(400);
  });

  it('ends the stream with a STREAM_CLOSED error frame (close_code 4002) when the token expires', async () => {
    const g = await start({ heartbeatMs: 200 });
    const s = await stream(g, '', { Authorization: `Bearer ${await g.token('u1', 2)}` });
    await s.next('welcome');
    const closed = await s.next('error', 5000);
    expect(closed.id).toBeUndefined();
    expect(closed.frame.data).toEqual({ code: 'STREAM_CLOSED', message: 'token expired', close_code: 4002 });
    await s.end();
  });

  it('keeps only the socket of an open stream: counted as a request once open, still delivering, ended by the client going away or by the gateway', async () => {
    const g = await start();
    const opened = () =>
      metricValue(g.gateway.metrics, 'agentcast_http_requests_total', { route: '/v1/events', status: '200' });
    const leaving = await streamOf(g, 'u1');
    const staying = await streamOf(g, 'u2');
    await leaving.next('welcome');
    await staying.next('welcome');
    // node:http's request and response are done once the stream is handed over (gateway/socket-handover.ts):
    // the request is counted then, not when the stream ends hours later.
    await vi.waitFor(async () => expect(await opened()).toBe(2), { timeout: 5000, interval: 10 });
    expect(g.gateway.stats().connections).toBe(2);
    expect((await g.publish(notify('u1', 1))).status).toBe(202);
    expect((await leaving.events(1))[0]?.frame.data).toMatchObject({ n: 1 });
    // The client goes away: its socket's end is the session's end.
    leaving.close();
    await vi.waitFor(() => expect(g.gateway.stats().connections).toBe(1), { timeout: 5000, interval: 10 });
    expect(await metricValue(g.gateway.metrics, 'agentcast_connections_closed_total', { code: '1006' })).toBe(
      1,
    );
    // The server still parses new requests (the freed parsers are reused) and the other stream still delivers.
    const again = await streamOf(g, 'u1');
    await again.next('welcome');
    expect((await g.publish(notify('u2', 2))).status).toBe(202);
    expect((await staying.events(1))[0]?.frame.data).toMatchObject({ n: 2 });
    await g.gateway.close();
    for (const s of [staying, again]) {
      expect((await s.next('error')).frame.data).toMatchObject({ code: 'STREAM_CLOSED', close_code: 1012 });
      await s.end();
    }
    expect(await opened()).toBe(3);
  });

  it('ends every stream with close_code 1012 when the gateway closes', async () => {
    const g = await start();
    const s = await streamOf(g, 'u1');
    await s.next('welcome');
    await g.gateway.close();
    expect((await s.next('error')).frame.data).toMatchObject({ code: 'STREAM_CLOSED', close_code: 1012 });
  });

  it('ends a stream that stops reading once its unsent bytes pass max_buffered_bytes (4013); the resume gets the rest', async () => {
    const g = await start({ maxBufferedBytes: 65_536 });
    const pad = 'x'.repeat(16 * 1024);
    const stalled = await streamOf(g, 'u1');
    const welcome = await stalled.next('welcome');
    stalled.pause();
    // One event per publish, so each is written in its own tick; bounded at ~64 MiB in all.
    let published = 0;
    while (published < 4000) {
      expect((await g.publish(notify('u1', published, pad))).status).toBe(202);
      published++;
      if ((await metricValue(g.gateway.metrics, 'agentcast_connections_closed_total', { code: '4013' })) > 0)
        break;
    }
    expect(published).toBeLessThan(4000);
    await vi.waitFor(() => expect(g.gateway.stats().connections).toBe(0), { timeout: 5000, interval: 10 });
    // The client resumes from the last event it read and gets exactly the rest (§4).
    stalled.resume();
    await stalled.end();
    const last = stalled.messages.filter((m) => m.id !== undefined).at(-1)?.frame.seq ?? 0;
    const epoch = welcome.frame.data?.epoch as string;
    const resumed = await streamOf(g, 'u1', '', { 'Last-Event-ID': `${epoch}:${last}` });
    expect((await resumed.next('welcome')).frame.data?.resume).toBe('ok');
    const rest = await resumed.events(published - last);
    expect(rest.map((e) => e.frame.seq)).toEqual(
      Array.from({ length: published - last }, (_, i) => last + i + 1),
    );
  });

  describe('POST /v1/tickets', () => {
    it('issues a single-use ticket bound to the user: a second use is 401', async () => {
      const g = await start();
      const issued = await post(g, '/v1/tickets', await g.token('u1'));
      expect(issued.status).toBe(200);
      expect(issued.json).toEqual({ ticket: expect.stringMatching(/^t_/), expires_in: 30 });
      const s = await stream(g, `?ticket=${issued.json.ticket as string}`);
      expect(s.status).toBe(200);
      expect((await s.next('welcome')).frame.data?.user_id).toBe('u1');
      const again = await stream(g, `?ticket=${issued.json.ticket as string}`);
      expect(again.status).toBe(401);
      const unknown = await stream(g, '?ticket=t_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      expect(unknown.status).toBe(401);
    });

    it('refuses the API key and a missing token with 401', async () => {
      const g = await start();
      expect((await post(g, '/v1/tickets', TEST_API_KEY)).status).toBe(401);
      expect((await fetch(`${g.httpUrl}/v1/tickets`, { method: 'POST' })).status).toBe(401);
    });
  });

  describe('POST /v1/messages and POST /v1/runs/:run_id/cancel with the user’s JWT', () => {
    it('starts a run once per message id, whose events reach the stream, and the user can cancel it', async () => {
      const g = await start({ demoDelayMs: 200 });
      const s = await streamOf(g, 'u1');
      await s.next('welcome');
      const token = await g.token('u1');
      const first = await post(g, '/v1/messages', token, { id: 'm1', text: 'hello' });
      expect(first).toEqual({ status: 202, json: { run_id: expect.any(String), duplicate: false } });
      const again = await post(g, '/v1/messages', token, { id: 'm1', text: 'hello' });
      expect(again.json).toEqual({ run_id: first.json.run_id, duplicate: true });
      const runId = first.json.run_id as string;
      expect((await s.next('agent_started')).frame.run_id).toBe(runId);
      const other = await post(g, `/v1/runs/${runId}/cancel`, await g.token('u2'));
      expect(other.status).toBe(404);
      const cancel = await post(g, `/v1/runs/${runId}/cancel`, token);
      expect(cancel).toEqual({ status: 202, json: { run_id: runId, status: 'cancelling' } });
      const done = await s.next('agent_completed');
      expect(done.frame.data).toMatchObject({ status: 'cancelled' });
      const starts = s.messages.filter((m) => m.frame.type === 'agent_started');
      expect(starts).toHaveLength(1);
    });

    it('answers a malformed message with 400 naming the field, and an unknown agent with 404', async () => {
      const g = await start();
      const token = await g.token('u1');
      const missing = await post(g, '/v1/messages', token, { id: 'm1' });
      expect(missing.status).toBe(400);
      expect(missing.json).toEqual({
        error: { code: 'INVALID_MESSAGE', message: expect.stringContaining('text') },
      });
      const agent = await post(g, '/v1/messages', token, { id: 'm2', text: 'x', agent: 'nobody' });
      expect(agent.status).toBe(404);
    });

    it('keeps the backend’s cancel with the API key and {"user_id"}', async () => {
      const g = await start({ demoDelayMs: 200 });
      const started = await post(g, '/v1/messages', await g.token('u1'), { id: 'm1', text: 'hi' });
      const runId = started.json.run_id as string;
      const cancel = await post(g, `/v1/runs/${runId}/cancel`, TEST_API_KEY, { user_id: 'u1' });
      expect(cancel).toEqual({ status: 202, json: { run_id: runId, status: 'cancelling' } });
      const wrong = await post(g, `/v1/runs/${runId}/cancel`, 'not-a-key-nor-a-jwt');
      expect(wrong.status).toBe(401);
    });

    it('answers a preflight from an allowed origin, without --expose-api-to-browsers', async () => {
      const g = await start({ origins: [GOOD_ORIGIN] });
      const res = await fetch(`${g.httpUrl}/v1/messages`, {
        method: 'OPTIONS',
        headers: { Origin: GOOD_ORIGIN, 'Access-Control-Request-Method': 'POST' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(GOOD_ORIGIN);
      const api = await fetch(`${g.httpUrl}/v1/publish`, {
        method: 'OPTIONS',
        headers: { Origin: GOOD_ORIGIN, 'Access-Control-Request-Method': 'POST' },
      });
      expect(api.status).toBe(403);
    });
  });
});
