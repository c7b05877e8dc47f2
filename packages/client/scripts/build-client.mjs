#!/usr/bin/env node
// Bundles the client SDK (src/index.ts, read as TypeScript by esbuild, so it runs with or without a
// prior `tsc`) into one minified ES module for browsers, dist/agentcast-client.min.js, and prints its
// size minified and minified+gzipped. The budget is 7.5 KB min+gzip; going over it fails the build. It was
// 6 KB (issue 6) until the runs state of issue 26 (client.runs: the snapshot fold with tools and approvals,
// catch-up; about 0.9 KB gzip, most of it the wire's snake_case field names) and the delivery receipts of
// issue 19 (0.25 KB) left no room under it; the Server-Sent Events transport stays out of it, a chunk
// loaded only when used.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/agentcast-client.min.js');
const BUDGET_BYTES = 7.5 * 1024;

mkdirSync(dirname(outfile), { recursive: true });
await build({
  entryPoints: [join(root, 'src/index.ts')],
  // The Server-Sent Events transport is a dynamic import: its own chunk, fetched only by a client that
  // falls back to SSE (or asks for it), so the budget below is what every page downloads.
  outdir: dirname(outfile),
  entryNames: 'agentcast-client.min',
  chunkNames: 'agentcast-client.[name].min',
  splitting: true,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // es2022, not es2020: the SDK uses #private fields (docs/architecture.md, "Style"), which es2020 would
  // rewrite into WeakMaps and helpers (+3 KB min, +0.9 KB gzip). Every browser since 2021 runs them natively
  // (Chrome 91, Firefox 90, Safari 15).
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const code = readFileSync(outfile);
const gzipped = gzipSync(code, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
console.log(
  `${relative(root, outfile)}: ${kb(code.length)} min, ${kb(gzipped)} min+gzip (budget ${kb(BUDGET_BYTES)})`,
);
for (const chunk of readdirSync(dirname(outfile)).filter((f) =>
  /^agentcast-client\.(?!min\.js).*\.min\.js$/.test(f),
)) {
  const bytes = gzipSync(readFileSync(join(dirname(outfile), chunk)), { level: 9 }).length;
  console.log(`dist/${chunk}: ${kb(bytes)} min+gzip, loaded on demand`);
}
if (gzipped > BUDGET_BYTES) {
  console.error(
    `client bundle over budget by ${gzipped - BUDGET_BYTES} bytes: keep zod and Node APIs out of the client`,
  );
  process.exit(1);
}
