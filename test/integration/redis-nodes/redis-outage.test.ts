import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineHealth } from '../../../packages/server/src/engine/engine.js';
import type { Gateway } from '../../../packages/server/src/gateway/gateway.js';
import type { Logger } from '../../../packages/server/src/observability/logger.js';
import { healthIs } from '../../helpers/engine-health.js';
import {
  Client,
  type Frame,
  type Harness,
  startGateway,
  TEST_API_KEY,
} from '../../helpers/gateway-harness.js';
import { captureLog, type LogLine } from '../../helpers/log-capture.js';
import { type RedisServer, requireRedisServer, startRedisServer } from '../../helpers/redis-server.js';

// Issue #7 degraded mode, at the gateway: Redis stopped and restarted under a running gateway. Always a
// private redis-server on a free port (test/helpers/redis-server.ts), never the shared one.
const available = await requireRedisServer('redis-nodes redis-outage');

/** A pino logger whose lines the test reads back. */
function capturedLog(): { readonly logger: Logger; readonly entries: () => readonly LogLine[] } {
  const { log, lines } = captureLog();
  return { logger: log, entries: () => lines };
}

/** Resolves with the next engine health whose `ok` matches; the timeout names what was awaited. */
function nextHealth(gateway: Gateway, ok: boolean, timeoutMs = 8000): Promise<EngineHealth> {
  return healthIs(gateway.engine, ok, `engine of ${gateway.config.serverId}`, timeoutMs);
}

