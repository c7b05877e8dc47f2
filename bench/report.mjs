#!/usr/bin/env node
import { readdirSync, readFileSync } from 'node:fs';
import { writeReport } from './lib/report.mjs';
import { ROOT } from './lib/servers.mjs';

/** Rebuilds BENCHMARKS.md and its charts from a results file (default: the newest full run). */
const newest = readdirSync(`${ROOT}bench/results`)
  .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
  .sort()
  .pop();
const path = process.argv[2] ?? (newest === undefined ? undefined : `${ROOT}bench/results/${newest}`);
if (path === undefined) {
  process.stderr.write('usage: node bench/report.mjs bench/results/<date>.json\n');
  process.exit(2);
}
const written = writeReport(JSON.parse(readFileSync(path, 'utf8')), { root: ROOT, jsonPath: path });
process.stdout.write(`${written.join('\n')}\n`);
