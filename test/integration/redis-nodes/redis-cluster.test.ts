import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterSlot } from '../../../packages/server/src/engine/cluster-slot.js';
import type { EngineHealth } from '../../../packages/server/src/engine/engine.js';
import { LuaScript } from '../../../packages/server/src/engine/lua-script.js';
import { RedisEngine } from '../../../packages/server/src/engine/redis-engine.js';
import type { RedisEngineOptions } from '../../../packages/server/src/engine/redis-engine-options.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';
import { parseAppendReply, parseHistoryReply } from '../../../packages/server/src/engine/script-replies.js';
import { frameParts } from '../../../packages/server/src/engine/stored-frame.js';
import { AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { RedisCluster } from '../../helpers/redis-cluster.js';
import { uniquePrefix } from '../../helpers/redis-fixture.js';
import { requireRedisServer } from '../../helpers/redis-server.js';

// Issue #7: "Redis Cluster: works against a cluster for the commands used". A private 3-master cluster on
// free loopback ports (test/helpers/redis-cluster.ts): what the cluster itself does with the engine's
// keys, scripts and channels, then the engine on it (`cluster: true`); docs/redis.md, "Redis Cluster".
// The engine contract on the cluster is test/integration/redis-cluster-contract.test.ts.
const available = await requireRedisServer('redis-nodes redis-cluster', { cli: true });

const PREFIX = 'cluster:';
const keys = new RedisKeys(PREFIX);
const WAIT = { timeout: 10_000, interval: 10 } as const;

function note(n: number) {
  return { type: 'notification', data: { n } };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Port of the master that owns `slot`, from CLUSTER SLOTS. */
async function ownerOf(admin: Redis, slot: number): Promise<number> {
  const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
  const range = ranges.find(([start, end]) => slot >= start && slot <= end);
  if (range === undefined) throw new Error(`no master owns slot ${slot}`);
  return range[2][1];
}

async function keySlot(admin: Redis, key: string): Promise<number> {
  return Number(await admin.call('CLUSTER', 'KEYSLOT', key));
}

/** The append script's arguments, as RedisEngine#appendCall builds them. */
function appendArgs(userId: string, n: number): (string | number)[] {
  const parts = frameParts({ type: 'notification', data: { n } }, new Date(0).toISOString());
  return [
    ...[keys.meta(userId), keys.log(userId), keys.sizes(userId), `e_cluster-${userId}`],
    ...[1000, 300_000, 86_400_000, keys.channel(userId), parts.head, parts.tail, 8_388_608],
  ];
}

describe.skipIf(!available)('the Redis engine against a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  let admin: Redis;
  /** Reads any key wherever it lives, for assertions. */
  let reader: Cluster;
  const engines: RedisEngine[] = [];

  beforeAll(async () => {
    cluster = await RedisCluster.start(3);
    admin = new Redis(cluster.ports[0] as number, '127.0.0.1');
    reader = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  }, 30_000);

  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
  });

  afterAll(async () => {
    admin?.disconnect();
    reader?.disconnect();
    await cluster?.stop();
  });

  /** One user id per master: users whose `{u:<id>}` slot each master owns. */
  async function usersOnEveryMaster(): Promise<Map<number, string>> {
    const byOwner = new Map<number, string>();
    for (let i = 0; byOwner.size < cluster.ports.length && i < 200; i += 1) {
      const owner = await ownerOf(admin, await keySlot(admin, keys.meta(`user-${i}`)));
      if (!byOwner.has(owner)) byOwner.set(owner, `user-${i}`);
    }
    expect(byOwner.size).toBe(cluster.ports.length);
    return byOwner;
  }

  it.each(['alice', 'user-42', 'ü-ñ', 'a}b', '{'])(
    'puts every key and the channel of user %j in one slot (hash tag {u:<id>})',
    async (userId) => {
      const slots = await Promise.all(
        [
          keys.meta(userId),
          keys.log(userId),
          keys.sizes(userId),
          keys.slots(userId),
          keys.channel(userId),
        ].map((key) => keySlot(admin, key)),
      );
      expect(new Set(slots).size).toBe(1);
    },
  );

  it('runs the append and history scripts on the master that owns the user, through an ioredis Cluster client', async () => {
    const scripts = LuaScript.loadAll();
    const client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    try {
      for (const [owner, userId] of await usersOnEveryMaster()) {
        // EVAL routes by its first key; all its keys share the slot, so the script may touch them all.
        const first = parseAppendReply(await client.eval(scripts.append.source, 3, ...appendArgs(userId, 1)));
        const second = parseAppendReply(
          await client.eval(scripts.append.source, 3, ...appendArgs(userId, 2)),
        );
        expect([first, second]).toEqual([
          { seq: 1, epoch: `e_cluster-${userId}` },
          { seq: 2, epoch: `e_cluster-${userId}` },
        ]);
        const history = parseHistoryReply(
          await client.eval(
            scripts.history.source,
            2,
            ...[
              keys.meta(userId),
              keys.log(userId),
              'e_unused',
              86_400_000,
              0,
              `e_cluster-${userId}`,
              10,
              300_000,
            ],
          ),
        );
        expect(history.result).toMatchObject({ kind: 'ok', complete: true });
        expect(history.frames).toHaveLength(2);
        // The data lives on the owner only.
        const direct = new Redis(owner, '127.0.0.1');
        try {
          expect(await direct.hget(keys.meta(userId), 'seq')).toBe('2');
        } finally {
          direct.disconnect();
        }
      }
    } finally {
      client.disconnect();
    }
  });

  it('delivers a classic PUBLISH made by the append script to a subscriber on another master', async () => {
    const scripts = LuaScript.loadAll();
    const [owner, userId] = [...(await usersOnEveryMaster()).entries()][0] as [number, string];
    const otherPort = cluster.ports.find((port) => port !== owner) as number;
    const subscriber = new Redis(otherPort, '127.0.0.1');
    const onOwner = new Redis(owner, '127.0.0.1');
    try {
      await subscriber.subscribe(keys.channel(userId));
      // The cluster bus forwards PUBLISH asynchronously: a frame published by an earlier test may still
      // arrive after this SUBSCRIBE, so wait for this one by its content.
      const message = new Promise<string>((resolve) => {
        subscriber.on('message', (channel: string, frame: string) => {
          if (channel === keys.channel(userId) && frame.includes('"data":{"n":7}')) resolve(frame);
        });
      });
      await onOwner.eval(scripts.append.source, 3, ...appendArgs(userId, 7));
      expect(JSON.parse(await message)).toMatchObject({ type: 'notification', data: { n: 7 } });
    } finally {
      subscriber.disconnect();
      onOwner.disconnect();
    }
  });

  it('could use sharded pub/sub instead: SPUBLISH from the append script reaches an SSUBSCRIBE on the owning master', async () => {
    // Redis 7: the user's channel carries the same hash tag as its keys, so the script may SPUBLISH it.
    const source = LuaScript.loadAll().append.source.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");
    expect(source).toContain("redis.call('SPUBLISH', ARGV[5], frame)");
    const [owner, userId] = [...(await usersOnEveryMaster()).entries()][1] as [number, string];
    const subscriber = new Redis(owner, '127.0.0.1');
    const onOwner = new Redis(owner, '127.0.0.1');
    try {
      await subscriber.ssubscribe(keys.channel(userId));
      const message = once(subscriber, 'smessage');
      await onOwner.eval(source, 3, ...appendArgs(userId, 8));
      const [channel, frame] = (await message) as [string, string];
      expect(channel).toBe(keys.channel(userId));
      expect(JSON.parse(frame)).toMatchObject({ data: { n: 8 } });
    } finally {
      subscriber.disconnect();
      onOwner.disconnect();
    }
  });

  it('answers MOVED when the append script is sent to a master that does not own the user', async () => {
    const scripts = LuaScript.loadAll();
    const [owner, userId] = [...(await usersOnEveryMaster()).entries()][0] as [number, string];
    const other = new Redis(cluster.ports.find((port) => port !== owner) as number, '127.0.0.1');
    try {
      await expect(other.eval(scripts.append.source, 3, ...appendArgs(userId, 1))).rejects.toThrow(
        new RegExp(`^MOVED \\d+ 127\\.0\\.0\\.1:${owner}$`),
      );
    } finally {
      other.disconnect();
    }
  });

  /**
   * An engine on the cluster, seeded by master `seed` (its subscriber connects there), with its own key
   * prefix; closed after the test.
   */
  function engineOn(seed: number, options: Partial<RedisEngineOptions> = {}) {
    const keyPrefix = options.keyPrefix ?? uniquePrefix('cluster-engine');
    const engine = new RedisEngine({
      url: cluster.urls[seed] as string,
      cluster: true,
      reconnectDelayMs: { min: 20, max: 200 },
      ...options,
      keyPrefix,
    });
    engines.push(engine);
    return { engine, keys: new RedisKeys(keyPrefix) };
  }

  /** Runs `use` with a plain connection to the node on `port`. */
  async function withNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T> {
    const node = new Redis(port, '127.0.0.1');
    try {
      return await use(node);
    } finally {
      node.disconnect();
    }
  }

  /**
   * Moves `slot` and its keys from one master to another, as `redis-cli --cluster reshard` does
   * (Redis Cluster specification, "Live reconfiguration"): IMPORTING/MIGRATING, MIGRATE, then NODE
   * on every master.
   */
  async function migrateSlot(slot: number, from: number, to: number): Promise<void> {
    const id = (port: number) => withNode(port, async (node) => String(await node.call('CLUSTER', 'MYID')));
    const [fromId, toId] = await Promise.all([id(from), id(to)]);
    await withNode(to, (node) => node.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId));
    await withNode(from, async (node) => {
      await node.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
      const inSlot = (await node.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as string[];
      if (inSlot.length > 0) {
        await node.call('MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...inSlot);
      }
    });
    for (const port of cluster.ports) {
      await withNode(port, (node) => node.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId));
    }
  }

  /** Engine users with one user owned by each master. */
  async function engineUsers(): Promise<string[]> {
    return [...(await usersOnEveryMaster()).values()];
  }

  it('computes the slot CLUSTER KEYSLOT gives, for the engine keys and hostile ones', async () => {
    const probes = [
      ...['alice', 'a}b', '{', 'ü-ñ', '😀', ''].flatMap((u) => [keys.meta(u), keys.idempotency(u)]),
      ...['foo', '{}x', 'x{}{y}', 'a{{b}}c', 'a{b}{c}', '{a', 'a}', '}{', '', 'é{é}é'],
    ];
    for (const key of probes) expect([key, clusterSlot(key)]).toEqual([key, await keySlot(admin, key)]);
  });

  it('serves users owned by every master: append, batch in request order, head and history', async () => {
    const { engine } = engineOn(0);
    await engine.ready();
    const users = await engineUsers();
    const stored = await Promise.all(users.map((userId) => engine.append(userId, note(0))));
    expect(stored.map((e) => e.seq)).toEqual([1, 1, 1]);
    // Interleaved users: one pipeline per slot, replies back in request order, each user's order kept.
    const batch = Array.from({ length: 30 }, (_, n) => ({
      userId: users[n % 3] as string,
      event: note(n + 1),
    }));
    const results = await engine.appendBatch(batch);
    expect(results.map((e) => e.data.n)).toEqual(batch.map((item) => item.event.data.n));
    expect(results.map((e) => e.seq)).toEqual(batch.map((_, n) => 2 + Math.floor(n / 3)));
    for (const userId of users) {
      expect((await engine.head(userId)).seq).toBe(11);
      const history = await engine.history(userId, { since: 0, limit: 100 });
      expect(history.kind === 'ok' && history.events.map((e) => e.seq)).toEqual(range(1, 11));
    }
  });

  it('delivers events appended on one node to a subscriber on another, in order, for users on every master', async () => {
    // Different seeds: the two subscriber connections sit on different masters.
    const prefix = uniquePrefix('cluster-two-nodes');
    const [publisher, receiver] = [
      engineOn(0, { keyPrefix: prefix }).engine,
      engineOn(1, { keyPrefix: prefix }).engine,
    ];
    await Promise.all([publisher.ready(), receiver.ready()]);
    const users = await engineUsers();
    const received = new Map(users.map((userId) => [userId, [] as number[]]));
    for (const userId of users) {
      await receiver.subscribe(userId, (event) => received.get(userId)?.push(event.seq));
    }
    for (let round = 0; round < 10; round += 1) {
      await Promise.all(users.map((userId) => publisher.append(userId, note(round))));
      await publisher.appendBatch(users.flatMap((userId) => [1, 2].map((n) => ({ userId, event: note(n) }))));
    }
    await vi.waitFor(() => {
      for (const userId of users) expect([userId, received.get(userId)]).toEqual([userId, range(1, 30)]);
    }, WAIT);
  });

  it('loads its scripts again on every master after SCRIPT FLUSH (NOSCRIPT, then EVALSHA)', async () => {
    const { engine } = engineOn(0);
    await engine.ready();
    const users = await engineUsers();
    await Promise.all(users.map((userId) => engine.append(userId, note(1))));
    await Promise.all(cluster.ports.map((port) => withNode(port, (node) => node.script('FLUSH'))));
    // The first call per master gets NOSCRIPT, loads every script on every master, and runs again.
    const stored = await Promise.all(users.map((userId) => engine.append(userId, note(2))));
    expect(stored.map((e) => e.seq)).toEqual([2, 2, 2]);
    const batch = await engine.appendBatch(users.map((userId) => ({ userId, event: note(3) })));
    expect(batch.map((e) => e.seq)).toEqual([3, 3, 3]);
  });

  it('renews connection slot leases on every master', async () => {
    const { engine, keys: engineKeys } = engineOn(0, { slotLeaseMs: 600 });
    await engine.ready();
    const users = await engineUsers();
    for (const userId of users) expect(await engine.acquireConnectionSlot(userId, 'c1', 1)).toBe(true);
    const leaseEnds = () =>
      Promise.all(users.map(async (userId) => Number(await reader.zscore(engineKeys.slots(userId), 'c1'))));
    const first = await leaseEnds();
    // Renewal runs every third of the lease: wait until every lease end moved forward.
    await vi.waitFor(async () => {
      for (const [i, end] of (await leaseEnds()).entries()) expect(end).toBeGreaterThan(first[i] as number);
    }, WAIT);
    for (const userId of users) expect(await engine.acquireConnectionSlot(userId, 'c2', 1)).toBe(false);
  });

  it('follows a user whose slot moves to another master (MOVED), staying healthy, with the same log', async () => {
    const { engine, keys: engineKeys } = engineOn(0);
    await engine.ready();
    const [userId] = await engineUsers();
    const user = userId as string;
    // A listener held across the move: the user's sharded subscription must follow the slot.
    const seen: number[] = [];
    let fourthArrived: () => void = () => undefined;
    const fourth = new Promise<void>((resolve) => {
      fourthArrived = resolve;
    });
    await engine.subscribe(user, (event) => {
      seen.push(event.seq);
      if (event.seq === 4) fourthArrived();
    });
    for (let n = 1; n <= 3; n += 1) await engine.append(user, note(n));
    const slot = await keySlot(admin, engineKeys.meta(user));
    const from = await ownerOf(admin, slot);
    const to = cluster.ports.find((port) => port !== from) as number;
    await migrateSlot(slot, from, to);
    expect(await ownerOf(admin, slot)).toBe(to);
    const moved = await engine.append(user, note(4));
    expect(moved.seq).toBe(4);
    await fourth;
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(engine.health()).toEqual({ ok: true });
    const history = await engine.history(user, { since: 0, limit: 10 });
    expect(history.kind === 'ok' && history.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('fails fast with AC_ERR_ENGINE_UNAVAILABLE once the cluster is unreachable (no offline queue)', async () => {
    // A cluster of this test only: the one of the file serves the other tests.
    const doomed = await RedisCluster.start(3);
    try {
      const engine = new RedisEngine({ url: doomed.urls[0] as string, cluster: true, keyPrefix: 'doomed:' });
      engines.push(engine);
      await engine.ready();
      const down = new Promise<EngineHealth>((resolve) => {
        const stop = engine.onHealthChange((health) => {
          stop();
          resolve(health);
        });
      });
      await doomed.stop();
      expect(await down).toMatchObject({ ok: false, reason: expect.stringMatching(/^redis unreachable: /) });
      const started = Date.now();
      await expect(engine.append('alice', note(1))).rejects.toMatchObject({
        code: AgentcastErrorCode.EngineUnavailable,
        httpStatus: 503,
      });
      // Far below commandTimeoutMs (2000): refused at once, not queued or timed out.
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      await doomed.stop();
    }
  }, 30_000);
});
