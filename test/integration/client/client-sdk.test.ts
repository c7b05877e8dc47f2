import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  type AgentcastClient,
  type AgentEvent,
  type ConnectOptions,
  connect,
  type LifecycleEvents,
  type Timers,
  type WebSocketConstructor,
} from '../../../packages/client/src/index.js';
import { SeededRandom } from '../../../packages/server/src/agents/seeded-random.js';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { CloseCode } from '../../../packages/server/src/protocol/close-codes.js';
import { freePort } from '../../helpers/free-port.js';
import { type Harness, startGateway, TEST_API_KEY, TEST_SECRET } from '../../helpers/gateway-harness.js';
import { type GatewayProcess, spawnGateway } from '../../helpers/gateway-process.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

/**
 * The client SDK (src/client) against real gateways (issue #6): process restarts, drains, a proxy that
 * cuts connections, token refresh and auth refusals. Every wait resolves on an SDK callback, a received
 * frame or a proxy change, never on a sleep.
 */

const SECRET = 'client-sdk-restart-secret-0123456789abcdef';
const API_KEY = 'client-sdk-api-key-0123456789';
/** Fast retries keep the tests short; heartbeats are off (the gateway's own pings keep `ws` alive). */
const FAST: Partial<ConnectOptions> = {
  heartbeat: false,
  backoff: { initialMs: 20, maxMs: 200 },
  restartJitterMs: 50,
};
/** Generous: two shared cores, other suites running. Only reached when something is broken. */
const WAIT_MS = 15_000;

type Lifecycle = {
  [K in keyof LifecycleEvents]: { name: K; payload: LifecycleEvents[K] };
}[keyof LifecycleEvents];

/** A server frame as the client's socket received it, with its arrival time. */
interface SeenFrame {
  readonly type: string;
  readonly atMs: number;
}

/**
 * A connected SDK client and everything it reported: events, lifecycle callbacks and the raw frames its
 * sockets received. `until()` re-checks a condition on each of those reports.
 */
class Observed {
  readonly client: AgentcastClient;
  readonly events: AgentEvent[] = [];
  readonly lifecycle: Lifecycle[] = [];
  readonly frames: SeenFrame[] = [];
  /** Sockets the client constructed: one per connection attempt. */
  sockets = 0;
  readonly #wakers = new Set<() => void>();

  /** Client errors a test expects; any other one fails the pending `until()` at once. */
  readonly #expectedErrors: ReadonlySet<string>;

