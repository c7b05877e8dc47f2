import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnNode } from './children.mjs';
import { awaitHealthz } from './healthz.mjs';
import { nchanAvailable, startNchan } from './nchan.mjs';
import { rssBytes } from './proc-stats.mjs';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const JWT_SECRET = 'bench-secret-bench-secret-bench-secret';
export const API_KEY = 'bench-api-key';

/**
 * The servers under test, in the order tables show them. The nchan kinds run only where Debian's nginx and
 * its nchan module are installed (`apt-get install nginx-light libnginx-mod-nchan`).
 */
export const SERVER_KINDS = [
  'agentcast',
  'agentcast-sse',
  'bare-ws',
  'socketio',
  ...(nchanAvailable() ? ['nchan', 'nchan-wspub'] : []),
];
/**
 * `agentcast-sse` is the same agentcast server, its clients on Server-Sent Events (GET /v1/events);
 * `nchan-wspub` the same nginx as `nchan`, its publisher on WebSockets instead of one POST per event.
 */
export const SERVER_LABELS = {
  agentcast: 'agentcast',
  'agentcast-sse': 'agentcast (SSE)',
  'bare-ws': 'bare ws',
  socketio: 'Socket.IO 4.8',
  nchan: 'nginx + nchan (HTTP publisher)',
  'nchan-wspub': 'nginx + nchan (WebSocket publisher)',
};
/** How the publisher reaches each nchan kind (bench/load/publisher.mjs). */
const NCHAN_PUBLISH = { nchan: 'nchan-http', 'nchan-wspub': 'nchan-ws' };

/** A free loopback port (the kernel picks it; it is released right before the server binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The limits and heartbeats of every agentcast under test (BENCHMARKS.md lists them): limits raised so the
 * load generator, not a cap meant for one abusive client, is what a scenario meets; heartbeats slowed so
 * idle connections see no traffic during a measurement.
 */
export const AGENTCAST_BENCH_FLAGS = [
  '--max-connections',
  '20000',
  // The load generator opens up to 200 handshakes at once from each of a few loopback addresses.
  '--max-http-sockets',
  '20000',
  '--max-http-sockets-per-ip',
  '5000',
  // ... and authenticates them together: each holds a handshake until its welcome.
  '--max-handshakes-per-ip',
  '5000',
  '--rate-limit',
  '1000',
  '--rate-burst',
  '1000',
  '--heartbeat-ms',
  '60000',
  '--sse-heartbeat-ms',
  '60000',
];

function agentcastArgs(port, redis) {
  return [
    `${ROOT}packages/server/dist/cli.js`,
    'serve',
    '--env',
    'test',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--jwt-secret',
    JWT_SECRET,
    '--api-key',
    API_KEY,
    ...AGENTCAST_BENCH_FLAGS,
    '--log-level',
    'warn',
    // Stopped with SIGTERM and a 5 s grace before SIGKILL: a drain delay as long (5 s outside development)
    // meant SIGKILL, and --profile wrote no CPU profile.
    '--drain-delay-ms',
    '0',
    ...(redis === undefined ? [] : ['--redis', redis]),
  ];
}

/**
 * Starts one server under test in its own process (pinned to `cpus` when given), with the same memory probe
 * preloaded into all three, and resolves once /healthz answers.
 */
export async function startServer(kind, { cpus, redis, cpuProfDir, serverId, extraArgs = [] } = {}) {
  const port = await freePort();
  if (kind in NCHAN_PUBLISH) return startNchan({ kind, port, cpus, publishProtocol: NCHAN_PUBLISH[kind] });
  const probe = ['--expose-gc', '--require', `${BENCH_DIR}lib/mem-probe.cjs`];
  const prof = cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir];
  const script = kind.startsWith('agentcast')
    ? // --cpu-prof writes its profile at exit: without a drain delay the server exits before stop()'s SIGKILL.
      [
        ...agentcastArgs(port, redis),
        ...(cpuProfDir === undefined ? [] : ['--drain-delay-ms', '0']),
        ...extraArgs,
      ]
    : [`${BENCH_DIR}servers/${kind}.mjs`];
  const env = {
    PORT: String(port),
    JWT_SECRET,
    API_KEY,
    ...(serverId ? { AGENTCAST_SERVER_ID: serverId } : {}),
  };
  const proc = spawnNode([...probe, ...prof, ...script], { cpus, env, label: `${kind} server` });
  const base = `http://127.0.0.1:${port}`;
  await awaitHealthz(proc, base, kind);
  return {
    kind,
    proc,
    port,
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    pid: proc.pid,
    /** process.memoryUsage() after a full GC, plus VmRSS read from /proc. */
    async memory() {
      const mem = await proc.call('bench:mem', {}, 30_000);
      return { ...mem, vmrss: rssBytes(proc.pid) };
    },
    async stats() {
      const res = await fetch(`${base}/v1/stats`, { headers: { Authorization: `Bearer ${API_KEY}` } });
      return res.ok ? res.json() : undefined;
    },
    stop: () => proc.stop(),
  };
}
