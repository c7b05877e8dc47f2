import { afterEach, describe, expect, it } from 'vitest';
import { healthIs } from '../../helpers/engine-health.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { type RedisServer, requireRedisServer, startRedisServer } from '../../helpers/redis-server.js';

// Issue 13, finding 8: with Redis stalled, a publish was answered 503 "nothing was stored" although the
// event was stored, and the retry made a duplicate. A private redis-server on a free port, frozen for a
// bounded time (SIGSTOP, then SIGCONT); the shared Redis is never touched.
const available = await requireRedisServer('redis-nodes redis-stall');

const note = (n: number) => ({ user_id: 'alice', type: 'notification', data: { n } });
const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(!available)('a gateway whose Redis stalls (issue 13)', () => {
  let server: RedisServer | undefined;
  let node: Harness | undefined;

  afterEach(async () => {
    await node?.close();
    await server?.stop();
    node = undefined;
    server = undefined;
  });

  it('answers a publish whose command timed out "may or may not have been stored", turns /readyz 503 until Redis answers again, and says "nothing was stored" only when nothing was sent', async () => {
    server = await startRedisServer();
    node = await startGateway({ redis: server.url, redisKeyPrefix: 'stall:', serverId: 'node-a' });
    await healthIs(node.gateway.engine, true, 'engine of node-a');

    // Frozen, Redis reads nothing: the publish's script waits in the socket, past the engine's 2 s
    // command timeout, and runs when Redis is thawed.
    const thawed = server.freeze(4000);
    const first = await node.publish(note(1));
    expect(first).toEqual({
      status: 503,
      json: {
        error: { code: 'UNAVAILABLE', message: expect.stringMatching(/may or may not have been stored/) },
      },
    });
    expect(JSON.stringify(first.json)).not.toMatch(/nothing was stored/);

    // /readyz noticed the timeout; without the API key it names no internal detail.
    expect(node.gateway.engine.health()).toMatchObject({ ok: false });
    const readyz = `${node.httpUrl}/readyz`;
    expect(await getJson(readyz)).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'engine_unavailable' },
    });
    // Refused before anything was sent to Redis: here "nothing was stored" is true.
    const second = await node.publish(note(2));
    expect(second).toEqual({
      status: 503,
      json: { error: { code: 'UNAVAILABLE', message: expect.stringMatching(/nothing was stored/) } },
    });

    await thawed;
    // Nothing else is sent: the engine's own probe finds Redis answering again.
    await healthIs(node.gateway.engine, true, 'engine of node-a after the stall');
    expect(await getJson(readyz)).toEqual({ status: 200, body: { status: 'ready' } });
    // The timed-out event was stored after all (a blind retry would have duplicated it); the refused one was not.
    const history = await getJson(`${node.httpUrl}/v1/users/alice/history`, auth);
    expect(history.status).toBe(200);
    expect((history.body.events as { seq: number; data: unknown }[]).map((e) => [e.seq, e.data])).toEqual([
      [1, { n: 1 }],
    ]);
    expect((await node.publish(note(3))).status).toBe(202);
  });
});