  constructor(
    options: Partial<ConnectOptions> & Pick<ConnectOptions, 'url' | 'getToken'>,
    expectedErrors: readonly string[] = [],
  ) {
    this.#expectedErrors = new Set(expectedErrors);
    this.client = connect({ ...FAST, WebSocket: this.#recordingWebSocket(), ...options });
    this.client.on('*', (event) => {
      this.events.push(event);
      this.#wake();
    });
    for (const name of ['statechange', 'welcome', 'reset', 'disconnect', 'error'] as const) {
      this.client.onLifecycle(name, (payload) => {
        this.lifecycle.push({ name, payload } as Lifecycle);
        this.#wake();
      });
    }
  }

  /** The payloads of one lifecycle event, in order. */
  of<K extends keyof LifecycleEvents>(name: K): LifecycleEvents[K][] {
    return this.lifecycle.flatMap((l) => (l.name === name ? [l.payload as LifecycleEvents[K]] : []));
  }

  seqs(): number[] {
    return this.events.map((e) => e.seq);
  }

  /**
   * Resolves once `done()` holds, re-checked after every event, lifecycle callback and frame. Rejects at
   * once when the client reports an error the test did not expect (a bad frame, a server error).
   */
  until(done: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.#wakers.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      const check = (): void => {
        const unexpected = this.of('error').find((e) => !this.#expectedErrors.has(e.code));
        if (unexpected !== undefined)
          finish(
            new Error(`client error while waiting for ${what}: ${unexpected.code}: ${unexpected.message}`),
          );
        else if (done()) finish();
      };
      const timer = setTimeout(() => {
        const state = `state ${this.client.state}, lastSeq ${this.client.lastSeq}`;
        finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${state})`));
      }, timeoutMs);
      this.#wakers.add(check);
      check();
    });
  }

  #wake(): void {
    for (const check of [...this.#wakers]) check();
  }

  /** `ws`, plus a listener that records every frame before the SDK sees it. */
  #recordingWebSocket(): WebSocketConstructor {
    const observed = this;
    return class RecordingWebSocket extends WebSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        observed.sockets += 1;
        this.on('message', (data) => {
          const frame = JSON.parse(String(data)) as { type: string };
          observed.frames.push({ type: frame.type, atMs: Date.now() });
          observed.#wake();
        });
      }
    };
  }
}

/** A seeded PRNG as a function, so a failing run can be replayed from the seed in the test name. */
function seeded(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}

/** Publishes `notification` events carrying `n` over HTTP, in one batch (≤ 500, docs/protocol.md §8). */
async function publishOverHttp(baseUrl: string, apiKey: string, userId: string, ns: number[]): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ events: ns.map((n) => ({ user_id: userId, type: 'notification', data: { n } })) }),
  });
  expect(res.status).toBe(202);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Platform timers that know how many callbacks are still scheduled. */
function countingTimers(): Timers & { readonly pending: number } {
  const live = new Set<ReturnType<typeof setTimeout>>();
  return {
    setTimeout(callback, ms) {
      const handle = setTimeout(() => {
        live.delete(handle);
        callback();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      live.delete(handle as ReturnType<typeof setTimeout>);
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    get pending() {
      return live.size;
    },
  };
}

describe('client SDK against a real gateway', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const observe = (...args: ConstructorParameters<typeof Observed>): Observed => {
    const observed = new Observed(...args);
    cleanups.push(() => observed.client.close());
    return observed;
  };
  const gateway = async (...args: Parameters<typeof startGateway>): Promise<Harness> => {
    const harness = await startGateway(...args);
    cleanups.push(() => harness.close());
    return harness;
  };
  const proxyTo = async (port: number): Promise<TcpProxy> => {
    const proxy = await TcpProxy.start({ targetPort: port });
    cleanups.push(() => proxy.close());
    return proxy;
  };

  describe('across server restarts', () => {
    it('surfaces reset when the killed gateway process comes back empty, then delivers new events', async () => {
      const port = await freePort();
      const args = ['--port', String(port), '--env', 'test', '--jwt-secret', SECRET, '--api-key', API_KEY];
      const httpUrl = `http://127.0.0.1:${port}`;
      const children: GatewayProcess[] = [];
      cleanups.push(() => {
        for (const c of children) c.child.kill('SIGKILL');
      });
      children.push(await spawnGateway(args));
      // Without catch-up (docs/client.md, "Delivery semantics"): with it, the welcome would say "snapshot"
      // and bring the runs instead of a reset (test/integration/client/catch-up.test.ts).
      const obs = observe({
        url: `ws://127.0.0.1:${port}/ws`,
        getToken: () => signToken(SECRET, 'u1', 600),
        catchUp: 'none',
      });
      await obs.until(() => obs.client.state === 'open', 'the first welcome');
      await publishOverHttp(httpUrl, API_KEY, 'u1', [1, 2, 3]);
      await obs.until(() => obs.client.lastSeq === 3, 'events 1..3');
      const firstEpoch = obs.client.epoch;

      const first = children[0] as GatewayProcess;
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      await obs.until(() => obs.of('disconnect').length > 0, 'the client to notice the dead process');
      children.push(await spawnGateway(args));

      await obs.until(() => obs.of('reset').length > 0, 'reset after the restart');
      const [reset] = obs.of('reset');
      expect(reset).toMatchObject({
        reason: 'resume_reset',
        seq: 0,
        previous: { epoch: firstEpoch, seq: 3 },
      });
      expect(reset?.epoch).not.toBe(firstEpoch);
      expect(obs.of('welcome').map((w) => w.resume)).toEqual(['none', 'reset']);

      await publishOverHttp(httpUrl, API_KEY, 'u1', [4, 5]);
      await obs.until(() => obs.client.lastSeq === 2 && obs.client.epoch === reset?.epoch, 'new events');
      expect(obs.events.map((e) => [e.epoch === firstEpoch ? 'old' : 'new', e.seq, e.data.n])).toEqual([
        ['old', 1, 1],
        ['old', 2, 2],
        ['old', 3, 3],
        ['new', 1, 4],
        ['new', 2, 5],
      ]);
      expect(obs.of('reset')).toHaveLength(1);
      expect(obs.client.state).toBe('open');
    });

    it('resumes on the next gateway after a 1012 drain with nothing lost or repeated when history survives', async () => {
      const engine = new MemoryEngine();
      cleanups.push(() => engine.close());
      const a = await gateway({}, { engine });
      const b = await gateway({}, { engine });
      const proxy = await proxyTo(a.port);
      const obs = observe({ url: proxy.wsUrl, getToken: () => a.token('u1') });
      await obs.until(() => obs.client.state === 'open', 'the welcome from A');
      for (const n of range(1, 5)) await a.gateway.publish('u1', { type: 'notification', data: { n } });
      await obs.until(() => obs.client.lastSeq === 5, 'events 1..5 from A');

      // The reconnect is held at the proxy until events were published in the gap, then sent to B.
      proxy.pause();
      proxy.retarget(b.port);
      await a.gateway.drain();
      await obs.until(() => obs.of('disconnect').length > 0, 'the 1012 from A');
      expect(obs.of('disconnect')[0]?.code).toBe(CloseCode.ServiceRestart);
      await proxy.waitForConnections(2);
      for (const n of range(6, 10)) await engine.append('u1', { type: 'notification', data: { n } });
      proxy.resume();
      await obs.until(() => obs.client.lastSeq === 10, 'events 6..10 replayed by B');
      for (const n of range(11, 15)) await b.gateway.publish('u1', { type: 'notification', data: { n } });
      await obs.until(() => obs.client.lastSeq === 15, 'live events 11..15 from B');

      expect(obs.seqs()).toEqual(range(1, 15));
      expect(obs.events.map((e) => e.data.n)).toEqual(range(1, 15));
      // The first connection asks for catch-up (the default); the resume history can serve is "ok".
      expect(obs.of('welcome').map((w) => w.resume)).toEqual(['snapshot', 'ok']);
      expect(obs.of('reset')).toEqual([]);
    });
  });

