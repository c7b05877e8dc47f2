import { writeFileSync } from 'node:fs';
import { analysis } from './analysis.mjs';
import { AGENTCAST_BENCH_FLAGS, SERVER_KINDS, SERVER_LABELS } from './servers.mjs';
import { barChart, PALETTE, percentileChart } from './svg.mjs';

/**
 * BENCHMARKS.md and its SVG charts, regenerated from one results JSON (bench/run.mjs, or
 * `node bench/report.mjs bench/results/<date>.json`). Every figure in the page comes from that file.
 */

const COLORS = {
  agentcast: PALETTE[0],
  'agentcast-sse': PALETTE[3],
  'bare-ws': PALETTE[1],
  socketio: PALETTE[2],
  nchan: PALETTE[4],
  'nchan-wspub': PALETTE[5],
};

/** The ok result of a scenario for a server, or undefined. */
export function ok(results, scenario, kind) {
  const r = results.scenarios?.[scenario]?.[kind];
  return r?.status === 'ok' ? r : undefined;
}

const int = (v) =>
  v === undefined || v === null || !Number.isFinite(v) ? 'n/a' : Math.round(v).toLocaleString('en-US');
const kb = (bytes) => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : 'n/a');
const ms = (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : 'n/a');
/** Share of a latency window the server's and the load's event loops waited for a CPU (measure.mjs). */
const waited = (r) => `${pct(r.server_cpu_wait)} / ${pct(r.load_cpu_wait)}`;
const pct = (cores) => (Number.isFinite(cores) ? `${Math.round(cores * 100)} %` : 'n/a');

function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : undefined;
}

const fmtRatio = (x) => (x === undefined ? 'n/a' : `${x.toFixed(2)}x`);

/** The catch-up result when it ran (section 6). */
function catchUpOk(results) {
  const r = results.agentcast_only?.catch_up;
  return r?.status === 'ok' ? r : undefined;
}

/** A token-streaming setup's result when it ran (section 7). */
function tokenOk(results, id) {
  const r = results.agentcast_only?.token_stream?.[id];
  return r?.status === 'ok' ? r : undefined;
}

/** The ingest-cost result of a server when it ran (section 7). */
function ingestOk(results, kind) {
  const r = results.agentcast_only?.ingest?.[kind];
  return r?.status === 'ok' ? r : undefined;
}

/** An engine setup's fan-out events per server CPU-second (section 6). */
function enginePerCpu(results, id) {
  const e = results.agentcast_only?.engines?.[id];
  return e?.status === 'ok' ? e.throughput.delivered_per_s / e.throughput.server_cpu_cores : undefined;
}

