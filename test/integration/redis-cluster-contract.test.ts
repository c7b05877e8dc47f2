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
});