  describe('through a proxy that cuts connections', () => {
    const SEED = 0x5eed_c0de;
    const TOTAL = 1000;
    const CUTS = 20;

    it(`delivers ${TOTAL} events exactly once, in order, across ${CUTS} random cuts (seed 0x${SEED.toString(16)})`, async () => {
      const rng = seeded(SEED);
      const gw = await gateway();
      const proxy = await proxyTo(gw.port);
      const obs = observe({ url: proxy.wsUrl, getToken: () => gw.token('u1'), random: seeded(SEED + 1) });
      await obs.until(() => obs.client.state === 'open', 'the first welcome');

      let published = 0;
      for (let cut = 1; cut <= CUTS; cut++) {
        // Batches average TOTAL / (CUTS + 1) events; each cut leaves at least one event per later batch.
        const room = TOTAL - published - (CUTS + 1 - cut);
        const batch = Math.min(room, 1 + Math.floor(rng() * ((2 * TOTAL) / (CUTS + 1))));
        const seen = obs.client.lastSeq;
        await publishOverHttp(gw.httpUrl, TEST_API_KEY, 'u1', range(published + 1, published + batch));
        published += batch;
        // Cut somewhere in what is in flight: after a random number of the unseen events arrived, on a live
        // connection (it may be replaying after the previous cut).
        const cutAfter = seen + Math.floor(rng() * (published - seen));
        await obs.until(
          () => obs.client.state === 'open' && obs.client.lastSeq >= cutAfter,
          `event ${cutAfter} before cut ${cut}`,
        );
        expect(proxy.cutAll(), `cut ${cut} found one open connection`).toBe(1);
      }
      await publishOverHttp(gw.httpUrl, TEST_API_KEY, 'u1', range(published + 1, TOTAL));
      await obs.until(() => obs.client.lastSeq === TOTAL, `all ${TOTAL} events`);

      expect(obs.seqs()).toEqual(range(1, TOTAL));
      expect(obs.events.map((e) => e.data.n)).toEqual(range(1, TOTAL));
      expect(obs.of('reset')).toEqual([]);
      expect(obs.of('disconnect').length).toBeGreaterThanOrEqual(CUTS);
      expect(proxy.connections).toBeGreaterThanOrEqual(CUTS + 1);
    });

    it.each([
      { stalled: 'down', when: 'the gateway started the run but its ack was lost', duplicate: true },
      { stalled: 'up', when: 'the message never reached the gateway', duplicate: false },
    ] as const)(
      'resends an unacked message after a cut and starts one run ($when)',
      async ({ stalled, duplicate }) => {
        const gw = await gateway({ demoDelayMs: 10 });
        const proxy = await proxyTo(gw.port);
        const obs = observe({ url: proxy.wsUrl, getToken: () => gw.token('u1') });
        // A second connection of the same user, straight to the gateway: it sees what the gateway did.
        const witness = await gw.connect('u1');
        await obs.until(() => obs.client.state === 'open', 'the first welcome');

        proxy.stall(stalled);
        const acked = obs.client.sendMessage('what is 6 * 7?');
        if (stalled === 'down') await witness.next('agent_started');
        else await proxy.waitForHeld('up');
        expect(proxy.cutAll()).toBe(1);
        proxy.unstall(stalled);

        const ack = await acked;
        expect(ack.duplicate).toBe(duplicate);
        await obs.until(
          () => obs.events.some((e) => e.type === 'agent_completed' && e.run_id === ack.runId),
          'the run to complete',
        );
        const completed = await witness.next('agent_completed');
        expect(completed.run_id).toBe(ack.runId);
        const started = obs.events.filter((e) => e.type === 'agent_started');
        expect(started.map((e) => e.run_id)).toEqual([ack.runId]);
        expect(witness.frames.filter((f) => f.type === 'agent_started')).toHaveLength(1);
        // The connection the message was resent on keeps delivering live events.
        const last = obs.client.lastSeq;
        await gw.gateway.publish('u1', { type: 'notification', data: { n: 1 } });
        await obs.until(() => obs.client.lastSeq === last + 1, 'a live event after the run');
        expect(obs.seqs()).toEqual(range(1, obs.events.length));
        expect(obs.of('welcome')).toHaveLength(2);
      },
    );
  });

