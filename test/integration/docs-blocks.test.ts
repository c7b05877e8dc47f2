import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import WebSocket from 'ws';
import { connect as connectClient } from '../../packages/client/src/index.js';
import { assembleRun } from '../../packages/react/src/run-view.js';
import { AgentRuntime } from '../../packages/server/src/agents/agent-runtime.js';
import type { AgentDefinition } from '../../packages/server/src/agents/define-agent.js';
import type { Gateway } from '../../packages/server/src/gateway/gateway.js';
import { claimsFor, signHs256 } from '../helpers/auth-tokens.js';
import { bundleForBrowser, launchChromium, skipBrowserTests } from '../helpers/browser.js';
import {
  type DocBlock,
  documentedFiles,
  extractBlocks,
  parseShell,
  type ShellCommand,
  sampleDifferences,
  topLevelNames,
  where,
} from '../helpers/doc-blocks.js';
import {
  type DocExit,
  type DocOutcome,
  type DocServer,
  DocSession,
  execFileAsync,
  ROOT,
  runWithInput,
} from '../helpers/doc-session.js';
import { Client, type Frame, type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { CLI_PATH } from '../helpers/gateway-process.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';

/**
 * "Every runnable code block in README.md and docs/ is executed by a test": this one. It reads every
 * fenced block of README.md, docs/*.md and packages/*\/README.md, and each is either run below (claimed
 * with {@link runs}) or listed in {@link NOT_RUNNABLE} with the reason; a block that is neither fails the
 * first test, so a new block must be run or explicitly excused.
 *
 * Running means real processes on loopback: `npx agentcast serve` as the bin npm linked, curl, python3,
 * the TypeScript blocks imported against the packages' sources, the browser blocks bundled with esbuild
 * and executed in Chromium. The only changes to what a block says: ports (every server gets port 0 and
 * later URLs its real port; doc-session.ts), package names resolved to the packages' sources, and the
 * names of a TypeScript block exported so the test can drive and close what it built.
 */

const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const BLOCKS: readonly DocBlock[] = documentedFiles(ROOT).flatMap((file) => extractBlocks(file, read(file)));

const blocksWith = (file: string, contains: string): DocBlock[] =>
  BLOCKS.filter((b) => b.file === file && b.text.includes(contains));

/** The one block of `file` containing `contains`; throws naming what is wrong (stale tables fail loudly). */
function theBlock(file: string, contains: string): DocBlock {
  const found = blocksWith(file, contains);
  if (found.length !== 1)
    throw new Error(
      `${file}: ${found.length} blocks contain ${JSON.stringify(contains)}; expected exactly one`,
    );
  return found[0] as DocBlock;
}

/** Blocks run by the tests below, each with the test that runs it. */
const runs = new Map<DocBlock, string>();
function run(file: string, contains: string, by: string): DocBlock {
  const block = theBlock(file, contains);
  runs.set(block, by);
  return block;
}

interface Excuse {
  readonly file: string;
  /** Text only that block of the file contains. */
  readonly contains: string;
  readonly reason: string;
}

/**
 * THE table of blocks that are not run, each with why. Keep it short: a block that can run, runs.
 * Samples of output or of the wire are not programs, but where a sample can be compared with the real
 * thing, a test below does (named in the reason).
 */
const NOT_RUNNABLE: readonly Excuse[] = [
  {
    file: 'README.md',
    contains: 'cd packages/client && npm pack',
    reason:
      '`npm ci` would reinstall node_modules under the running tests; test/integration/packaging.test.ts packs ' +
      'the client (with --ignore-scripts: the build already ran) and installs the tarball into an empty app.',
  },
  {
    file: 'README.md',
    contains: 'pip install ./python',
    reason:
      "installs into the machine's Python under the running tests; python/tests/test_examples.py “the package " +
      'builds offline as pip install does” builds its wheel with --no-build-isolation --no-index, and the ' +
      "README's Python block runs with PYTHONPATH=python.",
  },
  {
    file: 'README.md',
    contains: 'npm test',
    reason: 'the command that runs this very test (CI runs it); running it here would recurse.',
  },
  {
    file: 'README.md',
    contains: 'backend ──POST /v1/publish──▶',
    reason: 'an ASCII diagram of the data path.',
  },
  {
    file: 'docs/architecture.md',
    contains: 'protocol/ ← config/',
    reason: 'a diagram of the import directions (biome.json enforces them; test/unit/docs checks the doc).',
  },
  {
    file: 'docs/architecture.md',
    contains: 'POST /v1/publish      gateway/http-api.ts',
    reason: 'a map of the publish path through the modules, not code.',
  },
  {
    file: 'docs/architecture.md',
    contains: 'downstream edges (WebSocket, SSE',
    reason: 'a diagram of the edges over the one session core and run control, not code.',
  },
  {
    file: 'docs/architecture.md',
    contains: 'checkAdmission (session-admission.ts)',
    reason: 'a map of the session core every transport calls, not code.',
  },
  {
    file: 'docs/architecture.md',
    contains: 'HTTP upgrade          gateway/upgrade-handler.ts',
    reason: "a map of a browser frame's path through the modules, not code.",
  },
  {
    file: 'docs/agents.md',
    contains: 'const runtime = new AgentRuntime({',
    reason:
      'a synopsis of the runtime API (optional parameters as `threadId?`, results in comments), not a program; ' +
      '"synopses name real methods" checks every `runtime.x` it names exists.',
  },
  {
    file: 'docs/agents.md',
    contains: 'approval = request.get("approval")',
    reason:
      'the Python continuation backend: test/integration/agents/webhook-continuation.test.ts runs this block behind a ' +
      'real gateway and approves its question from a client.',
  },
  {
    file: 'docs/agents.md',
    contains: '{"run_id":"r_…","user_id":"u1"',
    reason:
      'a sample of the body the webhook agent POSTs; "wire samples match real frames" compares it with a real one.',
  },
  {
    file: 'docs/agents.md',
    contains: "import { AgentcastAgent } from '@agentcast/ag-ui';",
    reason:
      "an app's code (its token endpoint, its saved messages); test/browser/ag-ui.test.ts makes the same calls " +
      '(connectAgent after a reload, runAgent) in Chromium, test/integration/ag-ui/ag-ui-endpoint.test.ts in Node.',
  },
  {
    file: 'docs/client.md',
    contains: 'connect(options: ConnectOptions): AgentcastClient',
    reason:
      'the API as TypeScript signatures, not a program; "synopses name real methods" checks every `client.x` ' +
      'it names exists on a real client.',
  },
  {
    file: 'docs/protocol.md',
    contains: '{"type":"welcome"',
    reason: 'a sample welcome frame; "wire samples match real frames" compares it with a real one.',
  },
  {
    file: 'docs/protocol.md',
    contains: '{"run_id":"r_1","thread_id":"t1"',
    reason: 'a sample run snapshot; "wire samples match real frames" compares it with a real one.',
  },
  {
    file: 'docs/protocol.md',
    contains: '{"type":"agent_thinking","seq":43',
    reason: 'a sample event frame; "wire samples match real frames" compares it with a real one.',
  },
  {
    file: 'docs/security.md',
    contains: 'origins[0] "https://*example.com"',
    reason: 'error output, not a command; "error samples are what agentcast prints" produces it for real.',
  },
  {
    file: 'docs/security.md',
    contains: 'origins[1] "http://app.io"',
    reason: 'error output, not a command; "error samples are what agentcast prints" produces it for real.',
  },
  {
    file: 'packages/client/README.md',
    contains: 'npm pack ',
    reason:
      "commands for the reader's own app; test/integration/packaging.test.ts packs this package and installs " +
      'the tarball into an empty app.',
  },
  {
    file: 'packages/react/README.md',
    contains: '(cd packages/react && npm pack)',
    reason:
      '`npm pack` runs prepack, a build that would rewrite dist/ under the running tests, and `npm i react ' +
      "react-dom` needs the registry; packaging.test.ts installs the client's tarball offline.",
  },
  {
    file: 'packages/react/README.md',
    contains: 'interface RunView {',
    reason:
      'TypeScript declarations of the hook result, not a program; "synopses name real methods" compares their ' +
      'fields with a real assembled run.',
  },
  {
    file: 'packages/react/README.md',
    contains: 'npx vitest run --config packages/react/vitest.config.ts',
    reason:
      "the package's own checks, which `npm test` runs: typecheck, lint, build and both vitest projects.",
  },
  {
    file: 'packages/server/README.md',
    contains: '(cd ../client && npm pack) && npm pack',
    reason:
      "commands for the reader's own app: `npm pack` runs prepack, a build that would rewrite dist/ under the " +
      'running tests; the CLI those tarballs install is run below from this repository.',
  },
];

function excused(file: string, contains: string): DocBlock {
  if (!NOT_RUNNABLE.some((e) => e.file === file && e.contains === contains))
    throw new Error(`${file} ${JSON.stringify(contains)} is not in NOT_RUNNABLE`);
  return theBlock(file, contains);
}

// The blocks run below, claimed before any test runs so the first test sees them all.
const START = run('README.md', 'npm ci && npm start', 'README "Start it"');
const PUBLISH_SERVE = run('README.md', 'npx agentcast token u1', 'README "Publish from a backend"');
const PUBLISH_CURL = run('README.md', 'curl -s -X POST', 'README "Publish from a backend"');
const PUBLISH_PYTHON = run('README.md', 'from agentcast import Publisher', 'README "Publish from a backend"');
const WEBHOOK = run('README.md', '--default-agent webhook', 'README webhook backend');
const TWO_NODES = run('README.md', '--server-id node-a', 'README "Run two nodes with Redis"');
const FRONT_END = run('README.md', "from '@agentcast/client'", 'browser snippets');
const SERVER_RUN = run('packages/server/README.md', 'npx agentcast --version', 'server README "Run it"');
const SERVER_EMBED = run('packages/server/README.md', 'createGateway(', 'server README "Or embed it"');
const AGENT_WEATHER = run('docs/agents.md', 'export const weather', 'docs/agents.md "Writing an agent"');
const EMBEDDING = run('docs/embedding.md', 'export const shout', 'docs/embedding.md "Example"');
const AGENTS_PYTHON = run(
  'docs/agents.md',
  'python3 examples/python_backend.py serve',
  'docs/agents.md Python',
);
const CLIENT_DOC = run('docs/client.md', "from '@agentcast/client'", 'browser snippets');
const CLIENT_README = run('packages/client/README.md', "from '@agentcast/client'", 'browser snippets');
const REACT_EXAMPLE = run('packages/react/README.md', 'export function Root', 'browser snippets');

const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython) console.warn('SKIPPING the Python blocks of the docs: python3 is not on the PATH');

