import { sleep } from '../lib/clock.mjs';
import { connectAll, snapshot, userIds } from '../lib/load.mjs';
import { cpuMeter, loadAverage } from '../lib/proc-stats.mjs';
import { measureFanout, measureLatency, round } from './measure.mjs';

/**
 * The four scenarios run against every server, each with a fresh server process. `scale` holds the sizes
 * (full run or --quick). Every function returns plain JSON for the results file.
 */

/** 1. Idle memory: RSS and heap per authenticated idle connection (after a full GC, same probe for all). */
export async function idleMemory({ scope, kind, scale, progress }) {
  const server = await scope.server(kind);
  await sleep(500);
  const base = await server.memory();
  const clients = scope.clients(scale.idleWorkers);
  progress.note(`opening ${scale.idleConnections.toLocaleString('en-US')} connections`);
  const opened = await connectAll(clients, server, userIds(scale.idleConnections), { concurrency: 400 });
  if (opened.opened === 0) throw new Error(`no connection opened: ${opened.lastError}`);
  await progress.wait(scale.idleSettleMs, 'idle');
  const held = await snapshot(clients);
  const loaded = await server.memory();
  const n = held.open;
  const per = (field) => Math.round((loaded[field] - base[field]) / n);
  return {
    connections: n,
    failed: opened.failed,
    rss_per_conn_bytes: per('vmrss'),
    heap_per_conn_bytes: per('heapUsed'),
    external_per_conn_bytes: per('external'),
    base: pick(base),
    loaded: pick(loaded),
    load_average: loadAverage(),
  };
}

function pick(mem) {
  return {
    rss: mem.vmrss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
  };
}

/** 2. Fan-out throughput: users x 1 connection, batches published back to back. */
export async function fanout({ scope, kind, scale, progress }) {
  const server = await scope.server(kind);
  const clients = scope.clients(scale.clientWorkers);
  const publisher = scope.worker('publisher');
  const users = userIds(scale.users);
  progress.note(`opening ${users.length} connections`);
  const opened = await connectAll(clients, server, users);
  if (opened.failed > 0) throw new Error(`${opened.failed} connections failed: ${opened.lastError}`);
  return measureFanout({
    publisher,
    clients,
    publishTo: server,
    servers: [server],
    users,
    warmupMs: scale.warmupMs,
    measureMs: scale.fanoutMs,
    progress,
  });
}

/** 3. Latency at a fixed rate. */
export async function latency({ scope, kind, scale, progress }) {
  const server = await scope.server(kind);
  const clients = scope.clients(scale.clientWorkers);
  const publisher = scope.worker('publisher');
  const users = userIds(scale.users);
  progress.note(`opening ${users.length} connections`);
  const opened = await connectAll(clients, server, users, { latency: true });
  if (opened.failed > 0) throw new Error(`${opened.failed} connections failed: ${opened.lastError}`);
  return measureLatency({
    publisher,
    clients,
    publishTo: server,
    servers: [server],
    users,
    rate: scale.latencyRate,
    warmupMs: scale.warmupMs,
    measureMs: scale.latencyMs,
    progress,
  });
}

/** 4. Connection storm: N connects (each verifies a JWT), as fast as the server completes them. */
export async function storm({ scope, kind, scale, progress }) {
  const server = await scope.server(kind);
  const clients = scope.clients(scale.clientWorkers);
  // Start the workers before the clock does.
  await Promise.all(clients.map((c) => c.call('snapshot')));
  const meter = cpuMeter(server.pid);
  const load = loadAverage();
  meter.start();
  progress.note(`${scale.stormConnections.toLocaleString('en-US')} connects`);
  const result = await connectAll(clients, server, userIds(scale.stormConnections, 's'), {
    concurrency: scale.stormConcurrency,
  });
  const cpu = meter.stop();
  return {
    connections: result.opened,
    failed: result.failed,
    seconds: round(result.seconds, 3),
    connects_per_s: Math.round(result.connectsPerSecond),
    server_cpu_cores: round(cpu.cores, 3),
    concurrency: scale.stormConcurrency,
    last_error: result.lastError,
    load_average: load,
  };
}

/**
 * 5. Token burst (issue 20): many events to one connection within a tick, as a run's tokens arrive in a
 * batch. 20 users, one connection each; every published batch of 100 events goes to one user, 4 batches in
 * flight. agentcast writes a tick's frames for a connection in one corked write; the baselines write each.
 */
export async function tokenBurst({ scope, kind, scale, progress }) {
  const server = await scope.server(kind);
  const clients = scope.clients(scale.clientWorkers);
  const publisher = scope.worker('publisher');
  const users = userIds(20, 'b');
  const opened = await connectAll(clients, server, users);
  if (opened.failed > 0) throw new Error(`${opened.failed} connections failed: ${opened.lastError}`);
  // The publisher takes users round-robin per event: 100 copies of each id in a row make a batch one user's.
  const perBatch = users.flatMap((u) => Array.from({ length: 100 }, () => u));
  return measureFanout({
    publisher,
    clients,
    publishTo: server,
    servers: [server],
    users: perBatch,
    warmupMs: scale.warmupMs,
    measureMs: scale.engineMs,
    progress,
  });
}

export const COMMON_SCENARIOS = [
  { id: 'idle_memory', title: 'Idle memory', run: idleMemory },
  { id: 'fanout', title: 'Fan-out throughput', run: fanout },
  { id: 'latency', title: 'Latency at a fixed rate', run: latency },
  { id: 'storm', title: 'Connection storm', run: storm },
  { id: 'token_burst', title: 'Token burst', run: tokenBurst },
];
