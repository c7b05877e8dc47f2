// Mutation testing (issue #9): `npm run mutate`, or one folder at a time, which is how the scores in
// TESTING.md were measured on 2 shared cores:
//   npx stryker run --mutate 'packages/server/src/security/**/*.ts'
// Incremental: results are kept in reports/stryker-incremental.json, so a rerun tests only the mutants
// whose code or covering tests changed. `--force` rebuilds the file.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Tests that cannot judge a mutant: the browser test drives the built demo page in Chromium (dist/ is
 * not in the sandbox); the multi-node Redis tests run several gateways against private redis-servers
 * for minutes (the single-node Redis contract and integration tests stay in); the Python backend test
 * waits on a python3 child process and times out in the instrumented sandbox on 2 busy cores (the
 * webhook agent's own tests, with an in-process backend, stay in).
 */
const LEFT_OUT = new Set([
  'test/browser',
  'test/integration/redis-nodes',
  'test/integration/agents/python-backend.test.ts',
  // Packs and installs the built client from dist/, which is not in the sandbox.
  'test/integration/packaging.test.ts',
]);

/**
 * The test files Stryker runs: every in-process test. Tests that spawn `node dist/cli.js` are left out
 * too (they import test/helpers/gateway-process.ts): they exercise the built copy in a child process,
 * never the mutated source, and dist/ is not copied to the sandbox.
 */
function inProcessTestFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (LEFT_OUT.has(path)) continue;
    if (entry.isDirectory()) files.push(...inProcessTestFiles(path));
    else if (entry.name.endsWith('.test.ts') && !readFileSync(path, 'utf8').includes('gateway-process'))
      files.push(path);
  }
  return files;
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.config.ts', related: true },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'packages/server/src/security/**/*.ts',
    'packages/server/src/engine/**/*.ts',
    'packages/server/src/gateway/**/*.ts',
    'packages/server/src/agents/**/*.ts',
    // Barrels only re-export.
    '!packages/server/src/**/index.ts',
  ],
  testFiles: inProcessTestFiles('test'),
  coverageAnalysis: 'perTest',
  // TypeScript 7 (the native compiler) has no JavaScript API, which Stryker's tsconfig rewriter imports.
  // Our tsconfig.json has no `extends` or `references` that point outside the sandbox, so nothing needs
  // rewriting: name a file that does not exist and the rewriter skips itself.
  tsconfigFile: 'tsconfig.stryker-skip.json',
  concurrency: 2,
  // Static mutants (module-level constants: regexes, tables) cannot be attributed to tests, so each one
  // runs every test file: about 45 s apiece here, hours per folder. They are left out of the score; the
  // fuzz tests (test/fuzz/) exercise those constants 100,000 times each instead.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  // Everything the tests do not read: build output, reports, benchmarks, docs and examples.
  // node_modules is symlinked into the sandbox (symlinkNodeModules, the default), .git is never copied.
  ignorePatterns: [
    'dist',
    '/coverage',
    '/reports',
    '/bench',
    '/docs',
    '/examples',
    '/test-artifacts',
    '*.log',
  ],
  // Several integration tests wait on real sockets and heartbeats; give mutants the same slack.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 15,
  thresholds: { high: 90, low: 80, break: 80 },
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Parallel per-folder runs each pass --tempDirName .stryker-tmp/<folder>: inside the gitignored dir,
  // so Biome and git never see a sandbox's copy of the project.
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