// ---------------------------------------------------------------------------------------------------------
// Helpers of the tests below.

/** Runs `fn` when the test ends, pass or fail: stops what the test started. */
function cleanup(ctx: TestContext, fn: () => Promise<unknown> | unknown): void {
  ctx.onTestFinished(async () => {
    await fn();
  });
}

const serverOf = (outcome: DocOutcome | undefined): DocServer => {
  if (outcome?.kind !== 'server') throw new Error(`expected a server, got ${JSON.stringify(outcome?.kind)}`);
  return outcome.server;
};
const exitOf = (outcome: DocOutcome | undefined): DocExit => {
  if (outcome?.kind !== 'exit')
    throw new Error(`expected a command that ends, got ${JSON.stringify(outcome?.kind)}`);
  return outcome.exit;
};

/** The value after `flag` in a command (`--api-key k` is `k`). */
function flagValue(command: ShellCommand | undefined, flag: string): string {
  const words = command?.words ?? [];
  const value = words[words.indexOf(flag) + 1];
  if (!words.includes(flag) || value === undefined) throw new Error(`no ${flag} in "${words.join(' ')}"`);
  return value;
}

const commandWith = (commands: readonly ShellCommand[], ...words: string[]): ShellCommand => {
  const found = commands.filter((c) => words.every((w) => c.words.includes(w)));
  if (found.length !== 1) throw new Error(`${found.length} commands have ${words.join(' ')}`);
  return found[0] as ShellCommand;
};

/** A real ws client of a gateway, past its welcome. */
async function wsClient(
  ctx: TestContext,
  port: number,
  token: string,
): Promise<{ client: Client; welcome: Frame }> {
  const client = Client.open(`ws://127.0.0.1:${port}/ws`, { headers: { Authorization: `Bearer ${token}` } });
  cleanup(ctx, () => client.ws.terminate());
  return { client, welcome: await client.next('welcome', 10_000) };
}

/** Sends a user message and returns the run's events once its agent_completed arrived. */
async function runThrough(client: Client, id: string, data: Record<string, unknown>): Promise<Frame[]> {
  client.send({ type: 'user_message', id, data });
  const ack = await client.next('ack', 10_000);
  const runId = ack.data?.run_id;
  for (;;) {
    const done = await client.next('agent_completed', 15_000);
    if (done.run_id === runId) break;
  }
  return client.frames.filter((f) => f.run_id === runId && typeof f.seq === 'number');
}

