#!/usr/bin/env node
// Soak test (issue #9; not in CI): runs the built gateway (`node packages/server/dist/cli.js serve`, memory engine, loopback
// only) under mixed load for a while and reports memory growth per hour and leaked handles, timers,
// connections and subscriptions.
//
//   npm run build && node scripts/soak.mjs --minutes 10 [--clients 40] [--users 20] [--rate 200] [--seed 7]
//
// Load: `clients` virtual users connect, resume (since/epoch from their last connection), start demo agent
// runs and cancel some, ping, stay a random while and leave (a clean close or a dropped socket), over and
// over; a publisher posts `rate` events/s over HTTP to random users. Every connection checks its own stream
// (welcome first, resume answered as asked, seqs consecutive), so the soak also counts correctness faults.
// The gateway runs with --expose-gc and a --require probe that samples memory after a GC and counts
// process.getActiveResourcesInfo() by kind every few seconds and on SIGUSR2. At the end every client has
// left, so /v1/stats must show 0 connections, 0 users (hub subscriptions) and 0 active runs, and the
// handle counts must be back at their baseline. Exit code 1 when anything leaked or a stream was wrong.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { signToken } from '../packages/server/dist/auth/dev-token.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '40' },
    users: { type: 'string', default: '20' },
    rate: { type: 'string', default: '200' },
    seed: { type: 'string', default: '7' },
    'probe-ms': { type: 'string', default: '5000' },
  },
});
const MINUTES = Number(args.minutes);
const CLIENTS = Math.min(500, Number(args.clients));
const USERS = Math.max(1, Number(args.users));
const RATE = Math.min(5000, Number(args.rate));
const PROBE_MS = Number(args['probe-ms']);
if (!(MINUTES > 0 && MINUTES <= 24 * 60)) throw new TypeError('--minutes must be in (0, 1440]');

const HISTORY_TTL_S = 60;
/** Samples before this are warm-up: JIT, pools, and history rings filling up to one TTL of events. */
const WARM_UP_MS = (HISTORY_TTL_S + 30) * 1000;
const SECRET = 'soak-secret-that-is-long-enough-for-hs256!';
const API_KEY = 'soak-api-key-0123456789';
const CLI = fileURLToPath(new URL('../packages/server/dist/cli.js', import.meta.url));

/** A seeded PRNG (mulberry32) so a soak's load can be replayed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(Number(args.seed));
const pick = (n) => Math.floor(random() * n);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The probe runs inside the gateway process (CommonJS, loaded with --require before the ESM entry point).
const PROBE = `
const { writeSync } = require('node:fs');
function sample(tag) {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const m = process.memoryUsage();
  const resources = {};
  for (const name of process.getActiveResourcesInfo()) resources[name] = (resources[name] ?? 0) + 1;
  writeSync(2, JSON.stringify({ agentcast_probe: tag, t: Date.now(), rss: m.rss, heap_used: m.heapUsed,
    external: m.external, resources }) + '\\n');
}
setInterval(() => sample('tick'), ${PROBE_MS}).unref();
process.on('SIGUSR2', () => sample('request'));
`;

const counters = {
  connections: 0,
  events: 0,
  published: 0,
  runs: 0,
  cancels: 0,
  resumes_ok: 0,
  resumes_reset: 0,
  faults: [],
};
function fault(message) {
  if (counters.faults.length < 50) counters.faults.push(message);
  else counters.faults_dropped = (counters.faults_dropped ?? 0) + 1;
}

async function startGateway(probeFile) {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--require',
      probeFile,
      CLI,
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--env',
      'test',
      '--jwt-secret',
      SECRET,
      '--api-key',
      API_KEY,
      '--demo-delay-ms',
      '20',
      '--max-connections-per-user',
      String(Math.max(10, Math.ceil((2 * CLIENTS) / USERS))),
      // Up to 500 clients (re)connect from 127.0.0.1 at once: room for all their handshakes.
      '--max-http-sockets-per-ip',
      '1024',
      '--max-handshakes-per-ip',
      '1024',
      '--rate-limit',
      '100',
      '--rate-burst',
      '200',
      // Histories reach their steady size after one TTL; a short TTL lets a soak see past the warm-up.
      '--history-ttl-s',
      String(HISTORY_TTL_S),
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const samples = [];
  const waiters = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (!line.startsWith('{"agentcast_probe"')) {
      process.stderr.write(`gateway: ${line}\n`);
      return;
    }
    const sample = JSON.parse(line);
    samples.push(sample);
    if (sample.agentcast_probe === 'request') waiters.shift()?.(sample);
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start in 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.includes('"gateway listening"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line).port);
    });
  });
  const probe = () =>
    new Promise((resolve) => {
      waiters.push(resolve);
      child.kill('SIGUSR2');
    });
  return { child, port, samples, probe };
}

/**
 * One HTTP request on its own connection (`agent: false` sends Connection: close), so no keep-alive
 * socket of the soak itself lingers in the gateway's handle count at the end.
 */
