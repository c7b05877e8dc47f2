#!/usr/bin/env node
import { fork, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { signHs256 } from './lib/jwt.mjs';

/**
 * `node bench/sse-cost.mjs [--connections 1000] [--rounds 60] [--repeat 3]`: the server CPU of fan-out over
 * SSE against WebSocket (issue 16: SSE within 0.8x of WebSocket per CPU-second), with the gateway in this
 * process, so its CPU figure is exactly the gateway's (the clients read in a child process). Each round
 * publishes one event to each of the users (one session each) from code, as fast as the gateway takes
 * them: the server is saturated whatever else the machine runs, unlike `run.mjs --quick`'s fan-out on a
 * busy machine, whose load generators then set the pace. Each measurement is a fresh process, after
 * five uncounted warm-up rounds. Needs `npm run build`. Prints events per server CPU-second for each
 * transport and the ratio of their medians.
 */

const SECRET = 'bench-secret-bench-secret-bench-secret';

if (process.argv[2] === '--clients') {
  await clients(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
} else if (process.argv[2] === '--measure') {
  await measure(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
  process.exit(0);
} else {
  await main();
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      connections: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '60' },
      repeat: { type: 'string', default: '5' },
    },
  });
  const results = { ws: [], sse: [] };
  for (let r = 0; r < Number(args.repeat); r++) {
    // A fresh process per measurement, alternating which transport goes first.
    for (const kind of r % 2 === 0 ? ['ws', 'sse'] : ['sse', 'ws']) {
      const run = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), '--measure', kind, args.connections, args.rounds],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 },
      );
      if (run.status !== 0) throw new Error(`measuring ${kind} failed: ${run.stdout}`);
      results[kind].push(Number(run.stdout.trim()));
    }
    console.log(
      `run ${r + 1}: WebSocket ${results.ws.at(-1).toLocaleString('en-US')} ev/CPU-s, SSE ${results.sse.at(-1).toLocaleString('en-US')} ev/CPU-s`,
    );
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ws = median(results.ws);
  const sse = median(results.sse);
  console.log(
    `median: WebSocket ${ws.toLocaleString('en-US')}, SSE ${sse.toLocaleString('en-US')} ev/CPU-s; SSE/WS ${(sse / ws).toFixed(2)}x`,
  );
}

/** One measurement in this process: prints the gateway's fan-out events per CPU-second. */
async function measure(kind, n, rounds) {
  const dist = new URL('../packages/server/dist/', import.meta.url).href;
  const { createGateway } = await import(`${dist}gateway/gateway.js`);
  const { loadConfig } = await import(`${dist}config/load-config.js`);
  const { silentLogger } = await import(`${dist}observability/logger.js`);
  const config = loadConfig({
    overrides: {
      env: 'test',
      port: 0,
      host: '127.0.0.1',
      jwtSecret: SECRET,
      maxConnections: n + 100,
      maxHandshakesPerIp: n + 100,
      maxHttpSocketsPerIp: n + 100,
      heartbeatMs: 600_000,
      sseHeartbeatMs: 600_000,
    },
  });
  const gateway = createGateway(config, { log: silentLogger() });
  const { port } = await gateway.listen();
  const child = fork(fileURLToPath(import.meta.url), ['--clients', kind, String(port), String(n)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const message = (type) =>
    new Promise((resolve) => child.on('message', (m) => m.type === type && resolve(m)));
  await message('ready');
  const users = Array.from({ length: n }, (_, i) => `u${i}`);
  const publishRound = () =>
    Promise.all(
      users.map((u) => gateway.publish(u, { type: 'stream_chunk', data: { text: 'a token of text' } })),
    );
  // Warm-up: the first rounds compile the paths; they are not counted.
  for (let round = 0; round < 5; round++) await publishRound();
  const received = message('received');
  child.send({ expect: n * (rounds + 5) });
  const cpu0 = process.cpuUsage();
  for (let round = 0; round < rounds; round++) await publishRound();
  await received;
  const cpu = process.cpuUsage(cpu0);
  console.log(Math.round((n * rounds) / ((cpu.user + cpu.system) / 1e6)));
  child.kill();
  await gateway.close();
}

/** The child: opens `n` sessions of `kind`, reports ready, then counts event frames until told how many. */
async function clients(kind, port, n) {
  let got = 0;
  let expected = Number.POSITIVE_INFINITY;
  const count = (text) => {
    let c = 0;
    for (let i = text.indexOf('"seq":'); i !== -1; i = text.indexOf('"seq":', i + 1)) c++;
    got += c;
    if (got < expected) return;
    expected = Number.POSITIVE_INFINITY;
    process.send({ type: 'received' });
  };
  process.on('message', (m) => {
    expected = m.expect;
  });
  for (let i = 0; i < n; i++) {
    const token = signHs256(SECRET, `u${i}`);
    await new Promise((resolve, reject) => {
      let welcomed = false;
      const take = (text) => {
        if (welcomed) return count(text);
        if (text.includes('"welcome"')) {
          welcomed = true;
          resolve();
        }
      };
      if (kind === 'ws') {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['agentcast.v1'], {
          headers: { Authorization: `Bearer ${token}` },
        });
        ws.on('message', (data) => take(String(data)));
        ws.once('error', reject);
      } else {
        const req = request(
          { host: '127.0.0.1', port, path: '/v1/events', headers: { Authorization: `Bearer ${token}` } },
          (res) => {
            res.setEncoding('utf8');
            res.on('data', take);
          },
        );
        req.once('error', reject);
        req.end();
      }
    });
  }
  process.send({ type: 'ready' });
}