/** The targets, as ratios of agentcast to the baselines measured in the same run. */
export function evaluateTargets(results) {
  const a = (s) => ok(results, s, 'agentcast');
  const b = (s) => ok(results, s, 'bare-ws');
  const s = (s0) => ok(results, s0, 'socketio');
  const sse = (s0) => ok(results, s0, 'agentcast-sse');
  const rows = [
    [
      'Idle RSS per connection vs bare ws',
      ratio(a('idle_memory')?.rss_per_conn_bytes, b('idle_memory')?.rss_per_conn_bytes),
      '<=',
      1.5,
    ],
    [
      'Idle RSS per connection vs Socket.IO',
      ratio(a('idle_memory')?.rss_per_conn_bytes, s('idle_memory')?.rss_per_conn_bytes),
      '<=',
      0.7,
    ],
    [
      'Idle heap per connection vs bare ws',
      ratio(a('idle_memory')?.heap_per_conn_bytes, b('idle_memory')?.heap_per_conn_bytes),
      '<=',
      1.5,
    ],
    [
      'Idle heap per connection vs Socket.IO',
      ratio(a('idle_memory')?.heap_per_conn_bytes, s('idle_memory')?.heap_per_conn_bytes),
      '<=',
      0.7,
    ],
    [
      'Fan-out events/s vs bare ws',
      ratio(a('fanout')?.delivered_per_s, b('fanout')?.delivered_per_s),
      '>=',
      0.8,
    ],
    [
      'Fan-out events/s vs Socket.IO',
      ratio(a('fanout')?.delivered_per_s, s('fanout')?.delivered_per_s),
      '>=',
      1.5,
    ],
    // The same throughput targets per CPU-second of the server: robust when the load side, not the server, set the pace.
    [
      'Fan-out events per server CPU-second vs bare ws',
      ratio(a('fanout')?.delivered_per_cpu_s, b('fanout')?.delivered_per_cpu_s),
      '>=',
      0.8,
    ],
    [
      'Fan-out events per server CPU-second vs Socket.IO',
      ratio(a('fanout')?.delivered_per_cpu_s, s('fanout')?.delivered_per_cpu_s),
      '>=',
      1.5,
    ],
    ['p99 latency at the fixed rate vs bare ws', ratio(a('latency')?.p99_ms, b('latency')?.p99_ms), '<=', 2],
    // docs/protocol.md F: a tab joining a long run gets its snapshot, not a replay of every token.
    [
      'Catch-up bytes vs a replay of the same run (5,000 tokens)',
      catchUpOk(results)?.bytes_ratio,
      '<=',
      0.25,
    ],
    // Issue 16: Server-Sent Events against agentcast's own WebSocket, same server, same run.
    [
      'Idle heap per SSE stream vs per agentcast WebSocket',
      ratio(sse('idle_memory')?.heap_per_conn_bytes, a('idle_memory')?.heap_per_conn_bytes),
      '<=',
      1,
    ],
    [
      'Fan-out events per server CPU-second, SSE vs agentcast WebSocket',
      ratio(sse('fanout')?.delivered_per_cpu_s, a('fanout')?.delivered_per_cpu_s),
      '>=',
      0.8,
    ],
    // Issue 20: token traffic. Each ratio compares setups of the token-streaming scenario (section 7) at the
    // same number of runs, or engines of section 6, measured in the same run.
    [
      'Ingest: streamed NDJSON vs one POST per event, events per server CPU-second (issue 20)',
      ratio(
        ingestOk(results, 'agentcast')?.ndjson?.events_per_cpu_s,
        ingestOk(results, 'agentcast')?.post?.events_per_cpu_s,
      ) ??
        ratio(
          tokenOk(results, 'agentcast_ndjson')?.events_per_cpu_s,
          tokenOk(results, 'agentcast_post')?.events_per_cpu_s,
        ),
      '>=',
      3,
    ],
    [
      'Ingest: one POST per event, events per server CPU-second vs bare ws (issue 20)',
      ratio(
        ingestOk(results, 'agentcast')?.post?.events_per_cpu_s,
        ingestOk(results, 'bare-ws')?.post?.events_per_cpu_s,
      ) ??
        ratio(
          tokenOk(results, 'agentcast_post')?.events_per_cpu_s,
          tokenOk(results, 'bare_ws_post')?.events_per_cpu_s,
        ),
      '>=',
      0.9,
    ],
    [
      'Idle heap per connection vs bare ws (issue 20)',
      ratio(a('idle_memory')?.heap_per_conn_bytes, b('idle_memory')?.heap_per_conn_bytes),
      '<=',
      1.3,
    ],
    [
      'Redis engine (1 node) fan-out per server CPU-second vs memory engine (issue 20)',
      ratio(enginePerCpu(results, 'redis_1'), enginePerCpu(results, 'memory')),
      '>=',
      0.8,
    ],
    [
      'Token burst, events per server CPU-second vs bare ws (issue 20)',
      ratio(a('token_burst')?.delivered_per_cpu_s, b('token_burst')?.delivered_per_cpu_s),
      '>=',
      1.5,
    ],
  ];
  return rows.map(([name, value, op, target]) => ({
    name,
    value,
    op,
    target,
    met: value === undefined ? undefined : op === '<=' ? value <= target : value >= target,
  }));
}

/** agentcast against each nchan variant measured: RSS per idle connection, events per server CPU-second, p99. */
function nchanComparison(results) {
  const a = (s) => ok(results, s, 'agentcast');
  const rows = [];
  for (const kind of ['nchan', 'nchan-wspub']) {
    const n = (s) => ok(results, s, kind);
    if (['idle_memory', 'fanout', 'latency'].every((s) => n(s) === undefined)) continue;
    const label = SERVER_LABELS[kind];
    rows.push(
      [
        `${label}: idle RSS per connection`,
        fmtRatio(ratio(a('idle_memory')?.rss_per_conn_bytes, n('idle_memory')?.rss_per_conn_bytes)),
      ],
      [
        `${label}: fan-out events per server CPU-second`,
        fmtRatio(ratio(a('fanout')?.delivered_per_cpu_s, n('fanout')?.delivered_per_cpu_s)),
      ],
      [
        `${label}: p99 latency at the fixed rate`,
        fmtRatio(ratio(a('latency')?.p99_ms, n('latency')?.p99_ms)),
      ],
    );
  }
  return rows;
}

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function failures(results, scenario) {
  return SERVER_KINDS.map((k) => [k, results.scenarios?.[scenario]?.[k]])
    .filter(([, r]) => r !== undefined && r.status !== 'ok')
    .map(([k, r]) => `\n> ${SERVER_LABELS[k]}: **${r.status}**: ${r.error ?? r.reason}`)
    .join('');
}

/** A row per server with `cells(result)` and the ratio of `metric` to bare ws and to Socket.IO. */
function scenarioRows(results, scenario, cells, metric) {
  const base = ok(results, scenario, 'bare-ws');
  const sio = ok(results, scenario, 'socketio');
  return SERVER_KINDS.filter((k) => results.scenarios?.[scenario]?.[k] !== undefined).map((k) => {
    const r = ok(results, scenario, k);
    if (r === undefined) return [SERVER_LABELS[k], ...cells(undefined).map(() => 'failed'), 'n/a', 'n/a'];
    return [
      k === 'agentcast' ? `**${SERVER_LABELS[k]}**` : SERVER_LABELS[k],
      ...cells(r),
      fmtRatio(ratio(metric(r), base && metric(base))),
      fmtRatio(ratio(metric(r), sio && metric(sio))),
    ];
  });
}

