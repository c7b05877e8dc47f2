import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import { Metrics } from '../../packages/server/src/observability/metrics.js';
import { packageVersion } from '../../packages/server/src/observability/package-version.js';
import { Client, type Harness, startGateway, TEST_API_KEY, TEST_SECRET } from '../helpers/gateway-harness.js';
import { captureLog, type LogLine } from '../helpers/log-capture.js';
import { metricValue } from '../helpers/metric-value.js';
import { type RedisServer, requireRedisServer, startRedisServer } from '../helpers/redis-server.js';

const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

/** Resolves once `lines` holds a line `match` accepts (checked on each log write), or fails after 5 s. */
async function lineLogged(lines: LogLine[], match: (line: LogLine) => boolean): Promise<LogLine> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = lines.find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('the awaited log line never came');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('metrics and logs for operators (issue 19, "Observe")', () => {
  let h: Harness | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await redis?.stop();
    redis = undefined;
  });

  it('serves the process and Node metrics, build info and readiness', async () => {
    h = await startGateway();
    const text = await (await fetch(`${h.httpUrl}/metrics`)).text();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
    ]) {
      // The TYPE line is there before the first sample (a GC histogram has none until a GC ran).
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).toContain(`agentcast_build_info{version="${packageVersion()}",node="${process.version}"} 1`);
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
    expect(text).toMatch(/^agentcast_ready 1$/m);
    await h.gateway.close();
    expect(await metricValue(h.gateway.metrics, 'agentcast_ready')).toBe(0);
  });

  it('counts HTTP requests by route template, method and status, never by user id', async () => {
    h = await startGateway();
    const history = await fetch(`${h.httpUrl}/v1/users/alice-secret-id/history`, { headers: auth });
    expect(history.status).toBe(200);
    expect((await fetch(`${h.httpUrl}/v1/users/bob/history`)).status).toBe(401);
    expect((await fetch(`${h.httpUrl}/wp-login.php`)).status).toBe(404);
    const metrics = h.gateway.metrics;
    const route = '/v1/users/:user_id/history';
    expect(
      await metricValue(metrics, 'agentcast_http_requests_total', { route, method: 'GET', status: '200' }),
    ).toBe(1);
    expect(
      await metricValue(metrics, 'agentcast_http_requests_total', { route, method: 'GET', status: '401' }),
    ).toBe(1);
    expect(
      await metricValue(metrics, 'agentcast_http_requests_total', { route: 'other', status: '404' }),
    ).toBe(1);
    const text = await (await fetch(`${h.httpUrl}/metrics`)).text();
    expect(text).toMatch(
      /^agentcast_http_request_duration_seconds_count\{route="\/v1\/users\/:user_id\/history",method="GET"\} 2$/m,
    );
    expect(text).not.toContain('alice-secret-id');
    expect(text).not.toContain('wp-login');
  });

  it('counts publish rejections by code', async () => {
    h = await startGateway({ maxPublishBytes: 1024 });
    const post = (body: string) =>
      fetch(`${h?.httpUrl}/v1/publish`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body,
      });
    expect((await post('{"user_id":"u1"')).status).toBe(400);
    expect((await post(JSON.stringify({ user_id: 'u1', type: 'ack', data: {} }))).status).toBe(400);
    expect(
      (await post(JSON.stringify({ user_id: 'u1', type: 'note', data: { t: 'x'.repeat(2000) } }))).status,
    ).toBe(413);
    expect((await post(JSON.stringify({ user_id: 'u1', type: 'note', data: {} }))).status).toBe(202);
    const count = (code: string) =>
      metricValue(h!.gateway.metrics, 'agentcast_publish_rejections_total', { code });
    expect(await count('INVALID_JSON')).toBe(1);
    expect(await count('INVALID_MESSAGE')).toBe(1);
    expect(await count('PAYLOAD_TOO_LARGE')).toBe(1);
  });

  it('writes an access log line per HTTP request with --access-log: route, status, duration, ip; never the query', async () => {
    const { log, lines } = captureLog('info');
    h = await startGateway({ accessLog: true }, { log });
    await fetch(`${h.httpUrl}/v1/users/carol/history?since=0&token=query-secret-123`, { headers: auth });
    const line = await lineLogged(lines, (l) => l.msg === 'http request');
    expect(line).toMatchObject({
      method: 'GET',
      route: '/v1/users/:user_id/history',
      status: '200',
      ip: '127.0.0.1',
    });
    expect(line.duration_ms).toEqual(expect.any(Number));
    expect(JSON.stringify(lines)).not.toContain('query-secret-123');
    expect(JSON.stringify(lines)).not.toContain(TEST_API_KEY);
  });

  it('logs no access lines without --access-log', async () => {
    const { log, lines } = captureLog('debug');
    h = await startGateway({}, { log });
    expect((await fetch(`${h.httpUrl}/healthz`)).status).toBe(200);
    // Counted, so the answer's close handler has run: a line would be there by now.
    await expect
      .poll(() => metricValue(h!.gateway.metrics, 'agentcast_http_requests_total', { route: '/healthz' }))
      .toBe(1);
    expect(lines.some((l) => l.msg === 'http request')).toBe(false);
  });

  it('logs connection opened, authenticated and closed at debug with ip and duration', async () => {
    const { log, lines } = captureLog('debug');
    h = await startGateway({}, { log });
    const client = await h.connect('dora');
    client.ws.close(1000);
    await client.closedWith();
    const closed = await lineLogged(lines, (l) => l.msg === 'connection closed');
    const opened = lines.find((l) => l.msg === 'connection opened');
    const authenticated = lines.find((l) => l.msg === 'connection authenticated');
    for (const line of [opened, authenticated, closed])
      expect(line).toMatchObject({ level: 20, ip: '127.0.0.1' });
    expect(authenticated).toMatchObject({ user_id: 'dora', conn_id: opened?.conn_id });
    expect(closed).toMatchObject({ close_code: 1000, duration_ms: expect.any(Number) });
  });

  it.each([
    {
      name: 'a wrong signature',
      sign: () => signToken('another-secret-that-is-long-enough!!', 'u1', 60),
      cls: 'signature',
    },
    {
      name: 'an expired token',
      sign: () => signToken(TEST_SECRET, 'u1', -60, { iss: 'https://idp.example', aud: 'app' }),
      cls: 'expired',
    },
    {
      name: 'a wrong issuer',
      sign: () => signToken(TEST_SECRET, 'u1', 60, { iss: 'https://evil.example', aud: 'app' }),
      cls: 'issuer',
    },
    {
      name: 'a wrong audience',
      sign: () => signToken(TEST_SECRET, 'u1', 60, { iss: 'https://idp.example', aud: 'other' }),
      cls: 'audience',
    },
    {
      name: 'an empty sub',
      sign: () => signToken(TEST_SECRET, '', 60, { iss: 'https://idp.example', aud: 'app' }),
      cls: 'sub',
    },
  ])(
    'logs $name at info as "authentication failed" with reason $cls and the ip, never the token',
    async ({ sign, cls }) => {
      const { log, lines } = captureLog('info');
      h = await startGateway({ jwtIssuer: 'https://idp.example', jwtAudience: 'app' }, { log });
      const token = await sign();
      const client = Client.open(h.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
      await client.closedWith();
      client.ws.terminate();
      const line = await lineLogged(lines, (l) => l.msg === 'authentication failed');
      expect(line).toMatchObject({ level: 30, reason: cls, ip: '127.0.0.1' });
      const logged = JSON.stringify(lines);
      for (const part of token.split('.')) if (part.length > 0) expect(logged).not.toContain(part);
    },
  );

  it('counts Redis call latency, reconnects and pub/sub subscriptions on the Redis engine', async (ctx) => {
    if (!(await requireRedisServer('observability: Redis engine metrics'))) return ctx.skip();
    redis = await startRedisServer();
    const metrics = new Metrics();
    h = await startGateway({ redis: redis.url, redisKeyPrefix: 'obs:' }, { metrics });
    await expect.poll(() => metricValue(metrics, 'agentcast_engine_up'), { timeout: 5000 }).toBe(1);
    await h.connect('erin');
    expect(await metricValue(metrics, 'agentcast_redis_subscriptions')).toBe(1);
    const text = await metrics.registry.metrics();
    const calls = Number(/^agentcast_redis_command_duration_seconds_count (\d+)$/m.exec(text)?.[1]);
    expect(calls).toBeGreaterThan(0);
    await redis.restart();
    await expect
      .poll(() => metricValue(metrics, 'agentcast_redis_reconnects_total', { role: 'subscriber' }), {
        timeout: 5000,
      })
      .toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(metrics, 'agentcast_redis_reconnects_total', { role: 'command' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
