import { sleep } from '../lib/clock.mjs';
import { connectAll, snapshot, userIds } from '../lib/load.mjs';
import { cpuMeter, fdLimit, loadAverage, openFds } from '../lib/proc-stats.mjs';
import { API_KEY } from '../lib/servers.mjs';
import { round } from './measure.mjs';

/**
 * Connection scale on one node (issue 20): as many authenticated idle connections as one server process can
 * hold, each server a fresh process. The ceiling is the process's file descriptor limit ("Max open files"
 * of /proc/<pid>/limits, 20,000 on the bench machine, where it cannot be raised): one socket is one
 * descriptor, so the count is that limit minus the descriptors the server holds at start minus a margin
 * (the publish connection, anything the server opens later). Measured: the connect rate at a fixed number
 * of handshakes in flight, memory per connection after a full GC (as idle_memory), and that every
 * connection is still alive at the end: one event is published to every user and the deliveries counted.
 */

/** The servers measured: nchan's nginx has its own worker_connections ceiling, not the process's. */
export const SCALE_KINDS = ['agentcast', 'agentcast-sse', 'bare-ws', 'socketio'];

/** Descriptors left free under the limit: the publisher's connection, the server's own later opens. */
export const FD_MARGIN = 30;

/**
 * agentcast's own connection limits raised above what the descriptor limit allows, so the process limit,
 * not a flag, is what the scenario meets (later flags win over bench/lib/servers.mjs's). SSE streams are
 * plain HTTP sockets to the gateway, so the HTTP socket caps matter as much as --max-connections.
 */
export const SCALE_AGENTCAST_ARGS = [
  '--max-connections',
  '25000',
  '--max-http-sockets',
  '25000',
  '--max-http-sockets-per-ip',
  '25000',
  '--max-handshakes-per-ip',
  '25000',
];

/** Most events in one `POST /v1/publish` (docs/protocol.md D; the baselines take as many). */
const BATCH = 500;

/** Publishes one `stream_chunk` to each user, batch after batch; resolves with how many were accepted. */
async function publishOneEach(base, users) {
  let accepted = 0;
  for (let i = 0; i < users.length; i += BATCH) {
    const events = users
      .slice(i, i + BATCH)
      .map((u) => `{"user_id":"${u}","type":"stream_chunk","data":{"text":"alive"}}`);
    const res = await fetch(`${base}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: `{"events":[${events.join(',')}]}`,
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    if (res.status === 202) accepted += Math.min(BATCH, users.length - i);
  }
  return accepted;
}

export async function connectionScale({ scope, kind, scale, progress }) {
  const server = await scope.server(
    kind,
    kind.startsWith('agentcast') ? { extraArgs: SCALE_AGENTCAST_ARGS } : {},
  );
  const clients = scope.clients(scale.scaleWorkers);
  // Start the workers before the clock does.
  await Promise.all(clients.map((c) => c.call('snapshot')));
  await sleep(500);
  const limit = fdLimit(server.pid);
  const fdsAtStart = openFds(server.pid);
  const target = Math.min(scale.scaleConnections, limit.soft - fdsAtStart - FD_MARGIN);
  const base = await server.memory();
  const users = userIds(target, 'n');

  progress.note(`opening ${target.toLocaleString('en-US')} connections`);
  const meter = cpuMeter(server.pid);
  const load = loadAverage();
  let connecting = true;
  const shown = (async () => {
    while (connecting) {
      await sleep(2000);
      if (!connecting) return;
      const now = await snapshot(clients).catch(() => undefined);
      if (now !== undefined) progress.note(`${now.open.toLocaleString('en-US')} open`, false);
    }
  })();
  meter.start();
  const opened = await connectAll(clients, server, users, {
    // connectAll's concurrency is per client process.
    concurrency: Math.ceil(scale.scaleInFlight / clients.length),
    timeoutMs: scale.scaleConnectTimeoutMs,
  }).finally(() => {
    connecting = false;
  });
  const cpu = meter.stop();
  await shown;
  if (opened.opened === 0) throw new Error(`no connection opened: ${opened.lastError}`);

  await progress.wait(scale.scaleSettleMs, 'idle');
  const held = await snapshot(clients);
  const loaded = await server.memory();
  const fdsLoaded = openFds(server.pid);
  const per = (field) => Math.round((loaded[field] - base[field]) / held.open);

  // Liveness: one event to every user (one connection each), counted at the receivers, bounded in time.
  progress.note(`publishing one event to each of ${users.length.toLocaleString('en-US')} users`);
  const before = await snapshot(clients);
  const t0 = Date.now();
  const published = await publishOneEach(server.base, users);
  const publishMs = Date.now() - t0;
  let after = await snapshot(clients);
  const deadline = t0 + scale.scaleDeliveryMs;
  while (after.received - before.received < after.open && Date.now() < deadline) {
    await sleep(250);
    after = await snapshot(clients);
  }
  const delivered = after.received - before.received;
  return {
    fd_limit: limit.soft,
    // JSON has no Infinity: an unlimited hard limit is written as null.
    fd_limit_hard: Number.isFinite(limit.hard) ? limit.hard : null,
    fds_at_start: fdsAtStart,
    fd_margin: FD_MARGIN,
    target,
    agentcast_flags: kind.startsWith('agentcast') ? SCALE_AGENTCAST_ARGS.join(' ') : undefined,
    connections: opened.opened,
    failed: opened.failed,
    last_error: opened.lastError,
    in_flight: scale.scaleInFlight,
    seconds: round(opened.seconds, 3),
    connects_per_s: Math.round(opened.connectsPerSecond),
    server_cpu_cores: round(cpu.cores, 3),
    open_when_measured: held.open,
    server_fds_loaded: fdsLoaded,
    rss_per_conn_bytes: per('vmrss'),
    heap_per_conn_bytes: per('heapUsed'),
    external_per_conn_bytes: per('external'),
    rss_loaded_bytes: loaded.vmrss,
    heap_loaded_bytes: loaded.heapUsed,
    published,
    delivered,
    // From the first publish request until the last delivery counted (or the deadline).
    publish_ms: publishMs,
    delivery_ms: Date.now() - t0,
    open_at_end: after.open,
    all_alive: delivered === opened.opened && after.open === opened.opened,
    closes: after.closes,
    load_average: load,
  };
}