  describe('authentication', () => {
    it('refreshes a short-lived token over the open connection and outlives its expiry without 4002', async () => {
      const gw = await gateway();
      const getToken = vi.fn(() => signToken(TEST_SECRET, 'u1', 2));
      const obs = observe({ url: gw.wsUrl, getToken, refreshBeforeExpiryMs: 1500 });
      await obs.until(() => obs.client.state === 'open', 'the welcome');
      const firstToken = await (getToken.mock.results[0]?.value as Promise<string>);
      const firstExpMs = (JSON.parse(atob(firstToken.split('.')[1] ?? '')) as { exp: number }).exp * 1000;

      // The gateway checks expiry every second: an auth_ok a full sweep after the first exp proves the
      // connection survived it.
      const sweepMs = 1000;
      await obs.until(
        () => obs.frames.some((f) => f.type === 'auth_ok' && f.atMs > firstExpMs + sweepMs),
        'an auth_ok after the first token expired',
      );
      await gw.gateway.publish('u1', { type: 'notification', data: { n: 1 } });
      await obs.until(() => obs.client.lastSeq === 1, 'an event on the refreshed connection');

      expect(obs.of('disconnect')).toEqual([]);
      expect(obs.of('welcome')).toHaveLength(1);
      expect(obs.sockets).toBe(1);
      expect(getToken.mock.calls.length).toBeGreaterThanOrEqual(3);
      expect(obs.client.state).toBe('open');
    });

    it('stops after maxAuthFailures refusals of a badly signed token and makes no further attempt', async () => {
      const gw = await gateway();
      const proxy = await proxyTo(gw.port);
      const timers = countingTimers();
      const getToken = vi.fn(() => signToken('a-secret-the-gateway-does-not-know-0123456789', 'u1', 600));
      const obs = observe({ url: proxy.wsUrl, getToken, maxAuthFailures: 3, timers }, [
        'AC_CLIENT_AUTH_FAILED',
      ]);
      await obs.until(() => obs.client.state === 'closed', 'the client to give up');

      expect(obs.of('error')).toMatchObject([
        { code: 'AC_CLIENT_AUTH_FAILED', closeCode: CloseCode.Unauthorized },
      ]);
      expect(obs.of('disconnect').map((d) => [d.code, d.retryInMs === undefined])).toEqual([
        [CloseCode.Unauthorized, false],
        [CloseCode.Unauthorized, false],
        [CloseCode.Unauthorized, true],
      ]);
      expect(getToken).toHaveBeenCalledTimes(3);
      // Nothing is scheduled, so no attempt can follow; both ends counted exactly three.
      expect(timers.pending).toBe(0);
      expect(obs.sockets).toBe(3);
      expect(proxy.connections).toBe(3);
      const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/^agentcast_connections_opened_total 3$/m);
    });
  });
});
