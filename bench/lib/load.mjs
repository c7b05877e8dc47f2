import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { spawnNode } from './children.mjs';
import { JWT_SECRET, startServer } from './servers.mjs';

const LOAD_DIR = fileURLToPath(new URL('../load/', import.meta.url));

/** User ids `u0 … u<n-1>`, the JWT `sub` of each connection and the `user_id` of each published event. */
export function userIds(count, prefix = 'u') {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

/**
 * The processes of one measurement (one server, its load workers). `close` stops every one of them, so a
 * scenario that fails or times out leaves nothing running.
 */
export class Scope {
  #procs = [];
  #servers = [];

  constructor({ serverCpus, loadCpus, profileDir }) {
    this.serverCpus = serverCpus;
    this.loadCpus = loadCpus;
    this.profileDir = profileDir;
  }

  async server(kind, options = {}) {
    const cpuProfDir = this.profileDir === undefined ? undefined : `${this.profileDir}/${kind}`;
    const server = await startServer(kind, { cpus: this.serverCpus, cpuProfDir, ...options });
    this.#servers.push(server);
    return server;
  }

  worker(name, label = name) {
    const proc = spawnNode([`${LOAD_DIR}${name}.mjs`], { cpus: this.loadCpus, env: {}, label });
    this.#procs.push(proc);
    return proc;
  }

  /** `count` client workers; worker i connects from 127.0.0.<i+2> so each has its own ephemeral ports. */
  clients(count) {
    return Array.from({ length: count }, (_, i) => {
      const proc = this.worker('clients', `clients#${i + 1}`);
      proc.localAddress = `127.0.0.${i + 2}`;
      return proc;
    });
  }

  async close() {
    // Clients first (a server draining open connections would wait for them), then the servers.
    await Promise.all(this.#procs.map((p) => p.call('closeAll', {}, 5000).catch(() => undefined)));
    await Promise.all(this.#procs.map((p) => p.stop(3000)));
    await Promise.all(this.#servers.map((s) => s.stop()));
  }
}

/**
 * Opens one connection per user id, the ids split across the workers round-robin, all workers at once.
 * `servers` may hold several nodes: connection i goes to node i % nodes.
 */
export async function connectAll(
  workers,
  servers,
  users,
  { concurrency = 200, latency = false, timeoutMs = 120_000 } = {},
) {
  const nodes = Array.isArray(servers) ? servers : [servers];
  const jobs = [];
  for (let w = 0; w < workers.length; w++) {
    for (let n = 0; n < nodes.length; n++) {
      // User i goes to node i % nodes and, within it, to worker floor(i / nodes) % workers.
      const mine = users.filter(
        (_, i) => i % nodes.length === n && Math.floor(i / nodes.length) % workers.length === w,
      );
      if (mine.length === 0) continue;
      const node = nodes[n];
      jobs.push(
        workers[w].call(
          'connect',
          {
            base: node.wsBase,
            kind: node.kind,
            users: mine,
            secret: JWT_SECRET,
            concurrency: Math.max(1, Math.floor(concurrency / nodes.length)),
            localAddress: workers[w].localAddress,
            latency,
          },
          timeoutMs,
        ),
      );
    }
  }
  const results = await Promise.all(jobs);
  const opened = results.reduce((sum, r) => sum + r.opened, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  const start = Math.min(...results.map((r) => r.startedAt));
  const end = Math.max(...results.map((r) => r.endedAt));
  const seconds = (end - start) / 1e6;
  const lastError = results.map((r) => r.lastError).find((e) => e !== '') ?? '';
  return { opened, failed, seconds, connectsPerSecond: opened / seconds, lastError };
}

/** Sum of the workers' counters right now. */
export async function snapshot(workers) {
  const all = await Promise.all(workers.map((w) => w.call('snapshot', {}, 10_000)));
  const closes = {};
  for (const s of all)
    for (const [code, n] of Object.entries(s.closes)) closes[code] = (closes[code] ?? 0) + n;
  return {
    received: all.reduce((sum, s) => sum + s.received, 0),
    open: all.reduce((sum, s) => sum + s.open, 0),
    errors: all.reduce((sum, s) => sum + s.errors, 0),
    closes,
    at: Math.max(...all.map((s) => s.at)),
  };
}

/** The workers' latency histograms merged into one. */
export async function mergedHistogram(workers) {
  const merged = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const w of workers) merged.add(hdr.decodeFromCompressedBase64(await w.call('histogram', {}, 10_000)));
  return merged;
}

/** Percentiles (ms) of a µs histogram, and the points of a percentile-distribution chart. */
export function latencySummary(histogram) {
  const ms = (p) => Math.round(histogram.getValueAtPercentile(p) / 10) / 100;
  const curve = [0, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.95, 99.99, 100].map((p) => [p, ms(p)]);
  return {
    count: histogram.totalCount,
    p50_ms: ms(50),
    p90_ms: ms(90),
    p99_ms: ms(99),
    p999_ms: ms(99.9),
    max_ms: Math.round(histogram.maxValue / 10) / 100,
    mean_ms: Math.round(histogram.mean / 10) / 100,
    curve,
  };
}
