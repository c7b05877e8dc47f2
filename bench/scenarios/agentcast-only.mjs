import Redis from 'ioredis';
import { connectAll, userIds } from '../lib/load.mjs';
import { ROOT } from '../lib/servers.mjs';
import { measureFanout, measureLatency } from './measure.mjs';

/** 5a. Origin checks per second: OriginPolicy.check from packages/server/dist/security, in its own process. */
export async function originChecks({ scope, scale }) {
  const worker = scope.worker('origin-checks');
  return worker.call(
    'run',
    { distDir: `${ROOT}packages/server/dist`, durationMs: scale.originMs },
    scale.originMs + 30_000,
  );
}

async function flushBenchDb(url) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.flushdb(); // only the bench's own db number (see --redis-url)
  } finally {
    redis.disconnect();
  }
}

/**
 * 5b. Engines: the memory engine, the Redis engine on one node, and two nodes on one Redis (publishes to
 * node A, receivers split over A and B). Same sizes for the three, so they compare with each other.
 * When a node started with --redis still reports another engine in /v1/stats, the Redis rows are marked
 * pending rather than mislabelled.
 */
export function engineSetups(redisUrl) {
  return [
    { id: 'memory', label: 'memory engine, 1 node', nodes: 1, redis: undefined },
    { id: 'redis_1', label: 'Redis engine, 1 node', nodes: 1, redis: redisUrl },
    { id: 'redis_2', label: 'Redis engine, 2 nodes', nodes: 2, redis: redisUrl },
  ];
}

export async function engineRun({ scope, scale, progress, setup }) {
  if (setup.redis !== undefined) await flushBenchDb(setup.redis);
  const servers = [];
  for (let i = 0; i < setup.nodes; i++)
    servers.push(await scope.server('agentcast', { redis: setup.redis, serverId: `bench-${i}` }));
  const stats = await servers[0].stats();
  const expected = setup.redis === undefined ? 'memory' : 'redis';
  if (stats?.engine !== expected) {
    return {
      status: 'pending',
      reason: `started with ${setup.redis === undefined ? 'no --redis' : '--redis'}, /v1/stats reports engine "${stats?.engine}"; the gateway does not build a ${expected} engine from this flag yet`,
    };
  }
  const clients = scope.clients(scale.clientWorkers);
  const publisher = scope.worker('publisher');
  const users = userIds(scale.users);
  const opened = await connectAll(clients, servers, users);
  if (opened.failed > 0) throw new Error(`${opened.failed} connections failed: ${opened.lastError}`);
  const common = {
    publisher,
    clients,
    publishTo: servers[0],
    servers,
    users,
    warmupMs: scale.warmupMs,
    progress,
  };
  const throughput = await measureFanout({ ...common, measureMs: scale.engineMs });
  await Promise.all(clients.map((c) => c.call('setLatency', { latency: true })));
  const lat = await measureLatency({ ...common, rate: scale.latencyRate, measureMs: scale.engineMs });
  return { status: 'ok', engine: stats.engine, nodes: setup.nodes, throughput, latency: lat };
}
