#!/usr/bin/env node
import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 .cpuprofile (from `node bench/run.mjs --profile`): self time and inclusive time per
 * function with file:line, so a hot path can be read without a browser.
 *   node bench/profile-summary.mjs /tmp/agentcast-bench-profiles/<file>.cpuprofile [top=40] [filter]
 */
const [path, topArg = '40', filter] = process.argv.slice(2);
if (path === undefined) {
  process.stderr.write('usage: node bench/profile-summary.mjs <file.cpuprofile> [top] [filter]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(path, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const total = profile.samples.length;

function key(node) {
  const f = node.callFrame;
  const file = f.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, 'node_modules/')
    .replace(/.*\/dist\//, 'dist/');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
}

const self = new Map();
const inclusive = new Map();
for (const [id, count] of hits) {
  const k = key(byId.get(id));
  self.set(k, (self.get(k) ?? 0) + count);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const ck = key(byId.get(cur));
    if (seen.has(ck)) continue;
    seen.add(ck);
    inclusive.set(ck, (inclusive.get(ck) ?? 0) + count);
  }
}
const top = Number(topArg);
const show = (title, map) => {
  process.stdout.write(`\n${title} (${total} samples)\n`);
  [...map]
    .filter(([k]) => filter === undefined || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, n]) => {
      process.stdout.write(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${k}\n`);
    });
};
show('self time', self);
show('inclusive time', inclusive);