async function readyz(
  node: Harness,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${node.httpUrl}/readyz`, { headers });
  return { status: res.status, body: await res.json() };
}

const note = (n: number) => ({ user_id: 'alice', type: 'notification', data: { n } });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const resumeQuery = (since: number, epoch: string) => `?since=${since}&epoch=${encodeURIComponent(epoch)}`;

describe.skipIf(!available)('a gateway whose Redis stops and restarts', () => {
  const servers: RedisServer[] = [];
  const nodes: Harness[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.close();
    for (const server of servers.splice(0)) await server.stop();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function privateRedis(args: readonly string[] = []): Promise<RedisServer> {
    const server = await startRedisServer({ args });
    servers.push(server);
    return server;
  }

  async function gatewayOn(server: RedisServer, serverId: string, logger?: Logger): Promise<Harness> {
    const node = await startGateway(
      { redis: server.url, redisKeyPrefix: 'outage:', serverId },
      logger === undefined ? {} : { log: logger },
    );
    nodes.push(node);
    await nextHealth(node.gateway, true);
    return node;
  }

  /**
   * The part every variant shares: alice has an open connection (`open`) and a closed one that saw
   * seq 1..3; Redis is then stopped, and the gateway must degrade without dropping `open`.
   */
  async function throughAnOutage(server: RedisServer, node: Harness) {
    const open = await node.connect('alice');
    const away = await node.connect('alice');
    expect((await node.publish({ events: range(1, 3).map(note) })).status).toBe(202);
    const seen = await away.events(3);
    const epoch = String(seen[2]?.epoch);
    away.ws.close(1000);
    await away.closedWith();
    await open.events(3);

    const down = nextHealth(node.gateway, false);
    await server.stop();
    expect(await down).toEqual({ ok: false, reason: expect.stringMatching(/^redis unreachable: /) });

    // Open connections stay open and keep answering.
    open.send({ type: 'ping', id: 'p1' });
    expect(await open.next('pong')).toMatchObject({ id: 'p1' });
    // The reason anyone sees is a word; the Redis error (with its address) only with the API key.
    expect(await readyz(node)).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'engine_unavailable' },
    });
    expect(await readyz(node, { Authorization: `Bearer ${TEST_API_KEY}` })).toEqual({
      status: 503,
      body: {
        status: 'unavailable',
        reason: 'engine_unavailable',
        detail: expect.stringMatching(/^redis unreachable: /),
      },
    });
    // Never 202 for an event that was not stored.
    expect(await node.publish(note(99))).toEqual({
      status: 503,
      json: { error: { code: 'UNAVAILABLE', message: expect.any(String) } },
    });
    expect(await node.publish({ events: [note(98), note(97)] })).toMatchObject({ status: 503 });
    // agent-runtime.ts start(): the engine is unhealthy, so the message is refused before any run starts.
    open.send({ type: 'user_message', id: 'm1', data: { text: 'what is 2 + 2?' } });
    expect(await open.next('error')).toEqual({
      type: 'error',
      id: 'm1',
      // The engine's reason (it names Redis's address) is logged, not shown.
      data: { code: 'UNAVAILABLE', message: 'engine unavailable; retry later' },
    });
    expect(open.closeCode).toBeUndefined();
    return { open, epoch };
  }

  it('degrades while Redis is down, and after an empty restart resets resuming clients while open ones get the new epoch from seq 1', async () => {
    const server = await privateRedis();
    const log = capturedLog();
    const node = await gatewayOn(server, 'node-a', log.logger);
    const { open, epoch } = await throughAnOutage(server, node);

    const up = nextHealth(node.gateway, true);
    await server.restart(); // no persistence: Redis comes back empty
    await up;
    expect(await readyz(node)).toEqual({ status: 200, body: { status: 'ready' } });
    const after = await node.publish(note(4));
    expect(after.status).toBe(202);
    const [stored] = (after.json as { results: { seq: number; epoch: string }[] }).results;
    expect(stored?.seq).toBe(1);
    expect(stored?.epoch).not.toBe(epoch);

    // The open connection was re-subscribed and gets the new epoch's events from seq 1 (docs/protocol.md §4).
    const events = await open.events(4);
    expect(events.map((e) => [e.seq, e.epoch, e.data?.n])).toEqual([
      [1, epoch, 1],
      [2, epoch, 2],
      [3, epoch, 3],
      [1, stored?.epoch, 4],
    ]);
    // The client that saw 1..3 of the lost epoch cannot be served exactly: reset, nothing replayed.
    const resumed = await node.connect('alice', { query: resumeQuery(3, epoch) });
    expect(resumed.frames[0]).toMatchObject({
      type: 'welcome',
      data: { resume: 'reset', epoch: stored?.epoch, seq: 1 },
    });
    expect((await node.publish(note(5))).status).toBe(202);
    expect((await resumed.events(1)).map((e) => [e.seq, e.data?.n])).toEqual([[2, 5]]);
    expect((await open.events(5))[4]).toMatchObject({ seq: 2, epoch: stored?.epoch });

    // Once down, once back: not once per refused request.
    const redisLines = log.entries().filter((e) => e.msg.startsWith('redis'));
    expect(redisLines.map((e) => e.msg)).toEqual([
      'redis connected',
      'redis unreachable',
      'redis reachable again',
    ]);
    expect(redisLines[1]?.level).toBe(40); // warn: a degraded dependency (docs/architecture.md, "Style")
  });

  it('replays what a client missed when Redis restarts with its data (AOF), and the open connection continues the same epoch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentcast-aof-'));
    dirs.push(dir);
    const server = await privateRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    const node = await gatewayOn(server, 'node-a');
    const { open, epoch } = await throughAnOutage(server, node);

    const up = nextHealth(node.gateway, true);
    await server.restart();
    await up;
    expect(await readyz(node)).toMatchObject({ status: 200 });
    // Published after the restart, while the second client is still away.
    expect((await node.publish({ events: range(4, 6).map(note) })).status).toBe(202);
    const resumed = await node.connect('alice', { query: resumeQuery(3, epoch) });
    expect(resumed.frames[0]).toMatchObject({ type: 'welcome', data: { resume: 'ok', epoch, seq: 6 } });
    expect((await node.publish(note(7))).status).toBe(202);
    const replayed = await resumed.events(4);
    expect(replayed.map((e) => [e.seq, e.epoch, e.data?.n])).toEqual(range(4, 7).map((n) => [n, epoch, n]));
    const live = await open.events(7);
    expect(live.map((e) => [e.seq, e.epoch])).toEqual(range(1, 7).map((n) => [n, epoch]));
  });

  it('gives node A’s open connections what node B published while node A’s Redis connections were cut: by catch-up, or by a 1011 and an exact resume', async () => {
    const server = await privateRedis();
    const nodeA = await gatewayOn(server, 'node-a');
    const nodeB = await gatewayOn(server, 'node-b');
    const onA = await nodeA.connect('alice');
    expect((await nodeB.publish(note(1))).status).toBe(202);
    await onA.events(1);

    const admin = new Redis(server.url);
    try {
      // Cut only node A's two connections (named after its server id), as a network blip would.
      const list = String(await admin.call('CLIENT', 'LIST'));
      const ids = [...list.matchAll(/^id=(\d+) .*? name=node-a(?::subscriber)? /gm)].map(
        (m) => m[1] as string,
      );
      expect(ids).toHaveLength(2);
      const down = nextHealth(nodeA.gateway, false);
      for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
      await down;
      const up = nextHealth(nodeA.gateway, true);
      // Published on node B while node A cannot hear them (or is just re-subscribing).
      for (const n of range(2, 6)) expect((await nodeB.publish(note(n))).status).toBe(202);
      await up;
    } finally {
      admin.disconnect();
    }
    expect((await nodeB.publish(note(7))).status).toBe(202);
    // Node A reads back what it missed (catch-up) once both connections are ready. A live event that
    // reaches the re-subscribed channel before that read jumps over the missed ones: the connection then
    // sees the gap and closes with 1011 rather than deliver past it (docs/protocol.md §3, B), and the client
    // resumes. Either way nothing is lost and nothing is delivered out of order.
    const received = await onA.events(7).then(
      (events) => events,
      (error: unknown) => {
        // events() gives up when the socket closes; only the 1011 below is an expected way to end.
        if (onA.closeCode === undefined) throw error;
        return undefined;
      },
    );
    let events = received ?? onA.frames.filter((f) => typeof f.seq === 'number');
    if (received === undefined) {
      expect(onA.closeCode).toBe(1011);
      const last = events.at(-1) as Frame;
      const resumed = await nodeA.connect('alice', {
        query: resumeQuery(Number(last.seq), String(last.epoch)),
      });
      expect(resumed.frames[0]).toMatchObject({ data: { resume: 'ok', seq: 7 } });
      events = [...events, ...(await resumed.events(7 - events.length))];
    }
    expect(events.map((e: Frame) => [e.seq, e.data?.n])).toEqual(range(1, 7).map((n) => [n, n]));
  });

  it('refuses a new connection while Redis is down without an error-level log line per attempt', async () => {
    const server = await privateRedis();
    const log = capturedLog();
    const node = await gatewayOn(server, 'node-a', log.logger);
    const down = nextHealth(node.gateway, false);
    await server.stop();
    await down;
    for (let i = 0; i < 3; i += 1) {
      const client = Client.open(node.wsUrl, {
        headers: { Authorization: `Bearer ${await node.token('bob')}` },
      });
      // The client is told to come back later (1011, it reconnects with backoff).
      expect(await client.closedWith()).toBe(1011);
    }
    // docs/architecture.md ("Style") and issue #7: a degraded dependency is logged once (warn), not once per
    // request.
    expect(log.entries().filter((e) => e.level >= 50)).toEqual([]);
  });
});
