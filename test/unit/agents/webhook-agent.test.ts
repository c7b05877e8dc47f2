import { describe, expect, it } from 'vitest';
import { AG_UI_LIMITS } from '../../../packages/server/src/agents/ag-ui-mapping.js';
import { randomId } from '../../../packages/server/src/agents/random-id.js';
import { createWebhookAgent } from '../../../packages/server/src/agents/webhook-agent.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { NDJSON_LINE_MAX } from '../../../packages/server/src/protocol/ndjson-splitter.js';
import { agentInvalid } from './support/agent-invalid.js';

describe('createWebhookAgent', () => {
  it('throws AC_ERR_AGENT_INVALID for a URL that is not http(s)', () => {
    expect(() => createWebhookAgent({ url: 'ftp://x/', secret: 's' })).toThrow(
      agentInvalid('createWebhookAgent: url must be http:// or https://, got ftp:'),
    );
  });

  it('throws AC_ERR_AGENT_INVALID for an empty secret and for a malformed URL', () => {
    expect(() => createWebhookAgent({ url: 'http://x/', secret: '' })).toThrow(
      agentInvalid('createWebhookAgent: secret must not be empty'),
    );
    expect(() => createWebhookAgent({ url: 'not a url', secret: 's' })).toThrow(
      agentInvalid('createWebhookAgent: url is not a valid URL'),
    );
  });

  it('is named webhook unless told otherwise', () => {
    expect(createWebhookAgent({ url: 'https://x/', secret: 's' }).name).toBe('webhook');
    expect(createWebhookAgent({ url: 'https://x/', secret: 's', name: 'py' }).name).toBe('py');
  });

  it('signs with the injected clock and fetch, in whole seconds', async () => {
    const seen: Request[] = [];
    const agent = createWebhookAgent({
      url: 'https://backend.test/hook',
      secret: 's',
      now: () => 1_700_000_000_999,
      fetch: async (input, init) => {
        seen.push(new Request(input, init));
        return new Response(
          '{"type":"agent_completed","data":{"status":"succeeded","final_response":null}}\n',
        );
      },
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const ctx = {
      signal: new AbortController().signal,
      userId: 'u',
      runId: 'r_1',
      traceparent,
      tool: () => never(),
      approval: () => never(),
    };
    const events = [];
    for await (const event of agent.run({ text: 't', messageId: 'm' }, ctx)) events.push(event);
    expect(events).toEqual([
      { type: 'agent_completed', data: { status: 'succeeded', final_response: null } },
    ]);
    expect(seen[0]?.url).toBe('https://backend.test/hook');
    expect(seen[0]?.headers.get('x-agentcast-timestamp')).toBe('1700000000');
    expect(seen[0]?.headers.get('x-agentcast-signature')).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(seen[0]?.headers.get('traceparent')).toBe(traceparent);
    expect(await seen[0]?.text()).toBe(
      '{"run_id":"r_1","user_id":"u","message":{"id":"m","text":"t","thread_id":null}}',
    );
  });

  it('does not fetch at all when the run is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    const agent = createWebhookAgent({
      url: 'https://backend.test/hook',
      secret: 's',
      fetch: async (_input, init) => {
        init?.signal?.throwIfAborted();
        return new Response('');
      },
    });
    const ctx = {
      signal: controller.signal,
      userId: 'u',
      runId: 'r_1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tool: () => never(),
      approval: () => never(),
    };
    await expect(agent.run({ text: 't', messageId: 'm' }, ctx).next()).rejects.toMatchObject({
      code: 'WEBHOOK_UNREACHABLE',
      message: 'the agent backend could not be reached',
      cause: controller.signal.reason,
    });
  });
});

describe('webhook agent flags', () => {
  it("default to the agent's own limits", () => {
    const config = loadConfig({ overrides: { env: 'test', jwtSecret: 'x'.repeat(40) } });
    expect(config.agentMaxLineLength).toBe(NDJSON_LINE_MAX);
    expect(config.agentMaxToolCallLength).toBe(AG_UI_LIMITS.maxToolCallLength);
    expect(config.agentMaxOpenToolCalls).toBe(AG_UI_LIMITS.maxOpenToolCalls);
  });
});

describe('randomId', () => {
  it('is the prefix and 16 base64url characters, never repeating', () => {
    const ids = new Set(Array.from({ length: 100 }, () => randomId('r')));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^r_[A-Za-z0-9_-]{16}$/);
    expect(randomId('x')).toMatch(/^x_/);
  });
});

function never(): never {
  throw new Error('the webhook agent runs no tools');
}
