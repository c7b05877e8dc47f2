#!/usr/bin/env node
// Builds the demo page (src/demo/page) into dist/demo: index.html and style.css copied as they are, and
// app.ts bundled with the client SDK into one minified ES module, app.js. esbuild reads the TypeScript
// directly, so this works with or without a prior `tsc`. The gateway serves dist/demo at / with --demo.
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/demo/page');
const out = join(root, 'dist/demo');

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(src, 'app.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Same target as the SDK bundle (scripts/build-client.mjs): native #private fields.
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) copyFileSync(join(src, file), join(out, file));

for (const file of ['index.html', 'app.js', 'style.css']) {
  console.log(`${relative(root, join(out, file))}: ${(statSync(join(out, file)).size / 1024).toFixed(1)} KB`);
}
