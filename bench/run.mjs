#!/usr/bin/env node
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAll, liveChildren, stopAll } from './lib/children.mjs';
import { Scope } from './lib/load.mjs';
import { machineInfo } from './lib/machine.mjs';
import { loadAverage } from './lib/proc-stats.mjs';
import { Progress } from './lib/progress.mjs';
import { writeReport } from './lib/report.mjs';
import { ROOT, SERVER_KINDS, SERVER_LABELS } from './lib/servers.mjs';
import { catchUp, engineRun, engineSetups, originChecks } from './scenarios/agentcast-only.mjs';
import { COMMON_SCENARIOS } from './scenarios/common.mjs';
import { connectionScale, SCALE_KINDS } from './scenarios/scale.mjs';
import { ingestCost, TOKEN_SETUPS, tokenStream } from './scenarios/token-stream.mjs';

/**
 * `npm run bench`: agentcast, bare ws and Socket.IO 4.8 side by side, in one run, on loopback.
 * Servers and load generators are separate processes (pinned to different CPUs when taskset exists);
 * every scenario has a time limit and every child is killed on exit, error or Ctrl-C. Writes
 * bench/results/<date>.json and regenerates BENCHMARKS.md with its SVG charts (complete full runs, or --report).
 *
 *   node bench/run.mjs [--quick] [--only idle_memory,fanout,latency,storm,origin,engines,catch_up,token_burst,ingest,token_stream,scale]
 *                      [--servers agentcast,agentcast-sse,bare-ws,socketio,nchan,nchan-wspub] [--redis-url redis://127.0.0.1:6379/5]
 *                      [--no-pin] [--report] [--profile]
 */

const SCALES = {
  full: {
    idleConnections: 10_000,
    idleWorkers: 4,
    idleSettleMs: 3000,
    users: 1000,
    clientWorkers: 2,
    warmupMs: 3000,
    fanoutMs: 20_000,
    latencyRate: 5000,
    latencyMs: 15_000,
    stormConnections: 5000,
    stormConcurrency: 200,
    originMs: 3000,
    engineMs: 8000,
    tokenSteps: [100, 200, 400, 800, 1600],
    tokenCompareN: 200,
    tokenWarmupMs: 2000,
    tokenMeasureMs: 5000,
    ingestEvents: 50_000,
    // Capped by the server's descriptor limit (bench/scenarios/scale.mjs): 19,9xx where it is 20,000.
    scaleConnections: 20_000,
    scaleWorkers: 4,
    scaleInFlight: 200,
    scaleSettleMs: 3000,
    scaleConnectTimeoutMs: 150_000,
    scaleDeliveryMs: 30_000,
  },
  quick: {
    idleConnections: 1000,
    idleWorkers: 2,
    idleSettleMs: 1000,
    users: 1000,
    clientWorkers: 2,
    warmupMs: 1000,
    fanoutMs: 5000,
    latencyRate: 5000,
    latencyMs: 5000,
    stormConnections: 1000,
    stormConcurrency: 200,
    originMs: 1000,
    engineMs: 4000,
    tokenSteps: [50, 100, 200, 400],
    tokenCompareN: 100,
    tokenWarmupMs: 1000,
    tokenMeasureMs: 3000,
    ingestEvents: 20_000,
    scaleConnections: 2000,
    scaleWorkers: 4,
    scaleInFlight: 200,
    scaleSettleMs: 1000,
    scaleConnectTimeoutMs: 60_000,
    scaleDeliveryMs: 10_000,
  },
};

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    servers: { type: 'string' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/5' },
    'no-pin': { type: 'boolean', default: false },
    report: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
  },
});

const mode = args.quick ? 'quick' : 'full';
const scale = SCALES[mode];
const only = args.only?.split(',');
const wanted = (id) => only === undefined || only.includes(id);
const kinds = args.servers?.split(',') ?? SERVER_KINDS;

/** Server on CPU 0, load generators on the others: the server's CPU figure then means one core. */
function pinning() {
  if (args['no-pin']) return { serverCpus: undefined, loadCpus: undefined, pinned: false };
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
  } catch {
    return { serverCpus: undefined, loadCpus: undefined, pinned: false };
  }
  const cores = machine.cores;
  if (cores < 2) return { serverCpus: undefined, loadCpus: undefined, pinned: false };
  return { serverCpus: '0', loadCpus: cores === 2 ? '1' : `1-${cores - 1}`, pinned: true };
}

