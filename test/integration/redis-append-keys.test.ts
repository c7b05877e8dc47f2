import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisEngine } from '../../packages/server/src/engine/redis-engine.js';
import type { NewEvent } from '../../packages/server/src/protocol/events.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';

/** What the events above leave (an approval resolved is no longer pending, so its sorted set is gone). */
const KEYS_STORED = [
  'approval:ap-1',
  'log',
  'meta',
  'sizes',
  'snap:run-1',
  'snap:run-1:approvals',
  'snap:run-1:reasoning',
  'snap:run-1:text',
  'snap:run-1:tools',
  'snaps',
  'snaps-active',
].map((suffix) => `{u:user {x} é}:${suffix}`);
const available = await requireRedis(REDIS_URL, 'append-batch key names');

/** Every kind of append: a plain event and the events of a run that touch each of its keys. */
const EVENTS: readonly NewEvent[] = [
  { type: 'notification', data: { n: 1 } },
  { type: 'agent_started', run_id: 'run-1', data: { agent_name: 'demo', task_description: 'a task' } },
  { type: 'agent_thinking', run_id: 'run-1', data: { reasoning: 'hmm \ud800 lone' } },
  { type: 'tool_executing', run_id: 'run-1', data: { execution_id: 'x1', tool_name: 't', tool_args: {} } },
  { type: 'stream_chunk', run_id: 'run-1', data: { text: 'héllo 😀' } },
  {
    type: 'approval_requested',
    run_id: 'run-1',
    data: { approval_id: 'ap-1', question: 'send?', expires_at: new Date(Date.now() + 60_000).toISOString() },
  },
  { type: 'approval_resolved', run_id: 'run-1', data: { approval_id: 'ap-1', decision: 'approved' } },
  { type: 'agent_completed', run_id: 'run-1', data: { result: 'done' } },
];

/** Each key under `prefix` (its name after the prefix) with its type and its content, epochs and times left out. */
async function dump(
  redis: Redis,
  prefix: string,
  skip: (name: string) => boolean,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const keys = (await redis.keys(`${prefix}*`)).sort();
  for (const key of keys) {
    const name = key.slice(prefix.length);
    if (skip(name)) continue;
    const type = await redis.type(key);
    let content: unknown;
    if (type === 'hash') content = Object.keys(await redis.hgetall(key)).sort();
    else if (type === 'list') content = await redis.lrange(key, 0, -1);
    else if (type === 'zset') content = await redis.zrange(key, '0', '-1');
    else if (type === 'string') content = await redis.get(key);
    else if (type === 'stream')
      content = (await redis.xrange(key, '-', '+')).map(([, fields]) =>
        fields[1]?.replace(/"epoch":"[^"]*"/, ''),
      );
    out[name] = { type, content };
  }
  return out;
}

/**
 * lua/append-batch.lua names a user's keys from its meta key; lua/append-once.lua is given every key by
 * redis-keys.ts. The same events stored both ways must leave the same keys with the same contents.
 */
describe.skipIf(!available)('append-batch names the keys redis-keys.ts names', () => {
  const prefixes: string[] = [];
  const engines: RedisEngine[] = [];
  afterAll(async () => {
    for (const engine of engines) await engine.close();
    for (const prefix of prefixes) await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  async function engine(): Promise<{ engine: RedisEngine; prefix: string }> {
    const prefix = uniquePrefix('keys');
    prefixes.push(prefix);
    const made = new RedisEngine({ url: REDIS_URL, keyPrefix: prefix });
    engines.push(made);
    await made.ready();
    return { engine: made, prefix };
  }

  it('stores every kind of event under the same key names, with the same contents', async () => {
    const batch = await engine();
    const once = await engine();
    const user = 'user {x} é';
    // One call per event: an approval is resolved only after it was opened.
    for (const [i, event] of EVENTS.entries()) {
      await batch.engine.appendBatch([{ userId: user, event }]);
      await once.engine.appendBatchOnce([{ userId: user, event }], {
        key: `k${i}`,
        fingerprint: 'f',
        ttlMs: 60_000,
      });
    }
    const redis = new Redis(REDIS_URL);
    try {
      const batchKeys = await dump(redis, batch.prefix, () => false);
      const onceKeys = await dump(redis, once.prefix, (name) => name.includes(':publish-key:'));
      expect(Object.keys(batchKeys).sort()).toEqual(KEYS_STORED);
      expect(batchKeys).toEqual(onceKeys);
    } finally {
      redis.disconnect();
    }
  });

  it('ends a fenced run in the registry keys redis-keys.ts names', async () => {
    const { engine: made, prefix } = await engine();
    const user = 'fenced {y}';
    const start = { runId: 'run-2', agent: 'demo', node: 'node-a', limit: 5, leaseMs: 60_000 };
    expect(await made.startRun(user, start)).toEqual({ ok: true });
    const redis = new Redis(REDIS_URL);
    try {
      const base = `${prefix}{u:${user}}`;
      expect(await redis.zscore(`${base}:runs`, 'run-2')).not.toBeNull();
      expect(await redis.hexists(`${base}:run-info`, 'run-2')).toBe(1);
      await made.append(
        user,
        { type: 'stream_chunk', run_id: 'run-2', data: { text: 'a' } },
        { node: 'node-a' },
      );
      await made.append(
        user,
        { type: 'agent_completed', run_id: 'run-2', data: { result: 'done' } },
        { node: 'node-a', ends: true },
      );
      // The terminal ended the run in the same step: out of the registry, into the ended set.
      expect(await redis.zscore(`${base}:runs`, 'run-2')).toBeNull();
      expect(await redis.hexists(`${base}:run-info`, 'run-2')).toBe(0);
      expect(await redis.zscore(`${base}:runs-ended`, 'run-2')).not.toBeNull();
      expect(await redis.get(`${base}:snap:run-2:text`)).toBe('a');
      // Another node's fenced event is refused: the fence read the registry keys.
      await expect(
        made.append(user, { type: 'stream_chunk', run_id: 'run-2', data: { text: 'b' } }, { node: 'node-b' }),
      ).rejects.toMatchObject({ code: 'AC_ERR_RUN_FENCED' });
    } finally {
      redis.disconnect();
    }
  });
});
