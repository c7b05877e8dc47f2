import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebhookAgentOptions } from '../../../packages/server/src/agents/webhook-agent.js';
import { type Logger, silentLogger } from '../../../packages/server/src/observability/logger.js';
import { runErrorSchema, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { type Client, type Frame, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';
import { runEvents } from '../../unit/agents/support/run-events.js';
import { ending, line, localBackend, SECRET, useWebhookFixture } from './local-backend.js';

/**
 * A webhook backend is only as trusted as its URL: these tests play a hostile or broken one (issue 13)
 * and check that the gateway bounds what it holds, never follows the backend elsewhere, and shows users
 * no internal detail.
 */

const { backend, runtimeFor } = useWebhookFixture();

/** Runs one message through a runtime with the webhook agent and returns the run's stored events. */
async function runAgainst(
  url: string,
  options: Partial<WebhookAgentOptions> = {},
  log: Logger = silentLogger(),
): Promise<StoredEvent[]> {
  const h = runtimeFor(url, options, log);
  const result = await h.runtime.start('u1', { messageId: 'm1', text: 'hello' });
  if (!result.ok) throw new Error(result.message);
  return runEvents(h.engine, 'u1', result.runId, 10_000);
}

/** Resolves when the gateway closed the backend's connection. */
function closedBy(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => res.on('close', () => resolve()));
}

const KIB = 1024;
const runStarted = { type: 'RUN_STARTED', threadId: 't', runId: 'r' };

describe('webhook agent against a hostile backend: what the gateway holds is bounded', () => {
  it.each([
    ['RUN_FINISHED', { type: 'RUN_FINISHED', threadId: 't', runId: 'r' }, 'succeeded'],
    ['RUN_ERROR', { type: 'RUN_ERROR', message: 'gave up', code: 'GAVE_UP' }, 'failed'],
  ])(
    'keeps final_response to 64 KiB however much AG-UI text precedes %s',
    async (_label, terminal, status) => {
      // 40 deltas of 8 KiB: 320 KiB of text, five times what final_response may hold.
      const delta = 'x'.repeat(8 * KIB);
      const b = await backend((_request, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(line(runStarted));
        for (let i = 0; i < 40; i++) {
          res.write(line({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'a', delta }));
        }
        res.end(line(terminal));
      });
      const events = await runAgainst(b.url);
      expect(events.filter((e) => e.type === 'stream_chunk')).toHaveLength(40);
      const data = ending(events);
      expect(data.status).toBe(status);
      const finalResponse = String(data.final_response);
      expect(finalResponse.length).toBe(64 * KIB);
      expect(finalResponse.endsWith('x…')).toBe(true);
    },
  );

  it('ends failed / WEBHOOK_INVALID_LINE once one tool call streams more than 64 KiB of arguments, without waiting for the rest', async () => {
    let closed: Promise<void> | undefined;
    const b = await backend((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(line(runStarted));
      res.write(line({ type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'search' }));
      // 9 deltas of 8 KiB (72 KiB; the 8th, on line 10, passes 64 KiB with the name), then the backend
      // holds the connection open: the gateway must end the run on its own, not wait for a stall.
      for (let i = 0; i < 9; i++) {
        res.write(line({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: 'a'.repeat(8 * KIB) }));
      }
      closed = closedBy(res);
    });
    const events = await runAgainst(b.url, { stallTimeoutMs: 30_000 });
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: null,
      error: {
        code: 'WEBHOOK_INVALID_LINE',
        message: 'line 10: tool call c1: name and arguments longer than 65536 characters',
      },
    });
    await closed;
  });

  it('ends failed / WEBHOOK_INVALID_LINE at the 33rd tool call open at once', async () => {
    let closed: Promise<void> | undefined;
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(line(runStarted));
      for (let i = 1; i <= 33; i++) {
        res.write(line({ type: 'TOOL_CALL_START', toolCallId: `c${i}`, toolCallName: 'search' }));
      }
      closed = closedBy(res);
    });
    const events = await runAgainst(b.url, { stallTimeoutMs: 30_000 });
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: null,
      error: {
        code: 'WEBHOOK_INVALID_LINE',
        message: 'line 34: TOOL_CALL_START of c33: more than 32 tool calls open at once',
      },
    });
    await closed;
  });

  it('ends failed / WEBHOOK_INVALID_LINE on a toolCallId longer than an execution_id may be (128)', async () => {
    const id = 'i'.repeat(129);
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.end(
        [
          runStarted,
          { type: 'TOOL_CALL_START', toolCallId: id, toolCallName: 'search' },
          { type: 'TOOL_CALL_END', toolCallId: id },
          { type: 'RUN_FINISHED', threadId: 't', runId: 'r' },
        ]
          .map(line)
          .join(''),
      );
    });
    const events = await runAgainst(b.url);
    expect(ending(events)).toMatchObject({
      status: 'failed',
      error: {
        code: 'WEBHOOK_INVALID_LINE',
        message: 'line 2: TOOL_CALL_START toolCallId: longer than 128 characters',
      },
    });
  });
});

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

describe('webhook agent limits are flags of the gateway', () => {
  it('applies --agent-max-line-length, --agent-max-tool-call-length and --agent-max-open-tool-calls', async () => {
    const answers: Record<string, unknown[]> = {
      line: [{ type: 'stream_chunk', data: { text: 'x'.repeat(100) } }],
      args: [
        { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'search' },
        { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"q":"cats"}' },
      ],
      open: [
        { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'a' },
        { type: 'TOOL_CALL_START', toolCallId: 'c2', toolCallName: 'b' },
      ],
    };
    const b = await backend(({ body }, res) => {
      const text = (JSON.parse(body) as { message: { text: string } }).message.text;
      res.writeHead(200);
      res.end((answers[text] ?? []).map(line).join(''));
    });
    h = await startGateway({
      agentUrl: b.url,
      agentSecret: SECRET,
      defaultAgent: 'webhook',
      agentMaxLineLength: 80,
      agentMaxToolCallLength: 10,
      agentMaxOpenToolCalls: 1,
    });
    const client = await h.connect('u1');
    // The AG-UI lines below are about 70 characters: under the line limit, over the tool-call limit.
    expect((await ask(client, 'line', 'm1')).data?.error).toEqual({
      code: 'WEBHOOK_INVALID_LINE',
      message: 'line 1 is longer than 80 characters',
    });
    expect((await ask(client, 'args', 'm2')).data?.error).toEqual({
      code: 'WEBHOOK_INVALID_LINE',
      message: 'line 2: tool call c1: name and arguments longer than 10 characters',
    });
    expect((await ask(client, 'open', 'm3')).data?.error).toEqual({
      code: 'WEBHOOK_INVALID_LINE',
      message: 'line 2: TOOL_CALL_START of c2: more than 1 tool calls open at once',
    });
  });
});

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