function charts(results) {
  const kinds = SERVER_KINDS.filter((k) => results.settings.servers.includes(k));
  const series = (scenario, metric, scale = 1) =>
    kinds.map((k) => {
      const r = ok(results, scenario, k);
      return {
        name: SERVER_LABELS[k],
        color: COLORS[k],
        values: [r === undefined ? null : metric(r) / scale],
      };
    });
  const flat = (scenario, metric) => {
    const s = series(scenario, metric);
    return { categories: s.map((x) => x.name), series: [{ name: '', values: s.map((x) => x.values[0]) }] };
  };
  const out = {};
  out['memory.svg'] = barChart({
    title: 'Idle memory per authenticated connection (lower is better)',
    subtitle: `${int(ok(results, 'idle_memory', 'agentcast')?.connections)} idle connections, after a full GC`,
    unit: 'KB per connection',
    categories: ['RSS', 'JS heap'],
    series: kinds.map((k) => {
      const r = ok(results, 'idle_memory', k);
      return {
        name: SERVER_LABELS[k],
        color: COLORS[k],
        values: r ? [r.rss_per_conn_bytes / 1024, r.heap_per_conn_bytes / 1024] : [null, null],
      };
    }),
    format: (v) => v.toFixed(1),
  });
  out['throughput.svg'] = barChart({
    title: 'Fan-out throughput (higher is better)',
    subtitle: `${results.settings.scale.users} users x 1 connection, ~200-byte events, counted at the receivers`,
    unit: 'events delivered per second',
    ...flat('fanout', (r) => r.delivered_per_s),
    format: (v) => int(v),
  });
  out['latency.svg'] = percentileChart({
    title: `Publish -> receive latency at ${int(results.settings.scale.latencyRate)} events/s (lower is better)`,
    subtitle: `${results.settings.scale.users} connections, one histogram per server (HdrHistogram), log scale`,
    series: kinds
      .map((k) => ({ k, r: ok(results, 'latency', k) }))
      .filter(({ r }) => r !== undefined)
      .map(({ k, r }) => ({ name: SERVER_LABELS[k], color: COLORS[k], points: r.curve })),
  });
  out['storm.svg'] = barChart({
    title: 'Connection storm: JWT-verified connects per second (higher is better)',
    subtitle: `${int(results.settings.scale.stormConnections)} connects, ${results.settings.scale.stormConcurrency} in flight`,
    unit: 'connects per second',
    ...flat('storm', (r) => r.connects_per_s),
    format: (v) => int(v),
  });
  const engines = results.agentcast_only?.engines;
  if (engines !== undefined) {
    const rows = Object.values(engines);
    out['engines.svg'] = barChart({
      title: 'agentcast engines: fan-out throughput (higher is better)',
      subtitle: 'publishes to node A; with two nodes the receivers are split over A and B',
      unit: 'events delivered per second',
      categories: rows.map((r) => r.label),
      series: [
        { name: '', values: rows.map((r) => (r.status === 'ok' ? r.throughput.delivered_per_s : null)) },
      ],
      format: (v) => int(v),
    });
  }
  return out;
}

