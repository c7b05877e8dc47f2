import { describe, expect, it } from 'vitest';
import { CLUSTER_SLOTS, clusterSlot, groupBySlot } from '../../../packages/server/src/engine/cluster-slot.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';

describe('clusterSlot', () => {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT (Redis 7.0); the integration test
  // (redis-nodes/redis-cluster.test.ts) checks more keys against a live cluster.
  it.each([
    ['123456789', 12_739], // the CRC16/XMODEM check value 0x31C3
    ['foo', 12_182],
    ['{user1000}.following', 3443],
    ['{user1000}.followers', 3443],
    ['user1000', 3443],
    ['foo{}{bar}', 8363], // an empty tag: the whole key is hashed
    ['foo{{bar}}zap', 4015], // the tag is "{bar"
    ['foo{bar}{zap}', 5061], // only the first tag counts: "bar"
    ['bar', 5061],
    ['', 0],
  ])('hashes %j to slot %i', (key, slot) => {
    expect(clusterSlot(key)).toBe(slot);
  });

  it('hashes the whole key when a } comes without a { before it (Redis Cluster hash tags)', () => {
    expect(clusterSlot('a}b')).not.toBe(clusterSlot('a'));
    expect(clusterSlot('a}b')).toBe(clusterSlot('a}b'));
    // A proper tag hashes only what is inside it.
    expect(clusterSlot('x{a}y')).toBe(clusterSlot('a'));
  });

  it('hashes UTF-8 bytes, as ioredis sends the key', () => {
    expect(clusterSlot('{é}x')).toBe(clusterSlot('é'));
    expect(clusterSlot('é')).not.toBe(clusterSlot('\u00e9'.normalize('NFD')));
  });

  it('puts every key and the channel of a user in one slot, whatever the id', () => {
    const keys = new RedisKeys('agentcast:');
    for (const user of ['alice', 'a}b', '{', '}{', 'ü-ñ', '😀', '']) {
      const slots = [keys.meta(user), keys.log(user), keys.slots(user), keys.channel(user)].map(clusterSlot);
      expect(new Set(slots).size).toBe(1);
      expect(slots[0]).toBeLessThan(CLUSTER_SLOTS);
    }
  });
});

describe('groupBySlot', () => {
  it('groups indexes by slot, in input order inside each group', () => {
    const keys = ['{a}1', '{b}1', '{a}2', '{c}1', '{b}2', '{a}3'];
    const groups = groupBySlot(keys, (key) => key);
    expect([...groups.entries()]).toEqual([
      [clusterSlot('a'), [0, 2, 5]],
      [clusterSlot('b'), [1, 4]],
      [clusterSlot('c'), [3]],
    ]);
  });

  it('gives no group for no items', () => {
    expect(groupBySlot([], String).size).toBe(0);
  });
});
