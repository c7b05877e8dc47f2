import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { createGateway, type Gateway } from '../../../packages/server/src/gateway/gateway.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { freePort } from '../../helpers/free-port.js';
import { Client, type Harness, startGateway, testConfig } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';

const gauge = (gateway: Gateway, name: string) => metricValue(gateway.metrics, name);

describe('Gateway', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('generates a dev secret only when no key was configured, and tokens signed with it authenticate', async () => {
    h = await startGateway({ jwtSecret: undefined });
    const secret = h.gateway.devSecret as string;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const client = Client.open(h.wsUrl, {
      headers: { Authorization: `Bearer ${await signToken(secret, 'dev', 60)}` },
    });
    expect(await client.next('welcome')).toMatchObject({ data: { user_id: 'dev' } });
    client.ws.terminate();
    await h.close();
    h = await startGateway();
    expect(h.gateway.devSecret).toBeUndefined();
  });

  it('closes an engine it created, and leaves alone one it was given', async () => {
    h = await startGateway();
    const own = h.gateway.engine;
    await h.close();
    h = undefined;
    await expect(own.head('u')).rejects.toMatchObject({ code: 'AC_ERR_ENGINE_CLOSED' });
    const given = new MemoryEngine();
    h = await startGateway({}, { engine: given });
    await h.close();
    h = undefined;
    await expect(given.head('u')).resolves.toMatchObject({ seq: 0 });
    await given.close();
  });

  it('follows the engine health in agentcast_engine_up and /readyz', async () => {
    // Health switched by the test, telling listeners as Redis going away would.
    const engine = new DelegatingEngine();
    h = await startGateway({}, { engine });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(1);
    engine.setHealth({ ok: false, reason: 'redis unreachable' });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(0);
    expect(h.gateway.readiness()).toEqual({
      ready: false,
      reason: 'engine_unavailable',
      detail: 'redis unreachable',
    });
    engine.setHealth({ ok: true });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(1);
    expect(h.gateway.readiness()).toEqual({ ready: true });
    await h.close();
    h = undefined;
    await engine.close();
  });

  it('answers a failing /metrics with a generic 500 on either port, never the error text', async () => {
    const { log, lines } = captureLog();
    for (const metricsPort of [0, undefined]) {
      const metrics = new Metrics();
      new Gauge({
        name: 'broken_gauge',
        help: 'a collect callback that throws',
        registers: [metrics.registry],
        collect() {
          throw new Error('cannot reach 10.0.0.5:9100');
        },
      });
      h = await startGateway({ metricsPort }, { metrics, log });
      const port = h.gateway.addresses().metricsPort ?? h.port;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
      await h.close();
      h = undefined;
    }
    expect(lines.filter((l) => l.level === 50).length).toBe(2); // the detail is logged for the operator
  });

  it('counts events published from code as source "api"', async () => {
    h = await startGateway();
    await h.gateway.publish('u1', { type: 'notification', data: {} });
    const values = (await h.gateway.metrics.eventsPublished.get()).values;
    expect(values).toEqual([expect.objectContaining({ labels: { source: 'api' }, value: 1 })]);
  });

  it('reports starting, running and closed, and its addresses', async () => {
    h = await startGateway({ metricsPort: 0 });
    expect(h.gateway.state).toBe('running');
    const addresses = h.gateway.addresses();
    expect(addresses).toMatchObject({ host: '127.0.0.1', port: h.port, metricsPort: expect.any(Number) });
    const metricsUrl = `http://127.0.0.1:${addresses.metricsPort}/metrics`;
    expect((await fetch(metricsUrl)).status).toBe(200);
    await h.close();
    expect(h.gateway.state).toBe('closed');
    await expect(fetch(metricsUrl)).rejects.toThrow();
    h = undefined;
  });

  it('drains once, however often drain() is called, and a drain after close is a no-op', async () => {
    const { log, lines } = captureLog();
    h = await startGateway({}, { log });
    await h.connect('u1');
    const first = h.gateway.drain();
    expect(h.gateway.drain()).toBe(first);
    await first;
    expect(h.gateway.state).toBe('closed');
    // One line saying what the drain had to end (the only one counting runs).
    expect(lines.filter((l) => l.runs !== undefined)).toEqual([
      expect.objectContaining({ level: 30, connections: 1, runs: 0 }),
    ]);
    // The last line says the gateway closed; it carries no field, so its message is what tells it apart.
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'gateway closed' });

    const closedFirst = await startGateway({}, { log });
    await closedFirst.close();
    const before = lines.length;
    await closedFirst.gateway.drain();
    expect(lines.slice(before)).toEqual([]);
    h = undefined;
  });

  it('is starting, not ready and has no address until it listens', async () => {
    const gateway = createGateway(testConfig(), { log: silentLogger() });
    expect(gateway.state).toBe('starting');
    expect(gateway.readiness()).toEqual({ ready: false, reason: 'starting' });
    expect(gateway.addresses()).toEqual({ host: '', port: 0 });
    await gateway.close();
  });

  it('logs where it listens, on which engine and as which node', async () => {
    const { log, lines } = captureLog();
    h = await startGateway({ serverId: 'node-7' }, { log });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 30,
        host: '127.0.0.1',
        port: h.port,
        env: 'test',
        engine: 'memory',
        server_id: 'node-7',
      }),
    );
    expect(h.gateway.addresses()).not.toHaveProperty('metricsPort');
  });

  it('rejects listen() naming the flag when a port is taken, and serves /metrics on the exact --metrics-port', async () => {
    h = await startGateway();
    const second = createGateway(testConfig({ port: h.port }), { log: silentLogger() });
    await expect(second.listen()).rejects.toMatchObject({
      code: AgentcastErrorCode.ConfigInvalid,
      message: `invalid configuration:\n  - --port "${h.port}": port ${h.port} is in use on 127.0.0.1; pass --port with another port (0 picks a free one)`,
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    });
    await second.close();
    const taken = createGateway(testConfig({ metricsPort: h.port }), { log: silentLogger() });
    await expect(taken.listen()).rejects.toMatchObject({
      message: expect.stringContaining(`--metrics-port "${h.port}": port ${h.port} is in use`),
    });
    await taken.close();
    const metricsPort = await freePort();
    const third = createGateway(testConfig({ metricsPort }), { log: silentLogger() });
    try {
      expect((await third.listen()).metricsPort).toBe(metricsPort);
    } finally {
      await third.close();
    }
  });

  it('refuses a --default-agent it does not have, naming the flag and the agents it has', () => {
    expect(() => createGateway(testConfig({ defaultAgent: 'ghost' }), { log: silentLogger() })).toThrow(
      expect.objectContaining({
        code: AgentcastErrorCode.ConfigInvalid,
        message:
          'invalid configuration:\n  - --default-agent "ghost": not one of the agents (demo); pass one of them',
      }),
    );
  });

  it('generates its dev secret in development as in test', async () => {
    const gateway = createGateway(testConfig({ env: 'development', jwtSecret: undefined }), {
      log: silentLogger(),
    });
    expect(gateway.devSecret).toEqual(expect.any(String));
    await gateway.close();
  });

  it('refuses to start outside development and test without a token key', () => {
    const config = { ...testConfig(), env: 'staging' as const, jwtSecret: undefined };
    expect(() => createGateway(config, { log: silentLogger() })).toThrow(
      expect.objectContaining({
        code: AgentcastErrorCode.ConfigInvalid,
        message:
          'invalid configuration:\n  - --env "staging": needs client token verification; set --jwt-secret, --jwt-public-key or --jwks',
      }),
    );
  });

  it('refuses an invalid event published from code with AC_ERR_EVENT_INVALID and HTTP status 400', async () => {
    h = await startGateway();
    await expect(h.gateway.publish('u1', { type: 'Not A Type', data: {} })).rejects.toMatchObject({
      code: AgentcastErrorCode.EventInvalid,
      httpStatus: 400,
    });
    expect(await h.gateway.engine.head('u1')).toMatchObject({ seq: 0 });
  });

  it('hands out demo tokens signed with the dev secret, and with a configured one only under --demo-tokens', async () => {
    h = await startGateway({ demo: true, jwtSecret: undefined });
    const res = await fetch(`${h.httpUrl}/demo/token?user=alice`);
    const { token } = (await res.json()) as { token: string };
    const client = Client.open(h.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
    expect(await client.next('welcome')).toMatchObject({ data: { user_id: 'alice' } });
    client.ws.terminate();
    await h.close();
    h = await startGateway({ demo: true });
    const refused = await fetch(`${h.httpUrl}/demo/token?user=bob`);
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    await h.close();
    h = await startGateway({ demo: true, demoTokens: true });
    const configured = (await (await fetch(`${h.httpUrl}/demo/token?user=bob`)).json()) as { token: string };
    const bob = Client.open(h.wsUrl, { headers: { Authorization: `Bearer ${configured.token}` } });
    expect(await bob.next('welcome')).toMatchObject({ data: { user_id: 'bob' } });
    bob.ws.terminate();
  });
});