/** Runs `fn` with a fresh Scope and a time limit; a failure or timeout becomes a result, never a hang. */
async function step(label, timeoutMs, fn) {
  progress.begin(label);
  const scope = new Scope(pins);
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`)),
        timeoutMs,
      );
    });
    const result = await Promise.race([fn(scope), timeout]);
    progress.done(summarize(result));
    return result.status === undefined ? { status: 'ok', ...result } : result;
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    progress.done(`FAILED: ${error}`);
    return { status: 'failed', error };
  } finally {
    clearTimeout(timer);
    await scope.close().catch(() => undefined);
  }
}

function summarize(r) {
  if (r.fd_limit !== undefined)
    return `${r.connections.toLocaleString('en-US')} of ${r.target.toLocaleString('en-US')} connected (${r.failed} failed) at ${r.connects_per_s.toLocaleString('en-US')}/s; ${(r.rss_per_conn_bytes / 1024).toFixed(1)} KB RSS per connection; ${r.delivered.toLocaleString('en-US')} delivered, ${r.open_at_end.toLocaleString('en-US')} open at the end`;
  if (r.status === 'pending') return `pending: ${r.reason}`;
  if (r.post?.us_per_event !== undefined)
    return `POST ${r.post.us_per_event} µs per event${r.ndjson ? `, NDJSON ${r.ndjson.us_per_event} µs` : ''} of server CPU`;
  if (r.max_runs_p99_under_100ms !== undefined)
    return `${r.max_runs_p99_under_100ms} runs under 100 ms p99; ${r.events_per_cpu_s?.toLocaleString('en-US') ?? 'n/a'} events per CPU-s at ${r.compare_runs} runs`;
  if (r.rss_per_conn_bytes !== undefined)
    return Number.isFinite(r.heap_per_conn_bytes)
      ? `${(r.rss_per_conn_bytes / 1024).toFixed(1)} KB RSS, ${(r.heap_per_conn_bytes / 1024).toFixed(1)} KB heap per connection`
      : `${(r.rss_per_conn_bytes / 1024).toFixed(1)} KB RSS per connection`;
  if (r.p99_ms !== undefined)
    return `p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, p99.9 ${r.p999_ms} ms${waitedForCpu(r)}`;
  if (r.delivered_per_s !== undefined)
    return `${r.delivered_per_s.toLocaleString('en-US')} ev/s at ${r.server_cpu_cores} cores`;
  if (r.connects_per_s !== undefined)
    return `${r.connects_per_s.toLocaleString('en-US')} connects/s (${r.failed} failed)`;
  if (r.checksPerSecond !== undefined)
    return `${Math.round(r.checksPerSecond).toLocaleString('en-US')} checks/s`;
  if (r.bytes_ratio !== undefined)
    return `catch-up ${r.catch_up.frames} frames, ${r.catch_up.bytes.toLocaleString('en-US')} B vs replay ${r.replay.frames} frames, ${r.replay.bytes.toLocaleString('en-US')} B`;
  if (r.throughput !== undefined)
    return `${r.throughput.delivered_per_s.toLocaleString('en-US')} ev/s, p99 ${r.latency.p99_ms} ms${waitedForCpu(r.latency)}`;
  return 'done';
}

/** ", waited for CPU: server 12 %, load 3 %" for a latency result that measured it (measure.mjs). */
function waitedForCpu(r) {
  if (r.server_cpu_wait === undefined) return '';
  const pct = (x) => `${Math.round(x * 100)} %`;
  return `; waited for CPU: server ${pct(r.server_cpu_wait)}, load ${pct(r.load_cpu_wait)}`;
}

function stepTimeout(id) {
  const s = scale;
  const slack = 60_000;
  switch (id) {
    case 'idle_memory':
      return 90_000 + s.idleSettleMs;
    case 'fanout':
      return 2 * (s.warmupMs + s.fanoutMs) + slack;
    case 'latency':
      return 2 * (s.warmupMs + s.latencyMs) + slack;
    case 'storm':
      return 90_000;
    case 'scale':
      return s.scaleConnectTimeoutMs + s.scaleSettleMs + s.scaleDeliveryMs + slack;
    default:
      return 4 * (s.warmupMs + s.engineMs) + slack;
  }
}

// Every child dies with the orchestrator, whatever the way out.
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping ${liveChildren()} child processes\n`);
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`\nbench crashed: ${err.stack ?? err}\n`);
  killAll();
  process.exit(1);
});

if (!existsSync(`${ROOT}packages/server/dist/cli.js`)) {
  process.stderr.write('packages/server/dist/cli.js is missing: run "npm run build" first\n');
  process.exit(2);
}

