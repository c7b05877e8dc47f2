import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EngineHealth } from '../../packages/server/src/engine/engine.js';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import type { RedisEngineOptions } from '../../packages/server/src/engine/redis-engine-options.js';
import { AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import type { StoredEvent } from '../../packages/server/src/protocol/events.js';
import { healthIs } from '../helpers/engine-health.js';
import { captureLog } from '../helpers/log-capture.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';
import { type RedisServer, requireRedisServer, startRedisServer } from '../helpers/redis-server.js';

const sharedAvailable = await requireRedis(REDIS_URL, 'RedisEngine integration (shared Redis)');
const privateAvailable = await requireRedisServer('RedisEngine restart tests');

const WAIT = { timeout: 10_000, interval: 10 } as const;
const note = (n: number) => ({ type: 'notification', data: { n } });

/** Resolves with the next health the engine reports whose `ok` matches. */
function nextHealth(engine: RedisEngine, ok: boolean): Promise<EngineHealth> {
  return new Promise((resolve) => {
    const stop = engine.onHealthChange((health) => {
      if (health.ok !== ok) return;
      stop();
      resolve(health);
    });
  });
}

function logLines() {
  const { log, lines } = captureLog('info');
  return { logger: log, lines, messages: () => lines.map((line) => line.msg) };
}

describe('RedisEngine', () => {
  const engines: RedisEngine[] = [];
  const servers: RedisServer[] = [];
  const prefixes: string[] = [];

  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
    for (const server of servers.splice(0)) await server.stop();
    for (const prefix of prefixes.splice(0)) await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  function make(options: RedisEngineOptions): RedisEngine {
    const engine = new RedisEngine({ reconnectDelayMs: { min: 20, max: 200 }, ...options });
    engines.push(engine);
    return engine;
  }

  function shared(options: Partial<RedisEngineOptions> = {}, prefix = uniquePrefix('integration')) {
    prefixes.push(prefix);
    return make({ url: REDIS_URL, keyPrefix: prefix, ...options });
  }

  async function privateRedis(args: readonly string[] = []): Promise<RedisServer> {
    const server = await startRedisServer({ args });
    servers.push(server);
    return server;
  }

  describe.skipIf(!sharedAvailable)('on the shared Redis', () => {
    it('refuses options that cannot work, naming them', () => {
      expect(() => new RedisEngine({ url: REDIS_URL, historySize: 0 })).toThrow(
        new TypeError('RedisEngine: historySize must be an integer > 0, got 0'),
      );
      expect(() => new RedisEngine({ url: REDIS_URL, commandTimeoutMs: -5 })).toThrow(
        new TypeError('RedisEngine: commandTimeoutMs must be a number > 0, got -5'),
      );
      expect(() => new RedisEngine({ url: REDIS_URL, keyPrefix: 'a{b}' })).toThrow(
        /keyPrefix must not contain/,
      );
    });

    it('shares one ordered log per user between two nodes', async () => {
      const prefix = uniquePrefix('two-nodes');
      const a = shared({ name: 'node-a' }, prefix);
      const b = shared({ name: 'node-b' }, prefix);
      await Promise.all([a.ready(), b.ready()]);
      const onA: StoredEvent[] = [];
      const onB: StoredEvent[] = [];
      await a.subscribe('alice', (event) => onA.push(event));
      await b.subscribe('alice', (event) => onB.push(event));
      const stored = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).append('alice', note(i))),
      );
      expect(stored.map((e) => e.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      await vi.waitFor(() => expect([onA.length, onB.length]).toEqual([200, 200]), WAIT);
      expect(onA).toEqual(onB);
      expect(onA.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await a.head('alice')).toEqual(await b.head('alice'));
    });

    it('subscribes a channel once per node and leaves it with the last listener', async () => {
      const engine = shared();
      await engine.ready();
      const first = await engine.subscribe('alice', () => undefined);
      const second = await engine.subscribe('alice', () => undefined);
      await engine.subscribe('bob', () => undefined);
      expect(engine.subscribedUserCount).toBe(2);
      await first();
      expect(engine.subscribedUserCount).toBe(2);
      await second();
      await second();
      expect(engine.subscribedUserCount).toBe(1);
    });

    it('frees the slots of a node that stopped renewing them once their lease ends', async () => {
      const prefix = uniquePrefix('lease');
      const crashed = shared({ slotLeaseMs: 300 }, prefix);
      const survivor = shared({ slotLeaseMs: 300 }, prefix);
      await Promise.all([crashed.ready(), survivor.ready()]);
      expect(await crashed.acquireConnectionSlot('alice', 'c1', 1)).toBe(true);
      await crashed.close(); // no release: like a crash, the lease is simply not renewed any more
      expect(await survivor.acquireConnectionSlot('alice', 'c2', 1)).toBe(false);
      await vi.waitFor(
        async () => expect(await survivor.acquireConnectionSlot('alice', 'c2', 1)).toBe(true),
        WAIT,
      );
    });

    it('answers expired, and says so in the log, when a stored frame cannot be read', async () => {
      const prefix = uniquePrefix('corrupt');
      const { logger, lines } = logLines();
      const engine = shared({ logger }, prefix);
      await engine.ready();
      const first = await engine.append('alice', note(1));
      const raw = new Redis(REDIS_URL);
      try {
        await raw.hset(`${prefix}{u:alice}:meta`, 'seq', 2);
        await raw.xadd(`${prefix}{u:alice}:log`, '*', 's', '2', 'f', 'not a frame');
      } finally {
        raw.disconnect();
      }
      expect(await engine.history('alice', { since: 0, limit: 10 })).toEqual({
        kind: 'reset',
        head: { epoch: first.epoch, seq: 2 },
        reason: 'expired',
      });
      // An operator must look: the error-level line names the user.
      expect(lines).toContainEqual(expect.objectContaining({ level: 50, user_id: 'alice' }));
    });

    it('fails only the append that fails when one script call carries the appends of a turn', async () => {
      const prefix = uniquePrefix('batch-failure');
      const engine = shared({}, prefix);
      await engine.ready();
      const raw = new Redis(REDIS_URL);
      try {
        // bob's meta is no hash: append.lua's HGET on it fails (WRONGTYPE) for bob's events only.
        await raw.set(`${prefix}{u:bob}:meta`, 'not a hash');
      } finally {
        raw.disconnect();
      }
      // Called in one turn: one lua/append-batch.lua call holds the three appends, in call order.
      const [a1, bob, a2] = await Promise.allSettled([
        engine.append('alice', note(1)),
        engine.append('bob', note(1)),
        engine.append('alice', note(2)),
      ]);
      expect(bob).toMatchObject({
        status: 'rejected',
        reason: { code: AgentcastErrorCode.EngineUnavailable },
      });
      expect(a1).toMatchObject({ status: 'fulfilled', value: { seq: 1 } });
      expect(a2).toMatchObject({ status: 'fulfilled', value: { seq: 2 } });
      const history = await engine.history('alice', { since: 0, limit: 10 });
      expect(history.kind === 'ok' && history.events.map((e) => e.data.n)).toEqual([1, 2]);
    });

    it('renews the leases of its live connections', async () => {
      const prefix = uniquePrefix('renew');
      const engine = shared({ slotLeaseMs: 300 }, prefix);
      await engine.ready();
      await engine.acquireConnectionSlot('alice', 'c1', 1);
      const raw = new Redis(REDIS_URL);
      try {
        const key = `${prefix}{u:alice}:conns`;
        const first = Number(await raw.zscore(key, 'c1'));
        await vi.waitFor(
          async () => expect(Number(await raw.zscore(key, 'c1'))).toBeGreaterThan(first),
          WAIT,
        );
        await engine.releaseConnectionSlot('alice', 'c1');
        expect(await raw.zscore(key, 'c1')).toBeNull();
      } finally {
        raw.disconnect();
      }
    });
  });

  describe.skipIf(!privateAvailable)('on a private Redis that stops and restarts', () => {
    it('turns unhealthy when Redis stops, and rejects at once with AC_ERR_ENGINE_UNAVAILABLE', async () => {
      const server = await privateRedis();
      const engine = make({ url: server.url, keyPrefix: 'p:' });
      await engine.ready();
      await engine.append('alice', note(1));
      const down = nextHealth(engine, false);
      await server.stop();
      expect(await down).toEqual({ ok: false, reason: expect.stringMatching(/^redis unreachable: /) });
      expect(engine.health()).toEqual(await down);
      const started = Date.now();
      const unavailable = { code: AgentcastErrorCode.EngineUnavailable, httpStatus: 503 };
      await expect(engine.append('alice', note(2))).rejects.toMatchObject(unavailable);
      await expect(engine.appendBatch([{ userId: 'alice', event: note(3) }])).rejects.toMatchObject(
        unavailable,
      );
      await expect(engine.head('alice')).rejects.toMatchObject(unavailable);
      await expect(engine.history('alice', { since: 0, limit: 1 })).rejects.toMatchObject(unavailable);
      await expect(engine.subscribe('alice', () => undefined)).rejects.toMatchObject(unavailable);
      await expect(engine.claimIdempotency('k', 'v', 1000)).rejects.toMatchObject(unavailable);
      await expect(engine.acquireConnectionSlot('alice', 'c', 1)).rejects.toMatchObject(unavailable);
      await expect(engine.releaseConnectionSlot('alice', 'c')).resolves.toBeUndefined();
      expect(Date.now() - started).toBeLessThan(500);
    });

    it('comes back empty with a new epoch: a resume with the old epoch is reset, old subscribers get new events', async () => {
      const server = await privateRedis();
      const { logger, messages } = logLines();
      const engine = make({ url: server.url, keyPrefix: 'p:', logger });
      await engine.ready();
      const received: StoredEvent[] = [];
      await engine.subscribe('alice', (event) => received.push(event));
      const before = await engine.append('alice', note(1));
      await vi.waitFor(() => expect(received).toHaveLength(1), WAIT);

      const down = nextHealth(engine, false);
      await server.stop();
      await down;
      for (let i = 0; i < 5; i += 1) await expect(engine.append('alice', note(i))).rejects.toThrow();
      const up = nextHealth(engine, true);
      await server.restart();
      expect(await up).toEqual({ ok: true });

      const after = await engine.append('alice', note(2));
      expect(after.seq).toBe(1);
      expect(after.epoch).not.toBe(before.epoch);
      expect(await engine.history('alice', { since: 1, epoch: before.epoch, limit: 10 })).toEqual({
        kind: 'reset',
        head: { epoch: after.epoch, seq: 1 },
        reason: 'epoch_changed',
      });
      // Subscriptions were restored on the new connection.
      await vi.waitFor(
        () =>
          expect(received.map((e) => [e.epoch, e.seq])).toEqual([
            [before.epoch, 1],
            [after.epoch, 1],
          ]),
        WAIT,
      );
      // Said once that Redis is down and once that it is back, not once per failed call.
      expect(messages().filter((m) => m.startsWith('redis'))).toEqual([
        'redis connected',
        'redis unreachable',
        'redis reachable again',
      ]);
    });

    it('starts degraded when Redis is not there yet, then recovers', async () => {
      const server = await privateRedis();
      await server.stop();
      const engine = make({ url: server.url, keyPrefix: 'p:' });
      await vi.waitFor(
        () => expect(engine.health()).toMatchObject({ reason: expect.stringMatching(/ECONNREFUSED/) }),
        WAIT,
      );
      await expect(engine.append('alice', note(1))).rejects.toMatchObject({
        code: AgentcastErrorCode.EngineUnavailable,
      });
      await server.restart();
      await engine.ready();
      expect((await engine.append('alice', note(1))).seq).toBe(1);
    });

    it('delivers what another node published while its subscriber was away (catch-up)', async () => {
      const server = await privateRedis();
      const a = make({
        url: server.url,
        keyPrefix: 'p:',
        name: 'node-a',
        reconnectDelayMs: { min: 300, max: 300 },
      });
      const b = make({ url: server.url, keyPrefix: 'p:', name: 'node-b' });
      await Promise.all([a.ready(), b.ready()]);
      const received: number[] = [];
      await a.subscribe('alice', (event) => received.push(event.seq));
      await b.append('alice', note(1));
      await vi.waitFor(() => expect(received).toEqual([1]), WAIT);

      const admin = new Redis(server.url);
      try {
        const down = nextHealth(a, false);
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'SKIPME', 'yes');
        // Only node A's subscriber holds a subscription; node B has none.
        await down;
        await b.append('alice', note(2));
        await b.append('alice', note(3));
        await a.ready();
        await vi.waitFor(() => expect(received).toEqual([1, 2, 3]), WAIT);
        await b.append('alice', note(4));
        await vi.waitFor(() => expect(received).toEqual([1, 2, 3, 4]), WAIT);
      } finally {
        admin.disconnect();
      }
    });

    it('hears cancel requests again once its subscriber reconnected, also for a listener added while Redis was down', async () => {
      const server = await privateRedis();
      const a = make({ url: server.url, keyPrefix: 'p:', name: 'node-a' });
      const b = make({ url: server.url, keyPrefix: 'p:', name: 'node-b' });
      await Promise.all([a.ready(), b.ready()]);
      const heard: string[] = [];
      await a.onCancelRequest('node-a', (userId, runId) => heard.push(`${userId}/${runId}`));
      const run = (runId: string, node: string) => ({
        runId,
        agent: 'demo',
        node,
        limit: 9,
        leaseMs: 60_000,
      });
      await b.startRun('alice', run('r2', 'node-a'));
      await b.startRun('alice', run('r3', 'node-x'));

      const admin = new Redis(server.url);
      try {
        const down = nextHealth(a, false);
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'SKIPME', 'yes');
        await down;
        // Added while node A's subscriber is away: it waits for the reconnect.
        const late = a.onCancelRequest('node-x', (userId, runId) => heard.push(`x:${userId}/${runId}`));
        await a.ready();
        await late;
        expect(await b.requestCancel('alice', 'r2')).toEqual({ state: 'active', node: 'node-a' });
        expect(await b.requestCancel('alice', 'r3')).toEqual({ state: 'active', node: 'node-x' });
        await vi.waitFor(() => expect(heard.sort()).toEqual(['alice/r2', 'x:alice/r3']), WAIT);
      } finally {
        admin.disconnect();
      }
    });

    it('rejects with AC_ERR_ENGINE_UNAVAILABLE when Redis does not answer within commandTimeoutMs, and is stalled until Redis answers again', async () => {
      const server = await privateRedis();
      const engine = make({ url: server.url, keyPrefix: 'p:', commandTimeoutMs: 200 });
      await engine.ready();
      await engine.ready();
      // Redis keeps the connections open but answers nothing for 600 ms: a hung server, not a lost one.
      const thawed = server.freeze(600);
      try {
        const started = Date.now();
        // Sent, then timed out: it may still run, so it does not claim that nothing was applied.
        await expect(engine.append('alice', note(1))).rejects.toMatchObject({
          code: AgentcastErrorCode.EngineUnavailable,
          message: 'redis engine unavailable: Command timed out',
          nothingApplied: false,
        });
        expect(engine.health()).toEqual({
          ok: false,
          reason: 'redis not answering: a command got no reply within 200 ms',
        });
        // Stalled: refused at once, before anything is sent.
        await expect(engine.appendBatch([{ userId: 'alice', event: note(2) }])).rejects.toMatchObject({
          code: AgentcastErrorCode.EngineUnavailable,
          message: 'redis not answering: a command got no reply within 200 ms',
          nothingApplied: true,
        });
        expect(Date.now() - started).toBeLessThan(550);
        // The engine's PING probe ends the stall once Redis answers; the timed-out append ran then.
        await healthIs(engine, true, 'the engine after the freeze', 5000);
        expect((await engine.append('alice', note(3))).seq).toBe(2);
      } finally {
        await thawed;
      }
    });

    it('loads its scripts again when Redis lost them (SCRIPT FLUSH)', async () => {
      const server = await privateRedis();
      const engine = make({ url: server.url, keyPrefix: 'p:' });
      await engine.ready();
      const admin = new Redis(server.url);
      try {
        await admin.script('FLUSH');
        expect((await engine.append('alice', note(1))).seq).toBe(1);
        await admin.script('FLUSH');
        const batch = [{ userId: 'alice', event: note(2) }];
        // The batch found no script, so nothing of it ran; the scripts are loaded for the next one.
        await expect(engine.appendBatch(batch)).rejects.toMatchObject({
          message: expect.stringMatching(/NOSCRIPT/),
        });
        await vi.waitFor(async () => expect((await engine.appendBatch(batch))[0]?.seq).toBe(2), WAIT);
      } finally {
        admin.disconnect();
      }
    });

    it('stays unhealthy and says why when Redis refuses to load its scripts', async () => {
      const server = await privateRedis(['--rename-command', 'SCRIPT', '']);
      const { logger, lines } = logLines();
      const engine = make({ url: server.url, keyPrefix: 'p:', logger });
      // Said at error, naming the connection and Redis's refusal.
      await vi.waitFor(
        () =>
          expect(lines).toContainEqual(
            expect.objectContaining({
              level: 50,
              role: 'command',
              err: expect.objectContaining({ message: expect.stringMatching(/unknown command 'script'/i) }),
            }),
          ),
        WAIT,
      );
      expect(engine.health()).toMatchObject({ ok: false });
    });

    it('closes promptly while Redis is down', async () => {
      const server = await privateRedis();
      const engine = make({ url: server.url, keyPrefix: 'p:' });
      await engine.ready();
      const down = nextHealth(engine, false);
      await server.stop();
      await down;
      const started = Date.now();
      await engine.close();
      await engine.close();
      expect(Date.now() - started).toBeLessThan(500);
      await expect(engine.append('alice', note(1))).rejects.toMatchObject({
        code: AgentcastErrorCode.EngineClosed,
      });
    });
  });
});
