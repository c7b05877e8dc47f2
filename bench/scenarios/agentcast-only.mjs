import Redis from 'ioredis';
import WebSocket from 'ws';
import { signHs256 } from '../lib/jwt.mjs';
import { connectAll, userIds } from '../lib/load.mjs';
import { API_KEY, JWT_SECRET, ROOT } from '../lib/servers.mjs';
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

/**
 * 5c. Catch-up (docs/protocol.md F): a run has streamed `tokens` stream_chunk events (published over HTTP
 * by a backend, as any run's); a tab then joins it two ways, in the same run of the same server: replaying
 * the run from history (`?since=0`, history large enough to hold it), and catching up with the run's
 * snapshot (`?catch_up=snapshot`). Counted: frames and bytes the tab receives before the live tail (the
 * next event published), and the time from opening the socket until it has them.
 */
export async function catchUp({ scope, tokens = 5000 }) {
  const server = await scope.server('agentcast', { extraArgs: ['--history-size', String(tokens + 10)] });
  const user = 'catch-up-user';
  const run = 'r_catch_up';
  const publish = async (events) => {
    const res = await fetch(`${server.base}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
  };
  await publish([
    {
      user_id: user,
      run_id: run,
      type: 'agent_started',
      data: { agent_name: 'bench', task_description: 'x' },
    },
  ]);
  // Tokens of a few characters, as a model streams them.
  const words = ['The', ' answer', ' is', ' forty', '-two', ',', ' as', ' computed', '.', '\n'];
  for (let i = 0; i < tokens; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(tokens, i + 500); j++) {
      batch.push({
        user_id: user,
        run_id: run,
        type: 'stream_chunk',
        data: { text: words[j % words.length] },
      });
    }
    await publish(batch);
  }
  const head = tokens + 1;
  const token = signHs256(JWT_SECRET, user);
  /** Opens a tab with `query`; resolves with what it received once `done(frame)` says it is caught up. */
  const tab = (query, done) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const ws = new WebSocket(`${server.wsBase}/ws${query}`, ['agentcast.v1'], {
        headers: { Authorization: `Bearer ${token}` },
      });
      let frames = 0;
      let bytes = 0;
      const timer = setTimeout(() => reject(new Error(`no catch-up in 30 s (${query})`)), 30_000);
      ws.on('message', (data) => {
        frames += 1;
        bytes += data.length;
        if (done(JSON.parse(data.toString()))) {
          clearTimeout(timer);
          const ms = performance.now() - started;
          ws.close();
          resolve({ frames, bytes, ms: Math.round(ms * 10) / 10 });
        }
      });
      ws.on('error', reject);
    });
  const replay = await tab('?since=0', (f) => f.seq === head);
  const snapshot = await tab('?catch_up=snapshot', (f) => f.type === 'run_snapshot');
  return {
    status: 'ok',
    tokens,
    replay,
    catch_up: snapshot,
    bytes_ratio: snapshot.bytes / replay.bytes,
  };
}