function http(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function stats(port) {
  return JSON.parse((await http(port, 'GET', '/v1/stats')).body);
}

/** One virtual user's life: connect (resuming where it left off), do things, leave; until `deadline`. */
async function virtualClient(port, id, deadline) {
  const userId = `soak-${id % USERS}`;
  let position; // { since, epoch } of the last connection
  while (Date.now() < deadline) {
    const token = await signToken(SECRET, userId, 3600);
    const query = position && random() < 0.7 ? `?since=${position.since}&epoch=${position.epoch}` : '';
    const asked = query !== '';
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    counters.connections++;
    let next; // next expected seq
    let runId;
    const done = new Promise((resolve) => {
      ws.on('close', resolve);
      ws.on('error', () => undefined); // a refused or dropped socket ends in 'close', which resolves
    });
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString());
      if (next === undefined) {
        if (frame.type !== 'welcome') return fault(`${userId}: first frame ${frame.type}, not welcome`);
        const { resume, seq, epoch } = frame.data;
        if (resume !== (asked ? resume : 'none')) fault(`${userId}: resume ${resume} without since`);
        if (asked && resume === 'ok') counters.resumes_ok++;
        if (asked && resume === 'reset') counters.resumes_reset++;
        next = (asked && resume === 'ok' ? position.since : seq) + 1;
        position = { since: next - 1, epoch };
        return;
      }
      if (typeof frame.seq === 'number') {
        counters.events++;
        if (frame.seq !== next) fault(`${userId}: seq ${frame.seq}, expected ${next}`);
        next = frame.seq + 1;
        position.since = frame.seq;
      } else if (frame.type === 'ack' && frame.data?.run_id && frame.id?.startsWith('m')) {
        runId = frame.data.run_id;
      }
    });
    await new Promise((resolve) => ws.once('open', resolve).once('close', resolve));
    const stay = 500 + pick(4500);
    const leaveAt = Math.min(deadline, Date.now() + stay);
    if (ws.readyState === WebSocket.OPEN && random() < 0.3) {
      counters.runs++;
      ws.send(
        JSON.stringify({
          type: 'user_message',
          id: `m${id}-${counters.connections}`,
          data: { text: 'what is 6 * 7?' },
        }),
      );
    }
    while (Date.now() < leaveAt && ws.readyState === WebSocket.OPEN) {
      await sleep(Math.min(250, leaveAt - Date.now()));
      if (runId !== undefined && random() < 0.1) {
        counters.cancels++;
        ws.send(JSON.stringify({ type: 'cancel', id: `c${id}`, data: { run_id: runId } }));
        runId = undefined;
      } else if (random() < 0.2 && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: 'ping', id: 'p' }));
      }
    }
    if (random() < 0.2) ws.terminate();
    else ws.close(1000);
    await done;
  }
}

async function publisher(port, deadline) {
  const perTick = Math.max(1, Math.round(RATE / 20));
  while (Date.now() < deadline) {
    const events = Array.from({ length: perTick }, () => ({
      user_id: `soak-${pick(USERS)}`,
      type: 'notification',
      data: { text: 'soak', n: counters.published },
    }));
    const res = await http(port, 'POST', '/v1/publish', { events });
    if (res.status !== 202) fault(`publish answered ${res.status}`);
    counters.published += events.length;
    await sleep(50);
  }
}