/** The development token `agentcast serve` prints on stderr when no JWT secret is given. */
async function devToken(server: DocServer): Promise<string> {
  await server.stderr.wait(/dev token for user "demo"/, 5000, 'the dev token banner');
  const m = await server.stderr.wait(/^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)\s*$/, 5000, 'the dev token');
  return m[1] as string;
}

async function historyOf(port: number, user: string, apiKey: string): Promise<Frame[]> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/users/${user}/history`, {
    headers: { Authorization: `Bearer ${apiKey}` },
  });
  if (res.status !== 200) throw new Error(`history of ${user}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { events: Frame[] }).events;
}

const WEBHOOK_TEXT = 'count these four words';
const WEBHOOK_ANSWER = 'Your message has 4 words and 22 characters.';
const GOLDEN_PATH = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed'];

// ---------------------------------------------------------------------------------------------------------

describe('the blocks of the docs', () => {
  it('reads fences, shell commands and samples as the runners below rely on', () => {
    const [block] = extractBlocks(
      'inline.txt',
      'text\n\n  ```sh\n  export A=1 B="two words"\n  npx x serve --port 8081 &   # note\n  curl -s \\\n    -d \'{"a":1}\' && echo "b"\n  ```\n',
    );
    expect(block).toMatchObject({ file: 'inline.txt', line: 3, lang: 'sh' });
    const commands = parseShell(block as DocBlock);
    expect(commands.map((c) => [c.line, c.words, c.env, c.background, c.comment])).toEqual([
      [4, ['export'], { A: '1', B: 'two words' }, false, ''],
      [5, ['npx', 'x', 'serve', '--port', '8081'], {}, true, 'note'],
      [6, ['curl', '-s', '-d', '{"a":1}'], {}, false, ''],
      [6, ['echo', 'b'], {}, false, ''],
    ]);
    for (const unsupported of ['echo $HOME', 'a | b', 'a > f', '(cd x && y)', 'a || b'])
      expect(() => parseShell({ file: 'inline.txt', line: 1, lang: 'sh', text: unsupported })).toThrow(
        /does not understand/,
      );
    expect(topLevelNames('const a = 1;\nexport const b = 2;\n  const c = 3;\nfunction d() {}')).toEqual([
      'a',
      'b',
      'd',
    ]);
    expect(sampleDifferences({ a: 'e_x1', b: 2 }, { a: 'e_…', b: 1 })).toEqual([]);
    expect(sampleDifferences({ a: 'e_x1', b: 2 }, { a: 'e_…', b: 1 }, true)).toEqual([
      '$.b: 2 where the sample has 1',
    ]);
    expect(sampleDifferences({ b: 1, a: 'x' }, { a: 'e_…', b: 1 })).toHaveLength(1);
  });

  it('classifies every block: run by a test below, or excused in NOT_RUNNABLE with a reason', () => {
    expect(BLOCKS.length, 'blocks found in the docs').toBeGreaterThan(25);
    const problems: string[] = [];
    for (const block of BLOCKS) {
      const reasons = NOT_RUNNABLE.filter((e) => e.file === block.file && block.text.includes(e.contains));
      const count = (runs.has(block) ? 1 : 0) + reasons.length;
      const first = block.text.split('\n').find((l) => l.trim() !== '') ?? '';
      if (count === 0)
        problems.push(
          `${where(block)} (${block.lang || 'no language'}) is neither run nor excused: ${first}`,
        );
      if (count > 1)
        problems.push(
          `${where(block)} is both run (${runs.get(block) ?? 'no test'}) and excused, or excused twice`,
        );
    }
    for (const excuse of NOT_RUNNABLE) {
      const found = blocksWith(excuse.file, excuse.contains).length;
      if (found !== 1)
        problems.push(
          `NOT_RUNNABLE ${excuse.file} ${JSON.stringify(excuse.contains)} matches ${found} blocks`,
        );
      if (excuse.reason.length < 20) problems.push(`NOT_RUNNABLE ${excuse.file}: give a real reason`);
    }
    expect(problems).toEqual([]);
  });
});

