import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect } from 'vitest';
import {
  createWebhookAgent,
  type WebhookAgentOptions,
} from '../../../packages/server/src/agents/webhook-agent.js';
import type { Logger } from '../../../packages/server/src/observability/logger.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { harness } from '../../unit/agents/support/harness.js';

/** A request the backend received, body included. */
export interface ReceivedRequest {
  readonly req: IncomingMessage;
  readonly body: string;
}

/** A real HTTP backend on 127.0.0.1, port 0. */
export interface LocalBackend {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a backend whose `handle` answers each request after its body was read. */
export async function localBackend(
  handle: (request: ReceivedRequest, res: ServerResponse) => void | Promise<void>,
): Promise<LocalBackend> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const request = { req, body: Buffer.concat(parts).toString('utf8') };
      requests.push(request);
      Promise.resolve(handle(request, res)).catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/agent`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** One NDJSON line. */
export function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** The shared secret of the webhook agent these tests run. */
export const SECRET = 'test-secret';

/**
 * What the webhook tests of one file share: backends and runtimes that are closed after each test (the
 * last made, first closed). Call it at the top level of the test file.
 */
export function useWebhookFixture() {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  return {
    /** A backend on a free loopback port, answering with `handle`. */
    async backend(handle: Parameters<typeof localBackend>[0]): Promise<LocalBackend> {
      const b = await localBackend(handle);
      cleanup.push(() => b.close());
      return b;
    },
    /** A runtime whose default agent is the webhook agent, posting to `url`. */
    runtimeFor(url: string, options: Partial<WebhookAgentOptions> = {}, log?: Logger) {
      const h = harness({
        agents: [createWebhookAgent({ url, secret: SECRET, stallTimeoutMs: 5_000, ...options })],
        defaultAgent: 'webhook',
        ...(log === undefined ? {} : { log }),
      });
      cleanup.push(() => h.runtime.close());
      return h;
    },
  };
}

/** The data of the run's one agent_completed, which must be its last event. */
export function ending(events: readonly StoredEvent[]): Record<string, unknown> {
  expect(events.filter((e) => e.type === 'agent_completed')).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('agent_completed');
  return events.at(-1)?.data as Record<string, unknown>;
}