const machine = machineInfo(ROOT);
const pins = pinning();
const PROFILE_DIR = '/tmp/agentcast-bench-profiles';
if (args.profile) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  pins.profileDir = PROFILE_DIR;
}
const commons = COMMON_SCENARIOS.filter((s) => wanted(s.id));
const setups = wanted('engines') ? engineSetups(args['redis-url']) : [];
const tokenSetups = wanted('token_stream') ? TOKEN_SETUPS.filter((t) => kinds.includes(t.kind)) : [];
const scaleKinds = wanted('scale') ? SCALE_KINDS.filter((k) => kinds.includes(k)) : [];
const ingestKinds = wanted('ingest') ? ['agentcast', 'bare-ws'].filter((k) => kinds.includes(k)) : [];
const total =
  commons.length * kinds.length +
  scaleKinds.length +
  (wanted('origin') ? 1 : 0) +
  (wanted('catch_up') ? 1 : 0) +
  setups.length +
  tokenSetups.length +
  ingestKinds.length;
const progress = new Progress(total);
const startedAt = new Date();
process.stderr.write(
  `agentcast bench (${mode}): ${machine.cpu_model}, ${machine.cores} cores, Node ${machine.node}, load ${loadAverage()}; ` +
    `${pins.pinned ? `servers on CPU ${pins.serverCpus}, load on CPU ${pins.loadCpus}` : 'no CPU pinning'}\n`,
);

const results = {
  schema: 1,
  mode,
  started_at: startedAt.toISOString(),
  machine,
  settings: { scale, pinning: pins, servers: kinds, redis_url: args['redis-url'] },
  scenarios: {},
  agentcast_only: {},
};

for (const scenario of commons) {
  results.scenarios[scenario.id] = {};
  for (const kind of kinds) {
    results.scenarios[scenario.id][kind] = await step(
      `${scenario.title} · ${SERVER_LABELS[kind]}`,
      stepTimeout(scenario.id),
      (scope) => scenario.run({ scope, kind, scale, progress }),
    );
  }
}
if (scaleKinds.length > 0) {
  results.scenarios.scale = {};
  for (const kind of scaleKinds) {
    results.scenarios.scale[kind] = await step(
      `Connection scale · ${SERVER_LABELS[kind]}`,
      stepTimeout('scale'),
      (scope) => connectionScale({ scope, kind, scale, progress }),
    );
  }
}
if (wanted('origin')) {
  results.agentcast_only.origin_checks = await step(
    'Origin checks · agentcast',
    scale.originMs + 60_000,
    (scope) => originChecks({ scope, scale }),
  );
}
if (wanted('catch_up')) {
  results.agentcast_only.catch_up = await step('Catch-up vs replay · agentcast', 120_000, (scope) =>
    catchUp({ scope }),
  );
}
if (setups.length > 0) {
  results.agentcast_only.engines = {};
  for (const setup of setups) {
    results.agentcast_only.engines[setup.id] = {
      label: setup.label,
      ...(await step(`Engines · ${setup.label}`, stepTimeout('engines'), (scope) =>
        engineRun({ scope, scale, progress, setup }),
      )),
    };
  }
}
if (ingestKinds.length > 0) {
  results.agentcast_only.ingest = {};
  for (const kind of ingestKinds) {
    results.agentcast_only.ingest[kind] = await step(
      `Ingest cost · ${SERVER_LABELS[kind]}`,
      300_000,
      (scope) => ingestCost({ scope, scale, kind }),
    );
  }
}
if (tokenSetups.length > 0) {
  results.agentcast_only.token_stream = {};
  const s = scale;
  const perStep = s.tokenWarmupMs + s.tokenMeasureMs + 1500 + 15_000;
  for (const setup of tokenSetups) {
    results.agentcast_only.token_stream[setup.id] = {
      label: setup.label,
      ...(await step(`Token streaming · ${setup.label}`, s.tokenSteps.length * perStep + 60_000, (scope) =>
        tokenStream({ scope, scale, progress, setup }),
      )),
    };
  }
}
results.finished_at = new Date().toISOString();
results.machine.load_average_at_end = loadAverage();
await stopAll();

mkdirSync(`${ROOT}bench/results`, { recursive: true });
const date = startedAt.toISOString().slice(0, 10);
const partial = only !== undefined || args.servers !== undefined;
const jsonPath = `${ROOT}bench/results/${date}${mode === 'quick' ? '-quick' : ''}${partial ? '-partial' : ''}.json`;
writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
process.stderr.write(`results: ${jsonPath.slice(ROOT.length)}\n`);
// Only a complete full run replaces BENCHMARKS.md by default; a partial or quick run needs --report.
if ((mode === 'full' && !partial) || args.report) {
  const written = writeReport(results, { root: ROOT, jsonPath });
  process.stderr.write(`report: ${written.join(', ')}\n`);
}
process.exit(0);