describe.concurrent('shell and Python blocks, run as real processes', { timeout: 45_000 }, () => {
  it('README "Start it": npm start serves the demo page, prints a dev token, and the demo agent answers', async (ctx) => {
    const session = new DocSession('README "Start it"');
    cleanup(ctx, () => session.close());
    const outcomes = await session.runAll(parseShell(START));
    expect(outcomes.map((o) => o.kind)).toEqual(['setup', 'server']);
    const gateway = serverOf(outcomes[1]);
    const listening = JSON.parse(gateway.stdout.all[0] as string) as Record<string, unknown>;
    ctx.expect(listening).toMatchObject({ env: 'development', host: '127.0.0.1', msg: 'gateway listening' });
    const page = await fetch(`http://127.0.0.1:${gateway.port}/`);
    ctx.expect(page.status).toBe(200);
    ctx.expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    await page.text();
    const { client, welcome } = await wsClient(ctx, gateway.port, await devToken(gateway));
    ctx.expect(welcome.data?.user_id).toBe('demo');
    const events = await runThrough(client, 'm1', { text: 'What is 17 * 23?' });
    const tools = events.filter((e) => e.type === 'tool_completed').map((e) => e.data?.tool_name);
    ctx.expect(tools, 'the demo agent calls two tools').toEqual(['web_search', 'calculator']);
    ctx.expect(events.some((e) => e.type === 'stream_chunk')).toBe(true);
    ctx.expect(events.at(-1)?.data).toMatchObject({ status: 'succeeded' });
    ctx.expect(events.at(-1)?.data?.final_response).toContain('17 * 23 = 391');
  });

  it.skipIf(!hasPython)(
    'README "Publish from a backend": serve, token, curl and the Python snippet against one gateway',
    async (ctx) => {
      const session = new DocSession('README "Publish from a backend"');
      cleanup(ctx, () => session.close());
      const commands = parseShell(PUBLISH_SERVE);
      const outcomes = await session.runAll(commands);
      expect(outcomes.map((o) => o.kind)).toEqual(['setup', 'server', 'exit']);
      const gateway = serverOf(outcomes[1]);
      const token = exitOf(outcomes[2]);
      ctx.expect(token.code, token.stderr).toBe(0);
      const apiKey = flagValue(gateway.command, '--api-key');

      // The token is for u1 and this gateway accepts it.
      const { client, welcome } = await wsClient(ctx, gateway.port, token.stdout.trim());
      ctx.expect(welcome.data?.user_id).toBe('u1');

      // curl: the body is the one its comment shows (a 202's: errors are {"error":…}).
      const [curl] = await session.runAll(parseShell(PUBLISH_CURL));
      const published = exitOf(curl);
      ctx.expect(published.code, published.stderr).toBe(0);
      const shown = /^# (\d{3}) (.+)$/m.exec(PUBLISH_CURL.text);
      ctx.expect(shown?.[1], 'the comment shows the status').toBe('202');
      ctx
        .expect(sampleDifferences(JSON.parse(published.stdout), JSON.parse(shown?.[2] ?? ''), true))
        .toEqual([]);
      const live = await client.next('agent_thinking', 5000);
      ctx.expect(live).toMatchObject({ seq: 1, run_id: 'r_1', data: { reasoning: 'Looking it up' } });

      // The Python snippet, as written but for the port, with the package of python/ (what `pip install
      // ./python` installs): a run's event, one of no run, then a whole run.
      const python = await runWithInput(
        'python3',
        ['-'],
        session.substitute(PUBLISH_PYTHON.text),
        undefined,
        {
          PYTHONPATH: join(ROOT, 'python'),
          PYTHONDONTWRITEBYTECODE: '1',
        },
      );
      ctx.expect(python, 'the snippet runs without an error').toMatchObject({ code: 0, stderr: '' });
      const history = await historyOf(gateway.port, 'u1', apiKey);
      ctx
        .expect(history.map((e) => [e.seq, e.type, e.run_id]))
        .toEqual([
          [1, 'agent_thinking', 'r_1'],
          [2, 'tool_executing', 'r_1'],
          [3, 'notification', undefined],
          ...['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'].map(
            (type, i) => [4 + i, type, history[3]?.run_id],
          ),
        ]);
      ctx.expect(history.at(-1)?.data).toEqual({ status: 'succeeded', final_response: 'Found 3 pages.' });
      ctx.expect(history[1]?.data).toEqual({
        tool_name: 'search',
        tool_args: { q: 'agentcast' },
        execution_id: 'x1',
      });
      ctx.expect((await client.next('notification', 5000)).data).toEqual({ text: 'Your report is ready' });
    },
  );

  it.skipIf(!hasPython)(
    'README webhook backend: a run completes through examples/python_backend.py',
    async (ctx) => {
      const session = new DocSession('README webhook');
      cleanup(ctx, () => session.close());
      const outcomes = await session.runAll(parseShell(WEBHOOK));
      expect(outcomes.map((o) => serverOf(o).kind)).toEqual(['python', 'gateway']);
      const gateway = serverOf(outcomes[1]);
      const { client } = await wsClient(ctx, gateway.port, await devToken(gateway));
      const events = await runThrough(client, 'm1', { text: WEBHOOK_TEXT });
      ctx
        .expect(events.map((e) => e.type))
        .toEqual([...GOLDEN_PATH, 'stream_chunk', 'stream_chunk', 'stream_chunk', 'agent_completed']);
      ctx.expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: WEBHOOK_ANSWER });
    },
  );

  it.skipIf(!hasPython)(
    'docs/agents.md "The Python example": both backend formats through the gateway, and publish',
    async (ctx) => {
      const commands = parseShell(AGENTS_PYTHON);
      const serveEvents = commands.find((c) => c.words[2] === 'serve' && !c.words.includes('--format'));
      const serveAgUi = commandWith(commands, 'serve', '--format', 'ag-ui');
      const gatewayCmd = commandWith(commands, 'agentcast', 'serve');
      const publish = commandWith(commands, 'publish');
      // Every command of the block is run: the two backends are alternatives on one port, so each gets a
      // gateway of its own.
      expect(commands).toEqual([serveEvents, serveAgUi, gatewayCmd, publish]);

      const viaEvents = async (): Promise<void> => {
        const session = new DocSession('docs/agents.md, agentcast events');
        cleanup(ctx, () => session.close());
        const [, gwOutcome] = await session.runAll([serveEvents as ShellCommand, gatewayCmd]);
        const gateway = serverOf(gwOutcome);
        const { client } = await wsClient(ctx, gateway.port, await devToken(gateway));
        const [events, published] = await Promise.all([
          runThrough(client, 'm1', { text: WEBHOOK_TEXT }),
          session.run(publish),
        ]);
        ctx.expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: WEBHOOK_ANSWER });
        ctx.expect(exitOf(published).code, exitOf(published).stderr).toBe(0);
        const history = await historyOf(
          gateway.port,
          flagValue(publish, '--user'),
          flagValue(publish, '--api-key'),
        );
        ctx
          .expect(history.map((e) => e.type))
          .toEqual([...GOLDEN_PATH, 'stream_chunk', 'stream_chunk', 'stream_chunk', 'agent_completed']);
        ctx.expect(new Set(history.map((e) => e.run_id)).size, 'one run').toBe(1);
      };
      const viaAgUi = async (): Promise<void> => {
        const session = new DocSession('docs/agents.md, AG-UI');
        cleanup(ctx, () => session.close());
        const [, gwOutcome] = await session.runAll([serveAgUi, gatewayCmd]);
        const gateway = serverOf(gwOutcome);
        const { client } = await wsClient(ctx, gateway.port, await devToken(gateway));
        const events = await runThrough(client, 'm1', { text: WEBHOOK_TEXT });
        ctx
          .expect(events.map((e) => e.type))
          .toEqual([...GOLDEN_PATH, 'stream_chunk', 'stream_chunk', 'stream_chunk', 'agent_completed']);
        ctx.expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: WEBHOOK_ANSWER });
      };
      await Promise.all([viaEvents(), viaAgUi()]);
    },
  );

  it('README "Run two nodes with Redis": both nodes answer, and an event published on one reaches a client of the other', async (ctx) => {
    if (!(await requireRedis(REDIS_URL, 'README two nodes'))) return ctx.skip();
    const prefix = uniquePrefix('docs-blocks');
    const session = new DocSession('README two nodes', {
      env: { AGENTCAST_REDIS_KEY_PREFIX: prefix },
      rewrites: [['redis://127.0.0.1:6379', REDIS_URL]],
    });
    cleanup(ctx, async () => {
      await session.close();
      await deleteKeys(REDIS_URL, `${prefix}*`);
    });
    const commands = parseShell(TWO_NODES);
    const outcomes = await session.runAll(commands);
    const [nodeA, nodeB] = [serverOf(outcomes[1]), serverOf(outcomes[2])];
    const exported = commands[0]?.env ?? {};
    for (const node of [nodeA, nodeB]) {
      ctx.expect((await fetch(`http://127.0.0.1:${node.port}/healthz`)).status).toBe(200);
      await readyz(node.port);
    }
    const token = await signHs256(exported.AGENTCAST_JWT_SECRET ?? '', claimsFor('u1'));
    const onB = await wsClient(ctx, nodeB.port, token);
    ctx.expect(onB.welcome.data?.server_id).toBe('node-b');
    const res = await fetch(`http://127.0.0.1:${nodeA.port}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${exported.AGENTCAST_API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        user_id: 'u1',
        type: 'agent_thinking',
        run_id: 'r_1',
        data: { reasoning: 'on A' },
      }),
    });
    ctx.expect(res.status).toBe(202);
    ctx
      .expect(await onB.client.next('agent_thinking', 5000))
      .toMatchObject({ seq: 1, data: { reasoning: 'on A' } });
  });

  it('packages/server/README.md "Run it": --version, serve, token, --help', async (ctx) => {
    const session = new DocSession('server README');
    cleanup(ctx, () => session.close());
    const outcomes = await session.runAll(parseShell(SERVER_RUN));
    const [version, serve, token, help] = [
      exitOf(outcomes[0]),
      serverOf(outcomes[1]),
      exitOf(outcomes[2]),
      exitOf(outcomes[3]),
    ];
    const manifest = JSON.parse(read('packages/server/package.json')) as { version: string };
    ctx.expect(version).toMatchObject({ code: 0, stdout: manifest.version });
    ctx.expect(token.code, token.stderr).toBe(0);
    const { welcome } = await wsClient(ctx, serve.port, token.stdout.trim());
    ctx.expect(welcome.data?.user_id, 'a client JWT for user u1').toBe('u1');
    const res = await fetch(`http://127.0.0.1:${serve.port}/v1/stats`, {
      headers: { Authorization: `Bearer ${flagValue(serve.command, '--api-key')}` },
    });
    ctx.expect(res.status, 'the API key opens the HTTP API').toBe(200);
    ctx.expect(help.code).toBe(0);
    // "every flag, with its env variable and default"
    ctx.expect(help.stdout).toMatch(/--port <n> .*\[default: 8080\]\n\s+env AGENTCAST_PORT\n/);
  });

  it('docs/security.md: the error samples are what agentcast prints', async (ctx) => {
    const cases = [
      {
        block: excused('docs/security.md', 'origins[0] "https://*example.com"'),
        args: ['--origins', 'https://*example.com'],
      },
      {
        block: excused('docs/security.md', 'origins[1] "http://app.io"'),
        args: [
          '--env',
          'production',
          '--jwt-secret',
          'a-secret-that-is-long-enough-0123456789',
          '--api-key',
          'an-api-key-0123456789',
          '--origins',
          'https://app.example.com,http://app.io',
        ],
      },
    ];
    await Promise.all(
      cases.map(async ({ block, args }) => {
        const env = Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('AGENTCAST_')),
        );
        const failed = await execFileAsync(process.execPath, [CLI_PATH, 'serve', '--port', '0', ...args], {
          env,
          timeout: 15_000,
        }).then(
          () => ({ code: 0, stderr: '' }),
          (err: { code: number; stderr: string }) => err,
        );
        ctx.expect(failed.code, 'invalid configuration exits 2').toBe(2);
        ctx.expect(failed.stderr.split('\n'), where(block)).toContain(`  - ${block.text.trim()}`);
      }),
    );
  });
});

