import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../../src/auth/dev-token.js';
import type { EngineHealth } from '../../../src/engine/engine.js';
import { MemoryEngine } from '../../../src/engine/memory-engine.js';
import type { Gateway } from '../../../src/gateway/gateway.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { Client, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';

/** An engine whose health the test switches, telling listeners as Redis going away would. */
class SwitchableHealth extends DelegatingEngine {
  #health: EngineHealth = { ok: true };
  readonly #listeners = new Set<(h: EngineHealth) => void>();
  override health(): EngineHealth {
    return this.#health;
  }
  override onHealthChange(listener: (h: EngineHealth) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  set(health: EngineHealth): void {
    this.#health = health;
    for (const l of this.#listeners) l(health);
  }
}

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
    const engine = new SwitchableHealth(new MemoryEngine());
    h = await startGateway({}, { engine });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(1);
    engine.set({ ok: false, reason: 'redis unreachable' });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(0);
    expect(h.gateway.readiness()).toEqual({ ready: false, reason: 'engine: redis unreachable' });
    engine.set({ ok: true });
    expect(await gauge(h.gateway, 'agentcast_engine_up')).toBe(1);
    expect(h.gateway.readiness()).toEqual({ ready: true });
    await h.close();
    h = undefined;
    await engine.close();
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
    h = await startGateway();
    const first = h.gateway.drain();
    expect(h.gateway.drain()).toBe(first);
    await first;
    expect(h.gateway.state).toBe('closed');
    h = undefined;
  });
});