function markdown(results, jsonName) {
  const m = results.machine;
  const sc = results.settings.scale;
  const pins = results.settings.pinning;
  const targets = evaluateTargets(results);
  const lines = [];
  lines.push('# Benchmarks: agentcast vs bare `ws` vs Socket.IO');
  lines.push('');
  lines.push(
    `Generated by \`npm run bench\` (bench/run.mjs) from [\`bench/results/${jsonName}\`](bench/results/${jsonName}); do not edit by hand, re-run the bench. ` +
      `Run ${results.mode === 'quick' ? '**in quick mode (small sizes, short windows: indicative only)**' : 'at full size'}, ${results.started_at.slice(0, 16).replace('T', ' ')} UTC, agentcast commit \`${m.agentcast_commit}\`.`,
  );
  lines.push('');
  lines.push(
    table(
      ['machine', ''],
      [
        ['CPU', `${m.cpu_model}, ${m.cores} cores`],
        ['memory', `${m.memory_gb} GB`],
        ['OS / Node', `${m.os} / ${m.node}`],
        ['libraries', `ws ${m.versions.ws}, socket.io ${m.versions['socket.io']}, jose ${m.versions.jose}`],
        [
          'CPU pinning',
          pins.pinned
            ? `server under test on CPU ${pins.serverCpus}, load generators on CPU ${pins.loadCpus} (taskset)`
            : 'none',
        ],
        ['load average (1 min) at start / end', `${m.load_average_at_start[0]} / ${m.load_average_at_end}`],
      ],
    ),
  );
  lines.push('');
  lines.push(
    'Every server runs as its own process on 127.0.0.1, a fresh process for every scenario (the Node ones started the same way, ' +
      '`node --expose-gc --require bench/lib/mem-probe.cjs`). The load generators are other processes: 2–4 client workers speaking the same minimal ' +
      'WebSocket client to every server (bench/load/raw-ws-client.mjs) and one publisher posting the same ' +
      '`POST /v1/publish` `{"events":[…]}` body to the Node servers (nchan: below). Every Node server verifies an HS256 JWT (jose) for every connection. ' +
      'What each server does: **agentcast** `packages/server/dist/cli.js serve` with the memory engine (seq per user, history ring, resume, limits, metrics, zod validation); ' +
      '**bare ws** (bench/servers/bare-ws.mjs) a Map user -> sockets, one `JSON.stringify` per event, nothing else; ' +
      '**Socket.IO 4.8** (bench/servers/socketio.mjs) WebSocket transport only, one room per user, `io.to(user).emit()`; ' +
      '**agentcast (SSE)**, when measured, the same agentcast server with its clients on Server-Sent Events (`GET /v1/events`, read as raw bytes by bench/load/clients.mjs); ' +
      "**nginx + nchan**, when Debian's `libnginx-mod-nchan` is installed (bench/lib/nchan.mjs), nginx in one process (no master, one worker) with nchan: " +
      'subscribers on `/sub/<user>` WebSockets (no authentication: it does less than the others), each channel keeping its last 100 messages, and the same ' +
      'events published either with one `POST /pub/<user>` each (nchan publishes one message per request) or, as **(WebSocket publisher)**, ' +
      'over one publishing WebSocket per user. nginx has no JavaScript heap: its heap figures are n/a and its RSS is the comparison.',
  );
  lines.push('');
  lines.push(
    `On a 2-core machine the load generators and the kernel's loopback work compete with the server, so the absolute figures are ` +
      'lower than a dedicated load box would show; the ratios, measured in the same run under the same conditions, are the point. ' +
      'A load average well above the core count means other work shared the machine: treat such a run as noisy.',
  );
  lines.push('');
  lines.push('## Targets');
  lines.push('');
  lines.push(
    table(
      ['target (agentcast as a ratio)', 'measured', 'target', 'met'],
      targets.map((t) => [
        t.name,
        fmtRatio(t.value),
        `${t.op} ${t.target}x`,
        t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**',
      ]),
    ),
  );
  const vsNchan = nchanComparison(results);
  if (vsNchan.length > 0) {
    lines.push('');
    lines.push(
      'Against nginx + nchan, the C pub/sub a team might pick instead (no target: agentcast also authenticates, validates, ' +
        'keeps per-user order and resumes; the ratios say what that costs):',
    );
    lines.push('');
    lines.push(table(['agentcast as a ratio of', 'measured'], vsNchan));
  }
  lines.push('');
  lines.push('## 1. Idle memory');
  lines.push('');
  lines.push(
    `${int(sc.idleConnections)} authenticated idle connections (one user each) from ${sc.idleWorkers} client processes. ` +
      'Per connection = (after − before) / open connections, where both are read after a full GC: RSS from /proc/<pid>/status (VmRSS), heap from `process.memoryUsage().heapUsed`.',
  );
  lines.push('');
  lines.push(
    table(
      [
        'server',
        'connections',
        'RSS / conn (KB)',
        'heap / conn (KB)',
        'external / conn (KB)',
        'RSS vs bare ws',
        'RSS vs Socket.IO',
      ],
      scenarioRows(
        results,
        'idle_memory',
        (r) =>
          r
            ? [
                int(r.connections),
                kb(r.rss_per_conn_bytes),
                kb(r.heap_per_conn_bytes),
                kb(r.external_per_conn_bytes),
              ]
            : [0, 0, 0, 0],
        (r) => r.rss_per_conn_bytes,
      ),
    ) + failures(results, 'idle_memory'),
  );
  lines.push('');
  lines.push('![idle memory](bench/results/memory.svg)');
  lines.push('');
  lines.push('## 2. Fan-out throughput');
  lines.push('');
  lines.push(
    `${sc.users} users x 1 connection; the publisher keeps 16 requests of 100 events in flight (so the server always has work queued), back to back, for ${sc.warmupMs / 1000} s of warm-up and ${sc.fanoutMs / 1000} s measured. ` +
      "Events are ~200 bytes on the wire, users round-robin. Delivered events are counted at the receivers; CPU is the server process's utime+stime over the window (/proc/<pid>/stat). " +
      '"per CPU-second" divides by that CPU, which removes most of the noise of a shared machine.',
  );
  lines.push('');
  lines.push(
    table(
      [
        'server',
        'delivered events/s',
        'server CPU',
        'events per CPU-second',
        'delivered / published',
        'vs bare ws',
        'vs Socket.IO',
      ],
      scenarioRows(
        results,
        'fanout',
        (r) =>
          r
            ? [
                int(r.delivered_per_s),
                pct(r.server_cpu_cores),
                int(r.delivered_per_cpu_s),
                `${int(r.delivered_total)} / ${int(r.published_total)}`,
              ]
            : [0, 0, 0, 0],
        (r) => r.delivered_per_s,
      ),
    ) + failures(results, 'fanout'),
  );
  lines.push('');
  lines.push('![fan-out throughput](bench/results/throughput.svg)');
  lines.push('');
  lines.push('## 3. Latency at a fixed rate');
  lines.push('');
  lines.push(
    `${sc.users} connections; the publisher sends ${int(sc.latencyRate)} events/s (a batch every 5 ms) for ${sc.warmupMs / 1000} s of warm-up, then ${sc.latencyMs / 1000} s measured. ` +
      'Each event carries the CLOCK_MONOTONIC time at which its batch was built, so HTTP, queueing and delivery all count; HdrHistogram, 3 significant digits. ' +
      '"Waited for CPU" is the share of the measured window the event loop of the server (and of the busiest load process: publisher or receivers) was ready to run but another process held the CPU (/proc/<pid>/schedstat): ' +
      'an event published then waits with it whatever the server, so a row with more than a few % there measured the machine, not the server; compare its p99 only with rows that waited as little.',
  );
  lines.push('');
  lines.push(
    table(
      [
        'server',
        'events',
        'p50 (ms)',
        'p99 (ms)',
        'p99.9 (ms)',
        'max (ms)',
        'server CPU',
        'waited for CPU: server / load',
        'p99 vs bare ws',
        'p99 vs Socket.IO',
      ],
      scenarioRows(
        results,
        'latency',
        (r) =>
          r
            ? [
                int(r.count),
                ms(r.p50_ms),
                ms(r.p99_ms),
                ms(r.p999_ms),
                ms(r.max_ms),
                pct(r.server_cpu_cores),
                waited(r),
              ]
            : [0, 0, 0, 0, 0, 0, 0],
        (r) => r.p99_ms,
      ),
    ) + failures(results, 'latency'),
  );
  lines.push('');
  lines.push('![latency distribution](bench/results/latency.svg)');
  lines.push('');
  lines.push('## 4. Connection storm');
  lines.push('');
  lines.push(
    `${int(sc.stormConnections)} connections opened as fast as the server completes them (${sc.stormConcurrency} in flight from each of ${sc.clientWorkers} processes), each with a JWT the server verifies; ` +
      'a connect counts when the first application message arrives (welcome / Socket.IO CONNECT).',
  );
  lines.push('');
  lines.push(
    table(
      ['server', 'connected', 'failed', 'seconds', 'connects/s', 'server CPU', 'vs bare ws', 'vs Socket.IO'],
      scenarioRows(
        results,
        'storm',
        (r) =>
          r
            ? [
                int(r.connections),
                int(r.failed),
                r.seconds.toFixed(2),
                int(r.connects_per_s),
                pct(r.server_cpu_cores),
              ]
            : [0, 0, 0, 0, 0],
        (r) => r.connects_per_s,
      ),
    ) + failures(results, 'storm'),
  );
  lines.push('');
  lines.push('![connection storm](bench/results/storm.svg)');
  lines.push('');
  lines.push(...scaleSection(results));
  lines.push('## 6. agentcast only');
  lines.push('');
  const origin = results.agentcast_only?.origin_checks;
  if (origin !== undefined) {
    lines.push(
      origin.status === 'ok'
        ? `**Origin checks**: \`OriginPolicy.check\` (packages/server/dist/security/origin-policy.js), production policy with an exact and a wildcard entry, a mix of ${origin.mix.length} headers (allowed, hostile look-alikes, malformed, absent): ` +
            `**${int(origin.checksPerSecond)} checks/s** on one core (${int(origin.checks)} checks in ${origin.seconds.toFixed(2)} s), i.e. ${(1e6 / origin.checksPerSecond).toFixed(2)} µs per upgrade or browser request.`
        : `**Origin checks**: ${origin.status}: ${origin.error}`,
    );
    lines.push('');
  }
  const catchUp = results.agentcast_only?.catch_up;
  if (catchUp !== undefined) {
    lines.push(
      catchUp.status === 'ok'
        ? `**Catch-up** (docs/protocol.md F): a backend has published a run of ${int(catchUp.tokens)} \`stream_chunk\` tokens of a few characters each; then a tab joins it, once replaying the run from history (\`?since=0\`, with \`--history-size\` large enough to hold it) and once with \`?catch_up=snapshot\`. Counted: what the tab receives before the live tail, and the time from opening the socket until it has it (one tab at a time, client in the orchestrator process).`
        : `**Catch-up**: ${catchUp.status}: ${catchUp.error ?? catchUp.reason}`,
    );
    lines.push('');
    if (catchUp.status === 'ok') {
      lines.push(
        table(
          ['join', 'frames before the live tail', 'bytes', 'time (ms)', 'bytes vs replay'],
          [
            [
              'replay from history',
              int(catchUp.replay.frames),
              int(catchUp.replay.bytes),
              ms(catchUp.replay.ms),
              '1.00x',
            ],
            [
              'catch-up (welcome + run_snapshot)',
              int(catchUp.catch_up.frames),
              int(catchUp.catch_up.bytes),
              ms(catchUp.catch_up.ms),
              fmtRatio(catchUp.bytes_ratio),
            ],
          ],
        ),
      );
      lines.push('');
    }
  }
  const engines = results.agentcast_only?.engines;
  if (engines !== undefined) {
    lines.push(
      `**Engines**: the same fan-out (${sc.engineMs / 1000} s measured) and fixed-rate latency (${int(sc.latencyRate)} events/s) runs, with ${sc.users} connections, against the memory engine, ` +
        'the Redis engine on one node, and two nodes sharing one Redis (all publishes go to node A; connections alternate between A and B, so half the events cross Redis pub/sub to B). ' +
        `Redis is the local Redis 7 (db from \`${results.settings.redis_url}\`, flushed before each run). Server CPU is the sum over the nodes.`,
    );
    lines.push('');
    const memory = engines.memory?.status === 'ok' ? engines.memory : undefined;
    lines.push(
      table(
        [
          'setup',
          'delivered events/s',
          'server CPU',
          'vs memory engine',
          'p50 (ms)',
          'p99 (ms)',
          'p99.9 (ms)',
          'waited for CPU: server / load',
        ],
        Object.values(engines).map((e) =>
          e.status === 'ok'
            ? [
                e.label,
                int(e.throughput.delivered_per_s),
                pct(e.throughput.server_cpu_cores),
                fmtRatio(ratio(e.throughput.delivered_per_s, memory?.throughput.delivered_per_s)),
                ms(e.latency.p50_ms),
                ms(e.latency.p99_ms),
                ms(e.latency.p999_ms),
                waited(e.latency),
              ]
            : [e.label, `**${e.status}**: ${e.error ?? e.reason}`, '', '', '', '', '', ''],
        ),
      ),
    );
    lines.push('');
    lines.push('![engines](bench/results/engines.svg)');
    lines.push('');
  }
  lines.push(...tokenSection(results));
  lines.push(analysis(results, { ok, ratio, evaluateTargets }));
  lines.push('');
  lines.push('## Reproduce');
  lines.push('');
  lines.push('```sh');
  lines.push('npm run build');
  lines.push('npm run bench            # full run, about 16 minutes on 2 cores; rewrites this file');
  lines.push('npm run bench:quick      # small sizes, 5 s windows: for working on the harness');
  lines.push(
    'npm run bench:redis      # only the engine comparison (needs Redis at 127.0.0.1:6379; uses db 5)',
  );
  lines.push('node bench/report.mjs bench/results/<date>.json   # rebuild this page from a results file');
  lines.push('```');
  lines.push('');
  lines.push(
    'Options of `node bench/run.mjs`: `--quick`, `--only idle_memory,fanout,latency,storm,origin,engines,catch_up,token_burst,ingest,token_stream,scale`, `--servers agentcast,agentcast-sse,bare-ws,socketio,nchan,nchan-wspub`, ' +
      '`--redis-url redis://127.0.0.1:6379/5`, `--no-pin`, `--report` (write this page after a quick run), `--profile` (CPU profiles of every server into /tmp/agentcast-bench-profiles/<server>/, read them with `node bench/profile-summary.mjs <file>`).',
  );
  lines.push('');
  return lines.join('\n');
}