/** Polls /readyz until 200, bounded: a node with Redis is ready once its engine is. */
async function readyz(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.text();
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`/readyz of port ${port} still ${res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Package names in the docs' TypeScript, resolved to the packages' sources as every test does. */
const SOURCES: Readonly<Record<string, string>> = {
  '@agentcast/server': join(ROOT, 'packages/server/src/index.ts'),
  '@agentcast/client': join(ROOT, 'packages/client/src/index.ts'),
};

/**
 * Imports a TypeScript block as a module: written to a temporary .ts file with its `@agentcast/*`
 * imports pointed at the sources and its top-level names exported, then imported (vitest transpiles it).
 */
async function importBlock(ctx: TestContext, block: DocBlock): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'agentcast-doc-ts-'));
  cleanup(ctx, () => rmSync(dir, { recursive: true, force: true }));
  let source = block.text.replace(/from '(@agentcast\/[\w-]+)'/g, (_whole, name: string) => {
    const path = SOURCES[name];
    if (path === undefined) throw new Error(`${where(block)}: no sources for ${name}`);
    return `from '${path}'`;
  });
  const exported = new Set(
    [...source.matchAll(/^export\s+(?:const|let|function|class)\s+(\w+)/gm)].map((m) => m[1]),
  );
  const rest = topLevelNames(source).filter((name) => !exported.has(name));
  if (rest.length > 0) source += `\nexport { ${rest.join(', ')} };\n`;
  const file = join(dir, `${block.file.replace(/\W/g, '_')}_${block.line}.ts`);
  writeFileSync(file, source);
  return (await import(file)) as Record<string, unknown>;
}

