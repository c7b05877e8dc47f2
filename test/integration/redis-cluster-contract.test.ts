import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import { AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import { describeEngineContract } from '../engine-contract/describe-engine-contract.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { uniquePrefix } from '../helpers/redis-fixture.js';
import { requireRedisServer } from '../helpers/redis-server.js';

// Issue #7, "Redis Cluster": the whole engine contract against a private 3-master cluster, through its
// first master as the seed. Every fixture has its own key prefix; the cluster is killed in afterAll.
const available = await requireRedisServer('RedisEngine cluster contract', { cli: true });

describe.skipIf(!available)('RedisEngine on a Redis Cluster', () => {
  let cluster: RedisCluster | undefined;

  beforeAll(async () => {
    cluster = await RedisCluster.start(3);
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  describeEngineContract('RedisEngine (cluster)', async (config) => {
    if (cluster === undefined) throw new Error('the cluster did not start (see beforeAll)');
    const engine = new RedisEngine({
      url: cluster.urls[0] as string,
      cluster: true,
      keyPrefix: uniquePrefix('cluster-contract'),
      ...config,
    });
    await engine.ready();
    // No key cleanup: the cluster is private to this file and dies with it.
    return { engine };
  });

  // docs/protocol.md D: one script reaches one slot, so a keyed batch keeps to the first user's slot.
  it('refuses a keyed batch naming users of two slots with AC_ERR_EVENT_INVALID, storing nothing', async () => {
    if (cluster === undefined) throw new Error('the cluster did not start (see beforeAll)');
    const engine = new RedisEngine({
      url: cluster.urls[0] as string,
      cluster: true,
      keyPrefix: uniquePrefix('cluster-once'),
    });
    try {
      await engine.ready();
      const items = ['alice', 'bob'].map((userId) => ({ userId, event: { type: 'notification', data: {} } }));
      await expect(
        engine.appendBatchOnce(items, { key: 'k', fingerprint: 'f', ttlMs: 60_000 }),
      ).rejects.toMatchObject({
        code: AgentcastErrorCode.EventInvalid,
      });
      expect([(await engine.head('alice')).seq, (await engine.head('bob')).seq]).toEqual([0, 0]);
    } finally {
      await engine.close();
    }
  });

  // Issue 20: a user's frames are sharded pub/sub (SPUBLISH/SSUBSCRIBE), held by the master that owns the
  // user's slot only, never broadcast over the cluster bus as a classic PUBLISH is.
  it("subscribes a user's channel on the master owning its slot only, and publishes there with SPUBLISH", async () => {
    if (cluster === undefined) throw new Error('the cluster did not start (see beforeAll)');
    const prefix = uniquePrefix('cluster-sharded');
    const engine = new RedisEngine({ url: cluster.urls[0] as string, cluster: true, keyPrefix: prefix });
    const masters = cluster.urls.map((url) => new Redis(url));
    try {
      await engine.ready();
      const received: string[] = [];
      const gotIt = new Promise<void>((resolve) => {
        void engine.subscribe('carol', (event) => {
          received.push(String(event.data.n));
          resolve();
        });
      });
      // The engine's subscription is confirmed once subscribe() resolved; ask it again to be sure it is.
      await engine.subscribe('carol', () => undefined);
      const channel = `${prefix}{u:carol}:events`;
      const counts = await Promise.all(
        masters.map(async (m) => {
          const sharded = (await m.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
          const classic = (await m.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
          return [Number(sharded[1]), Number(classic[1])];
        }),
      );
      // One master holds the sharded subscription; no master holds a classic one.
      expect(counts.map(([sharded]) => sharded).sort()).toEqual([0, 0, 1]);
      expect(counts.every(([, classic]) => classic === 0)).toBe(true);
      await engine.append('carol', { type: 'notification', data: { n: 1 } });
      await gotIt;
      expect(received).toEqual(['1']);

      // The owning master drops its sharded subscriber: frames published meanwhile are not lost, the held
      // user catches up from history once ioredis has the subscriber back.
      const owner = masters[counts.findIndex(([sharded]) => sharded === 1)] as Redis;
      const all = new Promise<void>((resolve) => {
        void engine.subscribe('carol', (event) => {
          if (event.data.n === 6) resolve();
        });
      });
      await owner.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      for (let n = 2; n <= 6; n++) await engine.append('carol', { type: 'notification', data: { n } });
      await all;
      expect(received).toEqual(['1', '2', '3', '4', '5', '6']);
    } finally {
      for (const m of masters) m.disconnect();
      await engine.close();
    }
  });
});