/** Least-squares slope of `y` over time, in units per hour. */
function slopePerHour(samples, key) {
  const n = samples.length;
  if (n < 2) return 0;
  const xs = samples.map((s) => s.t / 3_600_000);
  const ys = samples.map((s) => s[key]);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'agentcast-soak-'));
  const probeFile = join(dir, 'probe.cjs');
  writeFileSync(probeFile, PROBE);
  const gw = await startGateway(probeFile);
  try {
    const baseline = await gw.probe();
    const started = Date.now();
    const deadline = started + MINUTES * 60_000;
    console.log(
      `soak: ${MINUTES} min, ${CLIENTS} clients over ${USERS} users, ${RATE} events/s, gateway on port ${gw.port}`,
    );
    await Promise.all([
      publisher(gw.port, deadline),
      ...Array.from({ length: CLIENTS }, (_, i) => virtualClient(gw.port, i, deadline)),
    ]);
    // Every client has left: the gateway must come back to empty (runs end on their own, 20 ms steps).
    let after = await stats(gw.port);
    for (let i = 0; i < 50 && (after.connections > 0 || after.users > 0 || after.runs_active > 0); i++) {
      await sleep(200);
      after = await stats(gw.port);
    }
    const final = await gw.probe();
    const ticks = gw.samples.filter((s) => s.agentcast_probe === 'tick' && s.t >= started);
    const steady = ticks.filter((s) => s.t >= started + WARM_UP_MS);
    const resourceDiff = {};
    for (const name of new Set([...Object.keys(baseline.resources), ...Object.keys(final.resources)])) {
      const diff = (final.resources[name] ?? 0) - (baseline.resources[name] ?? 0);
      if (diff !== 0) resourceDiff[name] = diff;
    }
    const report = {
      minutes: MINUTES,
      load: { clients: CLIENTS, users: USERS, rate: RATE, ...counters, faults: counters.faults.length },
      memory: {
        rss_start: baseline.rss,
        rss_end: final.rss,
        heap_start: baseline.heap_used,
        heap_end: final.heap_used,
        heap_growth_per_hour: Math.round(slopePerHour(steady, 'heap_used')),
        rss_growth_per_hour: Math.round(slopePerHour(steady, 'rss')),
        samples: ticks.length,
        steady_samples: steady.length,
        note:
          steady.length < 2
            ? `run shorter than the ${WARM_UP_MS / 1000} s warm-up: no growth rate (histories still filling)`
            : `growth rate fitted over ${steady.length} samples after a ${WARM_UP_MS / 1000} s warm-up`,
      },
      after_all_left: {
        connections: after.connections,
        authenticated_connections: after.authenticated_connections,
        users: after.users,
        runs_active: after.runs_active,
      },
      resources_baseline: baseline.resources,
      resources_end: final.resources,
      resources_leaked: resourceDiff,
    };
    console.log(JSON.stringify(report, null, 2));
    for (const f of counters.faults) console.log(`fault: ${f}`);
    console.log(
      `memory: heap ${mib(baseline.heap_used)} -> ${mib(final.heap_used)} (steady growth ${mib(report.memory.heap_growth_per_hour)}/h), ` +
        `rss ${mib(baseline.rss)} -> ${mib(final.rss)} (${mib(report.memory.rss_growth_per_hour)}/h)`,
    );
    const leaked =
      after.connections !== 0 ||
      after.users !== 0 ||
      after.runs_active !== 0 ||
      Object.values(resourceDiff).some((d) => d > 0);
    console.log(
      leaked || counters.faults.length > 0
        ? 'soak: FAILED (leak or stream fault above)'
        : 'soak: ok (no leaked connections, subscriptions, runs, sockets or timers; every stream exact)',
    );
    process.exitCode = leaked || counters.faults.length > 0 ? 1 : 0;
  } finally {
    gw.child.kill('SIGTERM');
    await new Promise((resolve) => gw.child.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
