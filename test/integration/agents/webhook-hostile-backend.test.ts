import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookAgent, type WebhookAgentOptions } from '../../../src/agents/webhook-agent.js';
import { type Logger, silentLogger } from '../../../src/observability/logger.js';
import { runErrorSchema, type StoredEvent } from '../../../src/protocol/events.js';
import { type Client, type Frame, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';
import { harness } from '../../unit/agents/support/harness.js';
import { runEvents } from '../../unit/agents/support/run-events.js';
import { type LocalBackend, line, localBackend } from './local-backend.js';

/**
 * A webhook backend is only as trusted as its URL: these tests play a hostile or broken one (issue 13)
 * and check that the gateway bounds what it holds, never follows the backend elsewhere, and shows users
 * no internal detail.
 */

const SECRET = 'test-secret';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function backend(handle: Parameters<typeof localBackend>[0]): Promise<LocalBackend> {
  const b = await localBackend(handle);
  cleanup.push(() => b.close());
  return b;
}

/** Runs one message through a runtime with the webhook agent and returns the run's stored events. */
async function runAgainst(
  url: string,
  options: Partial<WebhookAgentOptions> = {},
  log: Logger = silentLogger(),
): Promise<StoredEvent[]> {
  const h = harness({
    agents: [createWebhookAgent({ url, secret: SECRET, stallTimeoutMs: 5_000, ...options })],
    defaultAgent: 'webhook',
    log,
  });
  cleanup.push(() => h.runtime.close());
  const result = await h.runtime.start('u1', { messageId: 'm1', text: 'hello' });
  if (!result.ok) throw new Error(result.message);
  return runEvents(h.engine, 'u1', result.runId, 10_000);
}

/** The data of the run's one agent_completed, which must be its last event. */
function ending(events: readonly StoredEvent[]) {
  expect(events.filter((e) => e.type === 'agent_completed')).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('agent_completed');
  return events.at(-1)?.data as Record<string, unknown>;
}

describe('webhook agent against a hostile backend: redirects', () => {
  it('does not follow a 307: the run ends failed / WEBHOOK_HTTP_307 and the target receives nothing', async () => {
    const target = await backend((_request, res) => {
      res.writeHead(200);
      res.end(line({ type: 'agent_completed', data: { status: 'succeeded', final_response: 'stolen' } }));
    });
    const first = await backend((_request, res) => {
      res.writeHead(307, { location: target.url });
      res.end();
    });
    const events = await runAgainst(first.url);
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: null,
      error: { code: 'WEBHOOK_HTTP_307', message: 'backend answered HTTP 307' },
    });
    expect(first.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
  });

  it.each([301, 302, 303, 308])('does not follow a %i either', async (status) => {
    const target = await backend((_request, res) => {
      res.writeHead(200);
      res.end(line({ type: 'agent_completed', data: { status: 'succeeded', final_response: null } }));
    });
    const first = await backend((_request, res) => {
      res.writeHead(status, { location: target.url });
      res.end();
    });
    const events = await runAgainst(first.url);
    expect(ending(events)).toMatchObject({ status: 'failed', error: { code: `WEBHOOK_HTTP_${status}` } });
    expect(target.requests).toHaveLength(0);
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Sends a user_message through the real gateway and returns its run's agent_completed frame. */
async function ask(client: Client, text = 'hello', id = 'm1'): Promise<Frame> {
  client.send({ type: 'user_message', id, data: { text } });
  const ack = await client.next('ack');
  const runId = (ack.data as { run_id: string }).run_id;
  for (;;) {
    const frame = await client.next('agent_completed', 10_000);
    if (frame.run_id === runId) return frame;
  }
}

describe('webhook agent against a hostile backend: users see no internal detail', () => {
  it('answers a user whose backend is unreachable without its address, and logs the detail with the run id', async () => {
    const closedPort = await localBackend(() => undefined);
    const url = closedPort.url;
    await closedPort.close();
    const port = new URL(url).port;
    const { log, lines } = captureLog();
    h = await startGateway(
      { agentUrl: url, agentSecret: 'webhook-secret-never-logged', defaultAgent: 'webhook' },
      { log },
    );
    const client = await h.connect('u1');
    const done = await ask(client);
    expect(done.data).toEqual({
      status: 'failed',
      final_response: null,
      error: { code: 'WEBHOOK_UNREACHABLE', message: 'the agent backend could not be reached' },
    });
    expect(JSON.stringify(done)).not.toContain(port);
    expect(JSON.stringify(done)).not.toContain('127.0.0.1');
    const failed = lines.find((l) => l.msg === 'agent failed');
    expect(failed).toMatchObject({
      run_id: done.run_id,
      error_code: 'WEBHOOK_UNREACHABLE',
      err_cause: `connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    expect(JSON.stringify(lines)).not.toContain('webhook-secret-never-logged');
  });

  it('answers a user whose backend drops mid-body without the socket error, and logs it', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(line({ type: 'stream_chunk', data: { text: 'partial' } }), () => {
        res.socket?.destroy();
      });
    });
    const { log, lines } = captureLog();
    const events = await runAgainst(b.url, {}, log);
    const data = ending(events);
    expect(runErrorSchema.parse(data.error)).toEqual({
      code: 'WEBHOOK_DISCONNECTED',
      message: 'the connection to the agent backend was lost',
    });
    expect(lines.find((l) => l.msg === 'agent failed')).toMatchObject({
      run_id: events[0]?.run_id,
      error_code: 'WEBHOOK_DISCONNECTED',
      err_cause: expect.any(String),
    });
  });
});