describe.concurrent('TypeScript blocks, imported against the sources', () => {
  it('packages/server/README.md "Or embed it": the gateway listens and runs the echo agent', async (ctx) => {
    // The block reads AGENTCAST_* from process.env: the port is the one thing the test sets there.
    const saved = { port: process.env.AGENTCAST_PORT, log: process.env.AGENTCAST_LOG_LEVEL };
    process.env.AGENTCAST_PORT = '0';
    process.env.AGENTCAST_LOG_LEVEL = 'silent';
    let mod: Record<string, unknown>;
    try {
      mod = await importBlock(ctx, SERVER_EMBED);
    } finally {
      restoreEnv('AGENTCAST_PORT', saved.port);
      restoreEnv('AGENTCAST_LOG_LEVEL', saved.log);
    }
    const gateway = mod.gateway as Gateway;
    cleanup(ctx, () => gateway.close());
    const { host, port } = gateway.addresses();
    ctx.expect(host).toBe('127.0.0.1');
    const secret = /jwtSecret: '([^']+)'/.exec(SERVER_EMBED.text)?.[1] ?? '';
    const { client } = await wsClient(ctx, port, await signHs256(secret, claimsFor('u1')));
    const events = await runThrough(client, 'm1', { text: 'hello', agent: 'echo' });
    ctx.expect(events.map((e) => [e.type, e.data])).toEqual([
      ['agent_started', expect.objectContaining({ agent_name: 'echo' })],
      ['stream_chunk', { text: 'you said: hello' }],
      ['agent_completed', expect.objectContaining({ status: 'succeeded' })],
    ]);
  });

  it('docs/embedding.md "Example": the shout agent answers by default, the demo by name, and the publish is stored', async (ctx) => {
    // Like the CLI, the block reads AGENTCAST_* from process.env: the test sets the port (and quiet, fast).
    const saved = ['AGENTCAST_PORT', 'AGENTCAST_LOG_LEVEL', 'AGENTCAST_DEMO_DELAY_MS'].map(
      (name) => [name, process.env[name]] as const,
    );
    Object.assign(process.env, {
      AGENTCAST_PORT: '0',
      AGENTCAST_LOG_LEVEL: 'silent',
      AGENTCAST_DEMO_DELAY_MS: '0',
    });
    let mod: Record<string, unknown>;
    try {
      mod = await importBlock(ctx, EMBEDDING);
    } finally {
      for (const [name, value] of saved) restoreEnv(name, value);
    }
    const gateway = mod.gateway as Gateway;
    cleanup(ctx, () => gateway.close());
    const { port } = gateway.addresses();
    const { client, welcome } = await wsClient(ctx, port, mod.token as string);
    ctx.expect(welcome.data).toMatchObject({ user_id: 'u1' });
    const events = await runThrough(client, 'm1', { text: 'hello' });
    ctx.expect(events.map((e) => e.type)).toEqual([...GOLDEN_PATH, 'stream_chunk', 'agent_completed']);
    ctx.expect(events[0]?.data).toMatchObject({ agent_name: 'shout' });
    ctx.expect(events[2]?.data).toMatchObject({ tool_name: 'upper_case', tool_args: { text: 'hello' } });
    ctx.expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: 'HELLO!' });
    const demo = await runThrough(client, 'm2', { text: 'What is 6 times 7?', agent: 'demo' });
    ctx.expect(demo.at(-1)?.data?.final_response).toContain('6 * 7 = 42.');
    const history = await gateway.engine.history('u1', { since: 0, limit: 1 });
    ctx.expect(history.kind === 'ok' ? history.events[0] : history).toMatchObject({
      seq: 1,
      type: 'notification',
      data: { text: 'the gateway is up' },
    });
  });

  it('docs/agents.md "Writing an agent": the weather agent runs in a gateway, its tool through ctx.tool', async (ctx) => {
    const calls: Array<[string, boolean]> = [];
    const g = globalThis as { fetchForecast?: unknown };
    // The one name the block leaves to the reader: their forecast service.
    g.fetchForecast = async (city: string, signal: unknown) => {
      calls.push([city, signal instanceof AbortSignal]);
      return { summary: 'sunny' };
    };
    cleanup(ctx, () => delete g.fetchForecast);
    const { weather } = await importBlock(ctx, AGENT_WEATHER);
    const gw = await startGateway({}, { agents: [weather as AgentDefinition] });
    cleanup(ctx, () => gw.close());
    const client = await gw.connect('u1');
    const events = await runThrough(client, 'm1', { text: 'Oslo tomorrow?', agent: 'weather' });
    ctx.expect(events.map((e) => e.type)).toEqual([...GOLDEN_PATH, 'stream_chunk', 'agent_completed']);
    ctx.expect(events[1]?.data).toEqual({ reasoning: 'Looking up: Oslo tomorrow?' });
    ctx.expect(events[2]?.data).toMatchObject({ tool_name: 'forecast', tool_args: { city: 'Oslo' } });
    ctx
      .expect(events[3]?.data)
      .toMatchObject({ tool_name: 'forecast', success: true, results: { summary: 'sunny' } });
    ctx.expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: 'It will be sunny.' });
    ctx.expect(calls, 'the tool got an AbortSignal').toEqual([['Oslo', true]]);
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