/**
 * Section 5, connection scale (issue 20): as many idle connections as one server process can hold, with the
 * reason the count is what it is (the process's descriptor limit) spelled out from the results.
 */
function scaleSection(results) {
  const all = results.scenarios?.scale;
  if (all === undefined) return [];
  const sc = results.settings.scale;
  const done = Object.values(all).filter((r) => r.status === 'ok');
  const a = done.find((r) => r.agentcast_flags !== undefined) ?? done[0];
  const lines = ['## 5. Connection scale', ''];
  const bound = a !== undefined && a.target < sc.scaleConnections;
  lines.push(
    `As many authenticated idle connections (one user each) as one server process can hold, each server a fresh process, opened from ${sc.scaleWorkers} client processes ` +
      `(each from its own loopback address, with its own descriptor limit) with ${sc.scaleInFlight} handshakes in flight in total (${Math.ceil(sc.scaleInFlight / sc.scaleWorkers)} from each); ` +
      'a connect counts when the first application message arrives, as in the storm. ' +
      "The client processes share the load generators' CPU: where the server CPU stays well below one core, the connect rate is what the clients managed, not the server's ceiling (section 4 measures that). " +
      'Memory per connection is (after − before) / open connections, both read after a full GC, as in section 1. ' +
      `Then one \`stream_chunk\` is published to every user (\`POST /v1/publish\`, 500 events a request) and the deliveries are counted at the receivers (${sc.scaleDeliveryMs / 1000} s at most): ` +
      'each user has one connection, so "delivered" is the number of connections still alive and served at the end, ' +
      '"all delivered in" the time from the first publish request to the last delivery (a fan-out to as many users as connections, each user\'s first event).',
  );
  lines.push('');
  if (a !== undefined) {
    const hard =
      a.fd_limit_hard === a.fd_limit ? '; soft and hard limit alike, so the process cannot raise it' : '';
    lines.push(
      bound
        ? `**Why ${int(a.target)} and not ${int(sc.scaleConnections)}**: every TCP connection is one file descriptor of the server process, and the process may hold ${int(a.fd_limit)} ` +
            `("Max open files" in /proc/<pid>/limits${hard}). Each server's count is that limit minus the descriptors it already holds when it has started ` +
            `(${[...new Set(done.map((r) => int(r.fds_at_start)))].join(' or ')}: stdio, the IPC channel to the bench, the listening socket, and Node's own epoll, eventfd and pipe descriptors) ` +
            `minus a margin of ${a.fd_margin} (the publisher's connection, anything the server opens later). The "server fds" column is what the server held with every connection open. ` +
            "At the limit itself a server can accept nothing more, not even the backend's publish request, hence the margin. " +
            'A node meant for more connections raises its `ulimit -n` (deploy/systemd/agentcast.service sets LimitNOFILE=65536; docs/security.md: keep it above `--max-connections` + `--max-http-sockets` + about 100).'
        : `${int(sc.scaleConnections)} connections, below the server's descriptor limit of ${int(a.fd_limit)}.`,
    );
    lines.push('');
  }
  if (a?.agentcast_flags !== undefined) {
    lines.push(
      `agentcast runs with the flags of the other scenarios (bench/lib/servers.mjs: \`${AGENTCAST_BENCH_FLAGS.join(' ')}\`), then its own caps raised above what the descriptor limit allows, ` +
        `so that the process limit, not a flag, is what the scenario meets: \`${a.agentcast_flags}\` ` +
        '(an SSE stream is a plain HTTP socket to the gateway, so the HTTP socket caps bound SSE streams as --max-connections bounds WebSockets).',
    );
    lines.push('');
  }
  lines.push(
    table(
      [
        'server',
        'connected / target',
        'failed',
        'seconds',
        'connects/s',
        'server CPU',
        'server fds',
        'RSS / conn (KB)',
        'heap / conn (KB)',
        'RSS total (MB)',
        'delivered / open at end',
        'all delivered in (s)',
        'RSS vs bare ws',
        'RSS vs Socket.IO',
      ],
      scenarioRows(
        results,
        'scale',
        (r) =>
          r
            ? [
                `${int(r.connections)} / ${int(r.target)}`,
                int(r.failed),
                r.seconds.toFixed(2),
                int(r.connects_per_s),
                pct(r.server_cpu_cores),
                `${int(r.server_fds_loaded)} of ${int(r.fd_limit)}`,
                kb(r.rss_per_conn_bytes),
                kb(r.heap_per_conn_bytes),
                int(r.rss_loaded_bytes / 1048576),
                `${int(r.delivered)} / ${int(r.open_at_end)}${r.all_alive ? '' : ' **(not all)**'}`,
                (r.delivery_ms / 1000).toFixed(2),
              ]
            : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        (r) => r.rss_per_conn_bytes,
      ),
    ) + failures(results, 'scale'),
  );
  lines.push('');
  return lines;
}

