import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookAgent } from '../../../packages/server/src/agents/webhook-agent.js';
import { parseNewEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { parsePublishBody } from '../../../packages/server/src/protocol/publish.js';
import { harness } from '../../unit/agents/support/harness.js';
import { runEvents } from '../../unit/agents/support/run-events.js';
import { localBackend } from './local-backend.js';

const SCRIPT = new URL('../../../examples/python_backend.py', import.meta.url).pathname;
const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython) console.warn('SKIPPED: examples/python_backend.py tests need python3 on PATH');

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Starts `python_backend.py serve` on a free port and resolves with its URL. */
async function serve(args: readonly string[]): Promise<string> {
  const child = spawn('python3', [SCRIPT, 'serve', '--port', '0', '--pause', '0.005', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => stop(child));
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const match = /^listening on (http:\/\/\S+)$/.exec(first);
  if (match?.[1] === undefined) throw new Error(`python backend printed "${first}" instead of its URL`);
  return match[1];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function runAgainst(url: string, secret: string): Promise<StoredEvent[]> {
  const h = harness({
    agents: [createWebhookAgent({ url, secret, stallTimeoutMs: 5_000 })],
    defaultAgent: 'webhook',
  });
  cleanup.push(() => h.runtime.close());
  const result = await h.runtime.start('u1', { messageId: 'm1', text: 'count these four words' });
  if (!result.ok) throw new Error(result.message);
  return runEvents(h.engine, 'u1', result.runId);
}

const answer = 'Your message has 4 words and 22 characters.';

describe.skipIf(!hasPython)('examples/python_backend.py', () => {
  it('serve: verifies the signature and streams the golden path as agentcast NDJSON', async () => {
    const url = await serve(['--secret', 's3cret']);
    const events = await runAgainst(url, 's3cret');
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'tool_executing',
      'tool_completed',
      'stream_chunk',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[3]?.data).toMatchObject({
      tool_name: 'word_count',
      success: true,
      results: { words: 4, characters: 22 },
    });
    expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: answer });
  });

  it('serve --format ag-ui: streams AG-UI events that map onto the same run', async () => {
    const url = await serve(['--secret', 's3cret', '--format', 'ag-ui']);
    const events = await runAgainst(url, 's3cret');
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'tool_executing',
      'tool_completed',
      'stream_chunk',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[2]?.data).toEqual({
      tool_name: 'word_count',
      tool_args: { text: 'count these four words' },
      execution_id: 'x_py_1',
    });
    expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: answer });
  });

  it('serve: refuses a request signed with another secret (WEBHOOK_HTTP_401)', async () => {
    const url = await serve(['--secret', 's3cret']);
    const events = await runAgainst(url, 'wrong');
    expect(events.at(-1)?.data).toEqual({
      status: 'failed',
      final_response: null,
      error: { code: 'WEBHOOK_HTTP_401', message: 'backend answered HTTP 401' },
    });
  });

  it('publish: sends the run to POST /v1/publish with the API key, one valid event per request', async () => {
    const gateway = await localBackend((_request, res) => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"results":[{"seq":1,"epoch":"e_1"}]}');
    });
    cleanup.push(() => gateway.close());
    const base = gateway.url.replace(/\/agent$/, '');
    const child = spawn(
      'python3',
      [
        SCRIPT,
        'publish',
        '--gateway',
        base,
        '--api-key',
        'k1',
        '--user',
        'u7',
        '--run-id',
        'r_py',
        '--pause',
        '0',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    // The run first asks whether the gateway takes streamed publishes (an empty NDJSON stream,
    // docs/protocol.md D); this stand-in answers as a gateway without them, so each event is its own POST.
    const [probe, ...requests] = gateway.requests;
    expect([probe?.req.headers['content-type'], probe?.body]).toEqual(['application/x-ndjson', '']);
    expect(requests.map((r) => [r.req.method, r.req.url, r.req.headers.authorization])).toEqual(
      Array(8).fill(['POST', '/v1/publish', 'Bearer k1']),
    );
    const items = requests.map((r) => {
      const parsed = parsePublishBody(JSON.parse(r.body));
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value[0];
    });
    expect(items.map((i) => i?.event.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'tool_executing',
      'tool_completed',
      'stream_chunk',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(items.every((i) => i?.userId === 'u7' && i.event.run_id === 'r_py')).toBe(true);
    expect(items.every((i) => parseNewEvent(i?.event).ok)).toBe(true);
    // Every publish of the package carries its own Idempotency-Key, so a retry never duplicates it.
    const keys = requests.map((r) => r.req.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(8);
    expect(keys.every((k) => typeof k === 'string' && /^[0-9a-f-]{36}$/.test(k))).toBe(true);
  });
});