describe.concurrent('samples and synopses, compared with the real thing', () => {
  it('wire samples match real frames: the welcome, an event, the webhook request', async (ctx) => {
    const bodies: Array<{ req: IncomingMessage; body: string }> = [];
    const backend = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push({ req, body });
        res.writeHead(401).end();
      });
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    cleanup(ctx, () => new Promise((resolve) => backend.close(resolve)));
    const agentUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/agent`;
    const gw = await startGateway({ agentUrl, agentSecret: 'a-secret' });
    cleanup(ctx, () => gw.close());
    const client = await gw.connect('u1');
    const sampleOf = (contains: string): unknown =>
      JSON.parse(
        excused(contains.startsWith('{"run_id"') ? 'docs/agents.md' : 'docs/protocol.md', contains).text,
      );

    const welcome = client.frames.find((f) => f.type === 'welcome');
    ctx.expect(sampleDifferences(welcome, sampleOf('{"type":"welcome"'))).toEqual([]);

    await gw.publish({ user_id: 'u1', type: 'agent_thinking', run_id: 'r_1', data: { reasoning: 'x' } });
    const event = await client.next('agent_thinking');
    ctx.expect(sampleDifferences(event, sampleOf('{"type":"agent_thinking","seq":43'))).toEqual([]);

    const run = (type: string, data: Record<string, unknown>) => ({
      user_id: 'u1',
      run_id: 'r_9',
      type,
      data,
    });
    await gw.publish({
      events: [
        run('agent_started', { agent_name: 'demo', task_description: 'What is 6 * 7?', thread_id: 't1' }),
        run('agent_thinking', { reasoning: 'Plan: multiply.' }),
        run('tool_executing', {
          tool_name: 'calculator',
          tool_args: { expression: '6 * 7' },
          execution_id: 'x1',
        }),
        run('tool_completed', {
          tool_name: 'calculator',
          execution_id: 'x1',
          success: true,
          results: { value: 42 },
          duration_ms: 3,
        }),
        run('stream_chunk', { text: '6 * 7 = ' }),
      ],
    });
    const snapshot = await fetch(`${gw.httpUrl}/v1/runs/r_9?user_id=u1`, {
      headers: { Authorization: `Bearer ${TEST_API_KEY}` },
    });
    ctx
      .expect(
        sampleDifferences(
          await snapshot.json(),
          JSON.parse(excused('docs/protocol.md', '{"run_id":"r_1","thread_id":"t1"').text),
        ),
      )
      .toEqual([]);

    await runThrough(client, 'm1', { text: 'hello', agent: 'webhook' });
    const [request] = bodies;
    ctx.expect(request?.req.method).toBe('POST');
    ctx.expect(request?.req.headers['content-type']).toBe('application/json');
    ctx.expect(request?.req.headers.accept).toBe('application/x-ndjson, application/json');
    ctx
      .expect(sampleDifferences(JSON.parse(request?.body ?? ''), sampleOf('{"run_id":"r_…","user_id":"u1"')))
      .toEqual([]);
  });

  it('synopses name real methods: docs/client.md, docs/agents.md, and RunView in packages/react/README.md', async (ctx) => {
    const clientApi = excused('docs/client.md', 'connect(options: ConnectOptions): AgentcastClient').text;
    const client = connectClient({
      url: 'ws://127.0.0.1:9/ws',
      getToken: async () => 'never-used',
      WebSocket: WebSocket as never,
    });
    cleanup(ctx, () => client.close());
    const clientNames = [...new Set([...clientApi.matchAll(/^client\.(\w+)/gm)].map((m) => m[1] as string))];
    ctx.expect(clientNames.length).toBeGreaterThan(8);
    ctx
      .expect(
        clientNames.filter((name) => !(name in client)),
        'named in docs/client.md, missing on a client',
      )
      .toEqual([]);

    const runtimeApi = excused('docs/agents.md', 'const runtime = new AgentRuntime({').text;
    const runtimeNames = [
      ...new Set([...runtimeApi.matchAll(/\bruntime\.(\w+)\(/g)].map((m) => m[1] as string)),
    ];
    ctx.expect(runtimeNames).toEqual(['start', 'cancel', 'drain', 'activeRuns', 'close']);
    const proto = AgentRuntime.prototype as unknown as Record<string, unknown>;
    ctx.expect(runtimeNames.filter((name) => typeof proto[name] !== 'function')).toEqual([]);

    // RunView and ToolCall: the fields declared are the fields of a real assembled run (optional ones may
    // be absent).
    const declared = (name: string): { all: string[]; required: string[] } => {
      const body = new RegExp(`interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(
        excused('packages/react/README.md', 'interface RunView {').text,
      )?.[1];
      // Top-level fields only: comments and nested object types removed first.
      let flat = (body ?? '').replace(/\/\/.*$/gm, '');
      while (/\{[^{}]*\}/.test(flat)) flat = flat.replace(/\{[^{}]*\}/g, '');
      const fields = [...flat.matchAll(/(\w+)(\??):/g)].map((m) => ({
        name: m[1] as string,
        optional: m[2] === '?',
      }));
      return {
        all: fields.map((f) => f.name),
        required: fields.filter((f) => !f.optional).map((f) => f.name),
      };
    };
    const event = (seq: number, type: string, data: Record<string, unknown>) => ({
      type,
      seq,
      epoch: 'e_1',
      ts: '2026-01-01T00:00:00.000Z',
      run_id: 'r_1',
      data,
    });
    const view = assembleRun('r_1', [
      event(1, 'agent_started', { agent_name: 'demo', task_description: 'x' }),
      event(2, 'tool_executing', { tool_name: 't', tool_args: {}, execution_id: 'x1' }),
      event(3, 'tool_completed', {
        tool_name: 't',
        execution_id: 'x1',
        success: true,
        results: 1,
        duration_ms: 1,
      }),
      event(4, 'agent_completed', { status: 'succeeded', final_response: 'done' }),
    ] as never);
    const runView = declared('RunView');
    const toolCall = declared('ToolCall');
    const tool = view.tools[0] as object;
    ctx.expect(Object.keys(view).sort()).toEqual([...runView.all].sort());
    ctx.expect(toolCall.required.filter((k) => !(k in tool))).toEqual([]);
    ctx.expect(Object.keys(tool).filter((k) => !toolCall.all.includes(k))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Browser blocks: bundled with esbuild as they are and run in Chromium, in a page served over HTTPS (the
// blocks say `wss://${location.host}/ws`) by a server that also answers `/my-app/agentcast-token` and
// passes /ws to a real gateway running the demo agent: what the app around the block would do.

interface Tls {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed certificate for 127.0.0.1 (Chromium's context ignores that it is self-signed). */
async function selfSigned(dir: string): Promise<Tls> {
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  const openssl = (args: string[]) =>
    execFileAsync('openssl', args).catch((err: Error) => {
      throw new Error(
        `openssl makes the HTTPS page of the browser blocks (apt-get install openssl): ${err.message}`,
      );
    });
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

/** Bundles a block for the browser; `@agentcast/*` resolve to the packages' sources. */
async function bundle(block: DocBlock, entry?: string): Promise<string> {
  return bundleForBrowser({
    stdin: {
      contents: entry ?? block.text,
      resolveDir: ROOT,
      sourcefile: where(block),
      loader: entry === undefined ? (block.lang === 'tsx' ? 'tsx' : 'js') : 'tsx',
    },
    plugins: [
      {
        name: 'doc-block',
        setup(b) {
          b.onResolve({ filter: /^doc-block$/ }, () => ({ path: where(block), namespace: 'doc-block' }));
          b.onLoad({ filter: /.*/, namespace: 'doc-block' }, () => ({
            contents: block.text,
            loader: 'tsx',
            resolveDir: ROOT,
          }));
        },
      },
    ],
    alias: {
      '@agentcast/client': join(ROOT, 'packages/client/src/index.ts'),
      '@agentcast/react': join(ROOT, 'packages/react/src/index.ts'),
    },
  });
}

/**
 * The page around the plain-JS blocks: the elements and functions they use (`badge`, `form`, `input`,
 * `stopButton`, `timeline`, `appendToAnswer`, `finishRun`, `reloadConversationFromYourApi`), each call
 * recorded in `window.calls`.
 */
const JS_PAGE = `<!doctype html><meta charset="utf-8"><title>docs block</title>
<span id="badge"></span>
<form id="form"><input id="input" value="What is 6 * 7?"><button id="send">Send</button></form>
<button id="stopButton">Stop</button>
<script>
  window.calls = [];
  window.timeline = { upsert: (seq, ev) => calls.push({ fn: 'timeline.upsert', seq, type: ev.type, runId: ev.run_id }) };
  window.appendToAnswer = (runId, text) => calls.push({ fn: 'appendToAnswer', runId, text });
  window.finishRun = (runId, status) => calls.push({ fn: 'finishRun', runId, status });
  window.reloadConversationFromYourApi = () => calls.push({ fn: 'reload' });
</script>
<script type="module" src="/block.js"></script>`;
const REACT_PAGE = `<!doctype html><meta charset="utf-8"><title>docs block</title><div id="root"></div>
<script type="module" src="/block.js"></script>`;
const REACT_ENTRY = `import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Root } from 'doc-block';
createRoot(document.getElementById('root')).render(<StrictMode><Root /></StrictMode>);`;

interface Call {
  readonly fn: string;
  readonly runId?: string;
  readonly status?: string;
  readonly text?: string;
  readonly seq?: number;
  readonly type?: string;
}

/** Serves one block's page for `user` over HTTPS, with its token route, and passes /ws to the gateway. */
async function servePage(
  tls: Tls,
  gw: Harness,
  user: string,
  html: string,
  script: string,
): Promise<{ origin: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createHttpsServer(tls, (req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else if (req.url === '/block.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url === '/my-app/agentcast-token')
      void gw
        .token(user)
        .then((token) =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token })),
        );
    else if (req.url === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const upstream = netConnect(gw.port, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        socket.destroy();
        upstream.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Resolves with the first recorded call that has every field of `equal` and none of `not`. */
async function call(page: Page, equal: Partial<Call>, not: Partial<Call> = {}): Promise<Call> {
  const handle = await page.waitForFunction(
    ([eq, ne]) =>
      (window as unknown as { calls: Call[] }).calls.find(
        (c) =>
          Object.entries(eq).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] === v) &&
          Object.entries(ne).every(([k, v]) => (c as unknown as Record<string, unknown>)[k] !== v),
      ),
    [equal, not] as const,
    { timeout: 15_000 },
  );
  return (await handle.jsonValue()) as Call;
}

const callsOf = (page: Page): Promise<Call[]> =>
  page.evaluate(() => (window as unknown as { calls: Call[] }).calls);

describe.skipIf(skipBrowserTests())(
  'browser blocks, bundled and run in Chromium',
  { timeout: 45_000 },
  () => {
    let browser: Browser | undefined;
    let gw: Harness | undefined;
    let tls: Tls | undefined;
    let dir = '';

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'agentcast-doc-tls-'));
      [browser, gw, tls] = await Promise.all([
        launchChromium(),
        startGateway({ demoDelayMs: 200 }),
        selfSigned(dir),
      ]);
    });
    afterAll(async () => {
      await browser?.close();
      await gw?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Opens `block` in a fresh context as `user`; page errors fail the test at its end. */
    async function open(ctx: TestContext, block: DocBlock, user: string): Promise<Page> {
      const isReact = block.lang === 'tsx';
      const script = await bundle(block, isReact ? REACT_ENTRY : undefined);
      const site = await servePage(tls as Tls, gw as Harness, user, isReact ? REACT_PAGE : JS_PAGE, script);
      const context = await (browser as Browser).newContext({ ignoreHTTPSErrors: true });
      cleanup(ctx, async () => {
        await context.close();
        await site.close();
      });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
      });
      cleanup(ctx, () => ctx.expect(errors, `errors in the page of ${where(block)}`).toEqual([]));
      await page.goto(`${site.origin}/`);
      return page;
    }

    /**
     * Drives the plain-JS blocks with a form: the badge shows the state, a message runs to `succeeded` with
     * its chunks appended, a second one is cancelled with the Stop button, and the timeline got every event
     * once, in seq order.
     */
    async function driveForm(ctx: TestContext, page: Page): Promise<void> {
      await page.locator('#badge', { hasText: /^open$/ }).waitFor();
      await page.click('#send');
      const first = await call(page, { fn: 'finishRun' });
      ctx.expect(first.status).toBe('succeeded');
      const answer = (await callsOf(page)).filter(
        (c) => c.fn === 'appendToAnswer' && c.runId === first.runId,
      );
      ctx.expect(answer.map((c) => c.text).join('')).toContain('6 * 7 = 42');
      await page.click('#send');
      // The second run's first event: its ack came before it, so the Stop button cancels that run now.
      const second = await call(
        page,
        { fn: 'timeline.upsert', type: 'agent_started' },
        { runId: first.runId },
      );
      await page.click('#stopButton');
      ctx
        .expect(await call(page, { fn: 'finishRun', runId: second.runId }))
        .toMatchObject({ status: 'cancelled' });
      const calls = await callsOf(page);
      const seqs = calls.filter((c) => c.fn === 'timeline.upsert').map((c) => c.seq);
      ctx.expect(seqs, 'every event once, in seq order').toEqual(seqs.map((_, i) => i + 1));
      ctx.expect(calls.filter((c) => c.fn === 'reload')).toEqual([]);
    }

    it.concurrent('README "Front end": the plain-JS client', async (ctx) => {
      await driveForm(ctx, await open(ctx, FRONT_END, 'readme-front-end'));
    });

    it.concurrent('docs/client.md "Example (plain JS)"', async (ctx) => {
      await driveForm(ctx, await open(ctx, CLIENT_DOC, 'client-doc'));
    });

    it.concurrent('packages/client/README.md "Use": the message sent at load runs to its end', async (ctx) => {
      const page = await open(ctx, CLIENT_README, 'client-readme');
      const done = await call(page, { fn: 'finishRun' });
      ctx.expect(done.status).toBe('succeeded');
      const answer = (await callsOf(page)).filter((c) => c.fn === 'appendToAnswer' && c.runId === done.runId);
      ctx.expect(answer.map((c) => c.text).join('')).toContain('6 * 7 = 42');
    });

    it.concurrent('packages/react/README.md "Example": Root renders a run, and Stop cancels one', async (ctx) => {
      const page = await open(ctx, REACT_EXAMPLE, 'react-readme');
      await page.getByText('connection: open').waitFor();
      await page.getByRole('button', { name: 'Ask' }).click();
      await page.getByText('17 * 23 = 391').waitFor();
      // The answer streams while the run is still running; Stop goes when agent_completed arrives.
      await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' });
      ctx.expect(await page.locator('li').allTextContents()).toEqual(['web_search ✓', 'calculator ✓']);
      await page.getByRole('button', { name: 'Ask' }).click();
      await page.getByRole('button', { name: 'Stop' }).click();
      await page.getByRole('alert').filter({ hasText: 'cancelled by the user' }).waitFor();
      ctx.expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
    });
  },
);
