import { connectAll, latencySummary, mergedHistogram, snapshot, userIds } from '../lib/load.mjs';
import { cpuMeter, loadAverage } from '../lib/proc-stats.mjs';
import { API_KEY, JWT_SECRET } from '../lib/servers.mjs';
import { round } from './measure.mjs';

/**
 * 6. Token streaming (issue 20): N concurrent runs, each streaming `stream_chunk` at 30 tokens/s to its
 * user's one connection, the way an LLM backend publishes. agentcast is fed three ways: (a) one POST per
 * token, (b) one streamed NDJSON request per run (docs/protocol.md D), (c) through its webhook agent (the
 * backend answers each run with an NDJSON stream); bare ws and Socket.IO get (a), the same per-token POSTs.
 *
 * N grows step by step (`scale.tokenSteps`) on one server until p99 publish→receive latency reaches
 * 100 ms or deliveries fall short; reported: the largest N under 100 ms, events per server CPU-second at
 * each step (and at `scale.tokenCompareN`, the same N for every setup), and memory per streaming run
 * (heap and RSS after a full GC while `tokenCompareN` runs stream, minus the same connections idle).
 */

export const TOKEN_SETUPS = [
  { id: 'agentcast_post', kind: 'agentcast', mode: 'post', label: 'agentcast, one POST per token' },
  { id: 'agentcast_ndjson', kind: 'agentcast', mode: 'ndjson', label: 'agentcast, streamed NDJSON per run' },
  { id: 'agentcast_webhook', kind: 'agentcast', mode: 'webhook', label: 'agentcast, webhook agent' },
  { id: 'bare_ws_post', kind: 'bare-ws', mode: 'post', label: 'bare ws, one POST per token' },
  { id: 'socketio_post', kind: 'socketio', mode: 'post', label: 'Socket.IO 4.8, one POST per token' },
];

const TOKENS_PER_S = 30;
const P99_LIMIT_MS = 100;

export async function tokenStream({ scope, scale, progress, setup }) {
  const publisher = scope.worker('token-publisher');
  const extraArgs = [];
  if (setup.mode === 'webhook') {
    const { port } = await publisher.call('backend', {}, 10_000);
    extraArgs.push(
      '--agent-url',
      `http://127.0.0.1:${port}/`,
      '--agent-secret',
      'bench-agent-secret-bench-agent-secret',
      '--default-agent',
      'webhook',
    );
  }
  const server = await scope.server(setup.kind, { extraArgs });
  const clients = scope.clients(scale.clientWorkers);
  const maxN = Math.max(...scale.tokenSteps);
  const users = userIds(maxN, 't');
  progress.note(`opening ${maxN} connections`);
  const opened = await connectAll(clients, server, users, { latency: true });
  if (opened.failed > 0) throw new Error(`${opened.failed} connections failed: ${opened.lastError}`);
  const steps = [];
  let memory;
  for (const n of scale.tokenSteps) {
    const withMemory = n === scale.tokenCompareN;
    const step = await measureStep({
      publisher,
      clients,
      server,
      users: users.slice(0, n),
      scale,
      setup,
      progress,
      withMemory,
    });
    if (withMemory) {
      memory = step.memory;
      delete step.memory;
    }
    steps.push(step);
    // Past the limit the next steps only queue more: stop once p99 is over it or deliveries fall short.
    if (!step.sustained && n >= scale.tokenCompareN) break;
  }
  const sustained = steps.filter((s) => s.sustained);
  const compare = steps.find((s) => s.runs === scale.tokenCompareN);
  return {
    setup: setup.id,
    label: setup.label,
    tokens_per_s: TOKENS_PER_S,
    max_runs_p99_under_100ms: sustained.length === 0 ? 0 : Math.max(...sustained.map((s) => s.runs)),
    compare_runs: scale.tokenCompareN,
    events_per_cpu_s: compare?.events_per_cpu_s,
    p99_ms_at_compare: compare?.p99_ms,
    memory_per_run: memory,
    steps,
  };
}

