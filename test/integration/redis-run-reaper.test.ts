import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ReapedRun } from '../../packages/server/src/engine/engine.js';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import type { NewEvent } from '../../packages/server/src/protocol/events.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';

// Issue 15: the reaper of the Redis engine, with two engines (two nodes' connections) on one prefix,
// and the run index (lua/run-index.lua) it walks. The engine contract proves the same rules per engine.
const available = await requireRedis(REDIS_URL, 'RedisEngine run reaper');

const WAIT = { timeout: 10_000, interval: 10 } as const;
const LEASE_MS = 200;
const nodeLost = (runId: string): NewEvent => ({
  type: 'agent_completed',
  run_id: runId,
  data: { status: 'failed', final_response: null, error: { code: 'NODE_LOST', message: 'lost' } },
});

describe.skipIf(!available)('RedisEngine run reaper', () => {
  const engines: RedisEngine[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
    for (const prefix of prefixes.splice(0)) await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  async function nodes(count: number) {
    const keyPrefix = uniquePrefix('reaper');
    prefixes.push(keyPrefix);
    const made: RedisEngine[] = [];
    for (let i = 0; i < count; i += 1) {
      const engine = new RedisEngine({ url: REDIS_URL, keyPrefix });
      engines.push(engine);
      await engine.ready();
      made.push(engine);
    }
    return { engines: made, indexKey: `${keyPrefix}runs-due` };
  }

  it('two nodes reaping at once store exactly one terminal per lapsed run, in batches, and leave the index empty', async () => {
    const {
      engines: [a, b],
      indexKey,
    } = await nodes(2);
    if (a === undefined || b === undefined) throw new Error('two engines');
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    for (const user of users) {
      await a.startRun(user, {
        runId: `r-${user}`,
        agent: 'demo',
        node: 'dead',
        limit: 3,
        leaseMs: LEASE_MS,
      });
    }
    // One live run, renewed by its owner: never reaped, and its user stays in the index.
    await b.startRun('live-user', { runId: 'live', agent: 'demo', node: 'b', limit: 3, leaseMs: 60_000 });
    const reaped: ReapedRun[] = [];
    await vi.waitFor(async () => {
      // Batches of 7: several rounds are needed, as on a node with many lapsed runs.
      const rounds = await Promise.all([a.reapLapsedRuns(7, nodeLost), b.reapLapsedRuns(7, nodeLost)]);
      for (const round of rounds) expect(round.length).toBeLessThanOrEqual(7);
      reaped.push(...rounds.flat());
      expect(reaped.length).toBeGreaterThanOrEqual(users.length);
    }, WAIT);
    expect(reaped.map((r) => r.userId).sort()).toEqual([...users].sort());
    for (const user of users) {
      const history = await a.history(user, { since: 0, limit: 10 });
      expect(history.kind === 'ok' && history.events.map((e) => e.type)).toEqual(['agent_completed']);
    }
    expect(await a.reapLapsedRuns(100, nodeLost)).toEqual([]);
    expect((await b.activeRuns('live-user')).map((r) => r.runId)).toEqual(['live']);
    const redis = new Redis(REDIS_URL);
    try {
      // The reaped users left the index once they had no run; the live one is due at its lease end.
      expect(await redis.zrange(indexKey, '0', '-1')).toEqual(['live-user']);
    } finally {
      redis.disconnect();
    }
  });

  it('finds a lapsed run of a user whose index entry was lost, once its owner’s renewal round indexed it again', async () => {
    const {
      engines: [a],
      indexKey,
    } = await nodes(1);
    if (a === undefined) throw new Error('one engine');
    await a.startRun('alice', { runId: 'r1', agent: 'demo', node: 'a', limit: 3, leaseMs: LEASE_MS });
    const redis = new Redis(REDIS_URL);
    try {
      await redis.del(indexKey);
      // A renewal round (the owner's last before it died) puts the user back.
      expect(await a.renewRuns('a', [{ userId: 'alice', runId: 'r1' }], LEASE_MS)).toEqual([]);
      expect(await redis.zrange(indexKey, '0', '-1')).toEqual(['alice']);
    } finally {
      redis.disconnect();
    }
    await vi.waitFor(async () => expect(await a.reapLapsedRuns(10, nodeLost)).toHaveLength(1), WAIT);
  });
});
