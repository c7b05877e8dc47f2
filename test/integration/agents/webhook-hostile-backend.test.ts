import { afterEach, describe, expect, it } from 'vitest';
import { createWebhookAgent, type WebhookAgentOptions } from '../../../src/agents/webhook-agent.js';
import { type Logger, silentLogger } from '../../../src/observability/logger.js';
import type { StoredEvent } from '../../../src/protocol/events.js';
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