/** Section 7, token streaming (issue 20): one row per setup, then each setup's steps. */
function tokenSection(results) {
  const token = results.agentcast_only?.token_stream;
  const ingest = results.agentcast_only?.ingest;
  if (token === undefined && ingest === undefined && results.scenarios?.token_burst === undefined) return [];
  const sc = results.settings.scale;
  const post = tokenOk(results, 'agentcast_post');
  const lines = ['## 7. Token streaming', ''];
  if (results.scenarios?.token_burst !== undefined) {
    lines.push(
      '**Token burst**: 20 connections, every published batch of 100 events for one user (4 batches in flight), so a connection ' +
        'gets 100 events in one tick: agentcast writes them in one corked write, the baselines frame by frame.',
    );
    lines.push('');
    lines.push(
      table(
        ['server', 'delivered events/s', 'server CPU', 'events per CPU-s', 'vs bare ws', 'vs Socket.IO'],
        scenarioRows(
          results,
          'token_burst',
          (r) =>
            r === undefined
              ? ['', '', '']
              : [int(r.delivered_per_s), pct(r.server_cpu_cores), int(r.delivered_per_cpu_s)],
          (r) => r.delivered_per_cpu_s,
        ),
      ),
    );
    lines.push('');
  }
  if (ingest !== undefined) {
    lines.push(
      `**Ingest cost**: ${int(sc.ingestEvents)} \`stream_chunk\` events for 200 users published as fast as the server takes them, no receivers; ` +
        'server CPU (from /proc, the server process only) per event. One `POST /v1/publish` per event, 32 in flight on keep-alive sockets; ' +
        'streamed NDJSON as 200 requests (one per user, as one per run), 5 lines per write.',
    );
    lines.push('');
    const rows = [];
    const post = ingestOk(results, 'agentcast')?.post;
    for (const [kind, r] of Object.entries(ingest)) {
      if (r.status !== 'ok') {
        rows.push([SERVER_LABELS[kind], `**${r.status}**: ${r.error ?? r.reason}`, '', '', '']);
        continue;
      }
      for (const mode of ['post', 'ndjson']) {
        const m = r[mode];
        if (m === undefined) continue;
        rows.push([
          `${SERVER_LABELS[kind]}, ${mode === 'post' ? 'one POST per event' : 'streamed NDJSON'}`,
          m.us_per_event.toFixed(1),
          int(m.events_per_cpu_s),
          fmtRatio(ratio(m.events_per_cpu_s, post?.events_per_cpu_s)),
          String(m.load_average),
        ]);
      }
    }
    lines.push(
      table(
        [
          'publish',
          'server CPU per event (µs)',
          'events per CPU-s',
          'vs agentcast one POST per event',
          'load avg',
        ],
        rows,
      ),
    );
    lines.push('');
  }
  if (token === undefined) return lines;
  lines.push(
    `N concurrent runs, each streaming \`stream_chunk\` tokens at 30 tokens/s to its user's one connection (bench/scenarios/token-stream.mjs). ` +
      'agentcast is fed three ways: one `POST /v1/publish` per token; one streamed `application/x-ndjson` request per run, a line per token ' +
      '(docs/protocol.md D, "Streamed publish"); and through its webhook agent (each run started with `POST /v1/messages`, the backend answering with an NDJSON stream). ' +
      'bare ws and Socket.IO get the same per-token POSTs. ' +
      `N grows through ${sc.tokenSteps.join(', ')} runs (${sc.tokenWarmupMs / 1000} s warm-up, ${sc.tokenMeasureMs / 1000} s measured each) until p99 publish→receive latency reaches 100 ms or deliveries fall short. ` +
      `Events per server CPU-second are compared at ${sc.tokenCompareN} runs for every setup; memory per streaming run is heap and RSS after a full GC while ${sc.tokenCompareN} runs stream, minus the same connections idle ` +
      '(it includes the history the tokens add: agentcast keeps it, the baselines keep none).',
  );
  lines.push('');
  lines.push(
    table(
      [
        'setup',
        'largest N with p99 < 100 ms',
        `events per server CPU-second at ${sc.tokenCompareN} runs`,
        'vs one POST per token (agentcast)',
        `p99 at ${sc.tokenCompareN} runs (ms)`,
        'heap per streaming run (KB)',
        'RSS per streaming run (KB)',
      ],
      Object.values(token).map((t) =>
        t.status === 'ok'
          ? [
              t.label,
              int(t.max_runs_p99_under_100ms),
              int(t.events_per_cpu_s),
              fmtRatio(ratio(t.events_per_cpu_s, post?.events_per_cpu_s)),
              ms(t.p99_ms_at_compare),
              kb(t.memory_per_run?.heap_bytes),
              kb(t.memory_per_run?.rss_bytes),
            ]
          : [t.label, `**${t.status}**: ${t.error ?? t.reason}`, '', '', '', '', ''],
      ),
    ),
  );
  lines.push('');
  const steps = Object.values(token).flatMap((t) =>
    t.status === 'ok'
      ? t.steps.map((st) => [
          t.label,
          int(st.runs),
          `${int(st.delivered_per_s)} / ${int(st.expected_per_s)}`,
          pct(st.server_cpu_cores),
          int(st.events_per_cpu_s),
          ms(st.p50_ms),
          ms(st.p99_ms),
          st.sustained ? 'yes' : 'no',
          String(st.load_average),
        ])
      : [],
  );
  lines.push(
    table(
      [
        'setup',
        'runs',
        'delivered / due events/s',
        'server CPU',
        'events per CPU-s',
        'p50 (ms)',
        'p99 (ms)',
        'sustained',
        'load avg',
      ],
      steps,
    ),
  );
  lines.push('');
  return lines;
}

/** Writes BENCHMARKS.md and the charts; returns the paths written (relative to the root). */
export function writeReport(results, { root, jsonPath }) {
  const jsonName = jsonPath.split('/').pop();
  const written = [];
  for (const [name, svg] of Object.entries(charts(results))) {
    writeFileSync(`${root}bench/results/${name}`, svg);
    written.push(`bench/results/${name}`);
  }
  writeFileSync(`${root}BENCHMARKS.md`, markdown(results, jsonName));
  written.push('BENCHMARKS.md');
  return written;
}
