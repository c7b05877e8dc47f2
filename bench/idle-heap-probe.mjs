#!/usr/bin/env node
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAll, stopAll } from './lib/children.mjs';
import { sleep } from './lib/clock.mjs';
import { connectAll, Scope, snapshot, userIds } from './lib/load.mjs';

/**
 * Heap per idle authenticated WebSocket connection, agentcast against bare ws, several repetitions in one
 * run (the machine is shared: compare the ratio, not the absolute figures). Same servers, probe and
 * clients as `bench/run.mjs --only idle_memory`, with a configurable size and no results file.
 *
 *   node bench/idle-heap-probe.mjs [--connections 5000] [--reps 3] [--servers agentcast,bare-ws]
 *                                  [--snapshot] [--top 30] [--redis redis://127.0.0.1:6379/5]
 *
 * --snapshot writes a heap snapshot of each server before and after connecting (--heapsnapshot-signal) and
 * prints what the connections added, per connection, grouped by constructor / closure / string: which
 * objects an idle connection retains and how many bytes each kind costs.
 */

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'agentcast,bare-ws' },
    snapshot: { type: 'boolean', default: false },
    top: { type: 'string', default: '30' },
    // agentcast on the Redis engine instead of the memory engine (the bench's engines scenario uses db 5).
    redis: { type: 'string' },
  },
});
const n = Number(args.connections);
const reps = Number(args.reps);
const kinds = args.servers.split(',');
const snapDir = join(tmpdir(), `idle-heap-probe-${process.pid}`);
if (args.snapshot) mkdirSync(snapDir, { recursive: true });
if (args.snapshot) process.env.NODE_OPTIONS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapDir}`;

process.on('exit', killAll);
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});

/** Sends SIGUSR2 and waits for the new .heapsnapshot file to be complete. */
async function heapSnapshot(pid) {
  const before = new Set(listSnaps());
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(100);
    const fresh = listSnaps().filter((f) => !before.has(f));
    if (fresh.length === 0) continue;
    const path = join(snapDir, fresh[0]);
    try {
      const text = readFileSync(path, 'utf8');
      if (text.trimEnd().endsWith('}')) return JSON.parse(text);
    } catch {
      // still being written
    }
  }
  throw new Error('no heap snapshot in 60 s');
}

function listSnaps() {
  try {
    return readdirSync(snapDir).filter((f) => f.endsWith('.heapsnapshot'));
  } catch {
    return [];
  }
}

/**
 * Self size and count per "type:name <- retainer.edge" over the whole snapshot: anonymous closures, arrays
 * and contexts are told apart by what holds them (the first retainer found).
 */
function aggregate(snap) {
  const { node_fields, node_types, edge_fields, edge_types } = snap.snapshot.meta;
  const width = node_fields.length;
  const ewidth = edge_fields.length;
  const iType = node_fields.indexOf('type');
  const iName = node_fields.indexOf('name');
  const iSize = node_fields.indexOf('self_size');
  const iEdges = node_fields.indexOf('edge_count');
  const eType = edge_fields.indexOf('type');
  const eName = edge_fields.indexOf('name_or_index');
  const eTo = edge_fields.indexOf('to_node');
  const types = node_types[iType];
  const etypes = edge_types[eType];
  const { nodes, edges, strings } = snap;
  const label = (i) => {
    const type = types[nodes[i + iType]];
    const named =
      type === 'object' ||
      type === 'closure' ||
      type === 'native' ||
      type === 'hidden' ||
      type === 'array' ||
      type === 'object shape' ||
      type === 'code';
    return named ? `${type}:${strings[nodes[i + iName]].slice(0, 40)}` : type;
  };
  // First strong retainer of each node.
  const retainer = new Int32Array(nodes.length / width).fill(-1);
  const via = new Array(nodes.length / width);
  let e = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const count = nodes[i + iEdges];
    for (let k = 0; k < count; k++, e += ewidth) {
      const et = etypes[edges[e + eType]];
      if (et === 'weak' || et === 'shortcut') continue;
      const to = edges[e + eTo] / width;
      if (retainer[to] !== -1) continue;
      retainer[to] = i;
      via[to] =
        et === 'element' || et === 'hidden'
          ? `[${edges[e + eName]}]`
          : String(strings[edges[e + eName]]).slice(0, 30);
    }
  }
  const out = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const r = retainer[i / width];
    const r2 = r === -1 ? -1 : retainer[r / width];
    const up = r2 === -1 ? '' : `  <-  ${label(r2)}.${via[r / width]}`;
    const key = `${label(i)}  <-  ${r === -1 ? '?' : label(r)}.${via[i / width]}${up}`;
    const cur = out.get(key) ?? { size: 0, count: 0 };
    cur.size += nodes[i + iSize];
    cur.count += 1;
    out.set(key, cur);
  }
  return out;
}

function diff(base, loaded, conns, top) {
  const rows = [];
  let total = 0;
  for (const [key, v] of loaded) {
    const b = base.get(key) ?? { size: 0, count: 0 };
    const size = (v.size - b.size) / conns;
    const count = (v.count - b.count) / conns;
    total += size;
    rows.push({ key, size, count });
  }
  rows.sort((a, b) => b.size - a.size);
  console.log(`  snapshot delta: ${total.toFixed(0)} B per connection (self sizes), top ${top}:`);
  for (const r of rows.slice(0, top))
    console.log(`    ${r.size.toFixed(1).padStart(8)} B  x${r.count.toFixed(2).padStart(6)}  ${r.key}`);
}

const pins = { serverCpus: undefined, loadCpus: undefined };
const results = Object.fromEntries(kinds.map((k) => [k, []]));
for (let rep = 0; rep < reps; rep++) {
  for (const kind of kinds) {
    const scope = new Scope(pins);
    try {
      const server = await scope.server(kind, kind === 'agentcast' ? { redis: args.redis } : {});
      await sleep(500);
      const base = await server.memory();
      const baseSnap = args.snapshot ? aggregate(await heapSnapshot(server.pid)) : undefined;
      const clients = scope.clients(2);
      const opened = await connectAll(clients, server, userIds(n), { concurrency: 400 });
      if (opened.failed > 0) console.log(`  ${kind}: ${opened.failed} failed: ${opened.lastError}`);
      await sleep(1000);
      const held = await snapshot(clients);
      const loaded = await server.memory();
      const heap = (loaded.heapUsed - base.heapUsed) / held.open;
      const rss = (loaded.vmrss - base.vmrss) / held.open;
      results[kind].push(heap);
      console.log(
        `rep ${rep + 1} ${kind.padEnd(10)} ${held.open} open: heap ${heap.toFixed(0)} B, rss ${rss.toFixed(0)} B per connection`,
      );
      if (args.snapshot)
        diff(baseSnap, aggregate(await heapSnapshot(server.pid)), held.open, Number(args.top));
    } finally {
      await scope.close().catch(() => undefined);
    }
  }
}
await stopAll();
rmSync(snapDir, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const kind of kinds) console.log(`${kind.padEnd(10)} median heap ${median(results[kind]).toFixed(0)} B`);
if (kinds.includes('agentcast') && kinds.includes('bare-ws')) {
  const ratios = results.agentcast.map((a, i) => a / results['bare-ws'][i]);
  console.log(
    `ratio per rep: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}x`,
  );
}
process.exit(0);