async function measureStep({ publisher, clients, server, users, scale, setup, progress, withMemory }) {
  const n = users.length;
  const idle = withMemory ? await server.memory() : undefined;
  // The runs go on a little past the window, so memory is read while they still stream.
  const durationMs = scale.tokenWarmupMs + scale.tokenMeasureMs + 1500;
  const running = publisher.call(
    'run',
    {
      mode: setup.mode,
      base: server.base,
      apiKey: API_KEY,
      secret: JWT_SECRET,
      users,
      tokensPerS: TOKENS_PER_S,
      durationMs,
    },
    durationMs + 60_000,
  );
  await progress.wait(scale.tokenWarmupMs, `${n} runs: warm-up`);
  await Promise.all(clients.map((c) => c.call('resetHistogram')));
  const meter = cpuMeter(server.pid);
  const before = await snapshot(clients);
  const load = loadAverage();
  meter.start();
  await progress.wait(scale.tokenMeasureMs, `${n} runs × ${TOKENS_PER_S} tokens/s`);
  const cpu = meter.stop();
  const after = await snapshot(clients);
  const summary = latencySummary(await mergedHistogram(clients));
  // Memory while the runs still stream: a full GC now does not touch the latencies measured.
  const streaming = withMemory ? await server.memory() : undefined;
  const published = await running;
  const seconds = (after.at - before.at) / 1e6;
  const delivered = after.received - before.received;
  const expected = n * TOKENS_PER_S * seconds;
  const step = {
    runs: n,
    delivered_per_s: Math.round(delivered / seconds),
    expected_per_s: Math.round(expected / seconds),
    server_cpu_cores: round(cpu.cores, 3),
    events_per_cpu_s: Math.round(delivered / cpu.cpuSeconds),
    p50_ms: summary.p50_ms,
    p99_ms: summary.p99_ms,
    p999_ms: summary.p999_ms,
    sustained: summary.p99_ms < P99_LIMIT_MS && delivered >= 0.95 * expected,
    publish: {
      sent: published.sent,
      accepted: published.accepted,
      failed: published.failed,
      statuses: published.statuses,
    },
    load_average: load,
  };
  if (withMemory) {
    step.memory = {
      runs: n,
      heap_bytes: Math.round((streaming.heapUsed - idle.heapUsed) / n),
      rss_bytes: Math.round((streaming.vmrss - idle.vmrss) / n),
    };
  }
  return step;
}

/**
 * 6a. Ingest cost (issue 20): server CPU per published event, no receivers, `scale.ingestEvents` events:
 * agentcast one POST per event and streamed NDJSON (200 streams), bare ws one POST per event. The CPU is
 * read from /proc for the server process only, so a slow load generator changes the time, not the figure.
 */
export async function ingestCost({ scope, scale, kind }) {
  const server = await scope.server(kind);
  const publisher = scope.worker('token-publisher');
  const modes = kind === 'agentcast' ? ['post', 'ndjson'] : ['post'];
  const out = { kind };
  for (const mode of modes) {
    // Warm-up: the JIT and the users' logs, then the measured run.
    await publisher.call('ingest', { base: server.base, apiKey: API_KEY, mode, count: 2000 }, 60_000);
    const meter = cpuMeter(server.pid);
    meter.start();
    const r = await publisher.call(
      'ingest',
      { base: server.base, apiKey: API_KEY, mode, count: scale.ingestEvents },
      120_000,
    );
    const cpu = meter.stop();
    out[mode] = {
      events: r.accepted,
      failed: r.failed,
      server_cpu_s: round(cpu.cpuSeconds, 3),
      events_per_cpu_s: Math.round(r.accepted / cpu.cpuSeconds),
      us_per_event: round((cpu.cpuSeconds * 1e6) / r.accepted, 1),
      wall_s: round(r.seconds, 2),
      load_average: loadAverage(),
    };
  }
  return out;
}
