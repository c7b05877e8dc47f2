import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';
import type { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { runErrorSchema, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { deferred, runEvents } from '../../unit/agents/support/run-events.js';
import { ending, line, localBackend, SECRET, useWebhookFixture } from './local-backend.js';

const { backend, runtimeFor } = useWebhookFixture();

async function run(
  h: { runtime: AgentRuntime; engine: MemoryEngine },
  text = 'hello',
): Promise<{ runId: string; events: StoredEvent[] }> {
  const result = await h.runtime.start('u1', { messageId: 'm1', text, threadId: 't1' });
  if (!result.ok) throw new Error(result.message);
  return { runId: result.runId, events: await runEvents(h.engine, 'u1', result.runId) };
}

function errorOf(data: Record<string, unknown> | undefined) {
  return runErrorSchema.parse(data?.error);
}

const completed = { type: 'agent_completed', data: { status: 'succeeded', final_response: 'Hi there' } };

describe('webhook agent against a local HTTP backend', () => {
  it('POSTs the signed message and publishes each NDJSON line, across chunk splits, CRLF and blank lines', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const text = `${line({ type: 'agent_thinking', data: { reasoning: 'hmm' } })}\r\n\n${line({ type: 'stream_chunk', data: { text: 'Hi ' } })}${line({ type: 'stream_chunk', data: { text: 'th€re' } })}${JSON.stringify(completed)}`;
      const bytes = Buffer.from(text);
      // Split inside a line and inside the three-byte "€".
      const euro = bytes.indexOf(Buffer.from('€'));
      res.write(bytes.subarray(0, 10));
      res.write(bytes.subarray(10, euro + 1));
      res.end(bytes.subarray(euro + 1));
    });
    const h = runtimeFor(b.url);
    const { runId, events } = await run(h);
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[3]?.data).toEqual({ text: 'th€re' });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Hi there' });
    expect(events.every((e) => e.run_id === runId)).toBe(true);

    const [request] = b.requests;
    expect(request?.req.method).toBe('POST');
    expect(request?.req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      run_id: runId,
      user_id: 'u1',
      message: { id: 'm1', text: 'hello', thread_id: 't1' },
    });
    const verified = verifyWebhook({
      secret: SECRET,
      body: request?.body ?? '',
      signature: request?.req.headers['x-agentcast-signature'] as string,
      timestamp: request?.req.headers['x-agentcast-timestamp'] as string,
      nowS: Date.now() / 1000,
    });
    expect(verified).toBe(true);
  });

  it('publishes a line as soon as it arrives, before the backend sends the next one', async () => {
    const next = deferred();
    const b = await backend(async (_request, res) => {
      res.writeHead(200);
      res.write(line({ type: 'stream_chunk', data: { text: 'first' } }));
      await next.promise;
      res.end(line(completed));
    });
    const h = runtimeFor(b.url);
    await h.engine.subscribe('u1', (event) => {
      if (event.type === 'stream_chunk') next.resolve();
    });
    const { events } = await run(h);
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
  });

  it('accepts a slow stream whose pauses stay under the stall timeout', async () => {
    const b = await backend(async (_request, res) => {
      res.writeHead(200);
      for (const text of ['a', 'b', 'c']) {
        res.write(line({ type: 'stream_chunk', data: { text } }));
        await new Promise((r) => setTimeout(r, 30));
      }
      res.end(line({ type: 'agent_completed', data: { status: 'succeeded', final_response: 'abc' } }));
    });
    const h = runtimeFor(b.url, { stallTimeoutMs: 1_000 });
    const { events } = await run(h);
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'stream_chunk',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(ending(events)).toMatchObject({ status: 'succeeded' });
  });

  it.each([500, 401, 404])(
    'ends failed / WEBHOOK_HTTP_%i when the backend answers with that status',
    async (status) => {
      const b = await backend((_request, res) => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end('nope');
      });
      const { events } = await run(runtimeFor(b.url));
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
      expect(ending(events)).toEqual({
        status: 'failed',
        final_response: null,
        error: { code: `WEBHOOK_HTTP_${status}`, message: `backend answered HTTP ${status}` },
      });
    },
  );

  it('ends failed / WEBHOOK_HTTP_204 when a 2xx answer has no body', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(204);
      res.end();
    });
    const { events } = await run(runtimeFor(b.url));
    expect(ending(events)).toMatchObject({ error: { code: 'WEBHOOK_HTTP_204' } });
  });

  it.each([
    ['not JSON', '{"type": "stream_chunk", data', 'line 2: not valid JSON'],
    ['not an object', '[1, 2]', 'line 2: not a JSON object'],
    ['an invalid agentcast event', '{"type":"stream_chunk","data":{"text":5}}', 'line 2: data.text: '],
    ['an invalid AG-UI event', '{"type":"RUN_STARTED"}', 'line 2: RUN_STARTED threadId: '],
  ])(
    'ends failed / WEBHOOK_INVALID_LINE on a line that is %s, after the lines before it',
    async (_label, bad, message) => {
      const b = await backend((_request, res) => {
        res.writeHead(200);
        res.end(`${line({ type: 'stream_chunk', data: { text: 'ok' } })}${bad}\n${line(completed)}`);
      });
      const { events } = await run(runtimeFor(b.url));
      expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
      const data = ending(events);
      expect(data).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_INVALID_LINE' } });
      expect(errorOf(data).message.startsWith(message)).toBe(true);
    },
  );

  it('ends failed / WEBHOOK_INVALID_LINE on a line longer than maxLineLength', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.end(line({ type: 'stream_chunk', data: { text: 'x'.repeat(100) } }));
    });
    const { events } = await run(runtimeFor(b.url, { maxLineLength: 64 }));
    expect(ending(events)).toMatchObject({
      error: { code: 'WEBHOOK_INVALID_LINE', message: 'line 1 is longer than 64 characters' },
    });
  });

  it('ends failed / WEBHOOK_DISCONNECTED when the connection drops mid-stream', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(line({ type: 'stream_chunk', data: { text: 'partial' } }), () => {
        res.socket?.destroy();
      });
    });
    const { events } = await run(runtimeFor(b.url));
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
    const data = ending(events);
    expect(data).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_DISCONNECTED' } });
    expect(errorOf(data).message).toBe('the connection to the agent backend was lost');
  });

  it('ends failed / WEBHOOK_INCOMPLETE when the body ends without a terminal event', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.end(line({ type: 'stream_chunk', data: { text: 'only this' } }));
    });
    const { events } = await run(runtimeFor(b.url));
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: 'only this',
      error: {
        code: 'WEBHOOK_INCOMPLETE',
        message: 'backend response ended without agent_completed, RUN_FINISHED or RUN_ERROR',
      },
    });
  });

  it('ends failed / WEBHOOK_STALLED when the backend goes silent mid-stream', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(line({ type: 'stream_chunk', data: { text: 'then silence' } }));
    });
    const { events } = await run(runtimeFor(b.url, { stallTimeoutMs: 100 }));
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: 'then silence',
      error: { code: 'WEBHOOK_STALLED', message: 'backend sent nothing for 100 ms' },
    });
  });

  it('ends failed / WEBHOOK_STALLED when the backend never answers the request', async () => {
    const b = await backend(() => undefined);
    const { events } = await run(runtimeFor(b.url, { stallTimeoutMs: 100 }));
    expect(ending(events)).toMatchObject({ error: { code: 'WEBHOOK_STALLED' } });
  });

  it('ends failed / WEBHOOK_TIMEOUT when a trickling backend exceeds timeoutMs', async () => {
    const b = await backend(async (_request, res) => {
      res.writeHead(200);
      while (!res.destroyed && res.writable) {
        res.write('\n');
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const { events } = await run(runtimeFor(b.url, { stallTimeoutMs: 1_000, timeoutMs: 150 }));
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: null,
      error: { code: 'WEBHOOK_TIMEOUT', message: 'backend exchange exceeded 150 ms' },
    });
  });

  it('ends failed / WEBHOOK_UNREACHABLE when nothing listens at the URL', async () => {
    const b = await localBackend(() => undefined);
    const url = b.url;
    await b.close();
    const { events } = await run(runtimeFor(url));
    const data = ending(events);
    expect(data).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_UNREACHABLE' } });
    expect(errorOf(data).message).toBe('the agent backend could not be reached');
  });

  it('is refused (WEBHOOK_HTTP_401) by a backend that verifies with another secret', async () => {
    const b = await backend(({ req, body }, res) => {
      const ok = verifyWebhook({
        secret: 'other-secret',
        body,
        signature: req.headers['x-agentcast-signature'] as string,
        timestamp: req.headers['x-agentcast-timestamp'] as string,
        nowS: Date.now() / 1000,
      });
      res.writeHead(ok ? 200 : 401);
      res.end(ok ? line(completed) : '');
    });
    const { events } = await run(runtimeFor(b.url));
    expect(ending(events)).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_HTTP_401' } });
  });

  it('aborts the request when the run is cancelled, and ends it cancelled', async () => {
    const closed = deferred();
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(line({ type: 'stream_chunk', data: { text: 'working' } }));
      res.on('close', () => closed.resolve());
    });
    const h = runtimeFor(b.url);
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'x' });
    if (!result.ok) throw new Error(result.message);
    await new Promise<void>((resolve) => {
      void h.engine.subscribe('u1', (event) => {
        if (event.type === 'stream_chunk') resolve();
      });
    });
    expect(await h.runtime.cancel('u1', result.runId)).toEqual({ ok: true });
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(ending(events)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    await closed.promise;
  });

  it('stops reading at the terminal event: later lines are not published', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.write(`${line(completed)}${line({ type: 'stream_chunk', data: { text: 'after' } })}`);
    });
    const h = runtimeFor(b.url);
    const { events } = await run(h);
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'agent_completed']);
    await h.runtime.drain(1_000);
    expect((await h.engine.head('u1')).seq).toBe(2);
  });

  it('maps an AG-UI stream onto agentcast events', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const agUi = [
        { type: 'RUN_STARTED', threadId: 't1', runId: 'x' },
        { type: 'REASONING_START', messageId: 'th' },
        { type: 'REASONING_MESSAGE_CONTENT', messageId: 'th', delta: 'Let me look.' },
        { type: 'REASONING_END', messageId: 'th' },
        { type: 'TOOL_CALL_START', toolCallId: 'call-1', toolCallName: 'search' },
        { type: 'TOOL_CALL_ARGS', toolCallId: 'call-1', delta: '{"q":' },
        { type: 'TOOL_CALL_ARGS', toolCallId: 'call-1', delta: '"cats"}' },
        { type: 'TOOL_CALL_END', toolCallId: 'call-1' },
        { type: 'TOOL_CALL_RESULT', messageId: 'tm', toolCallId: 'call-1', content: '3 hits' },
        { type: 'TEXT_MESSAGE_START', messageId: 'a', role: 'assistant' },
        { type: 'TEXT_MESSAGE_CONTENT', messageId: 'a', delta: 'Cats ' },
        { type: 'TEXT_MESSAGE_CONTENT', messageId: 'a', delta: 'purr.' },
        { type: 'TEXT_MESSAGE_END', messageId: 'a' },
        { type: 'STATE_SNAPSHOT', snapshot: { done: true } },
        { type: 'RUN_FINISHED', threadId: 't1', runId: 'x' },
      ];
      res.end(agUi.map(line).join(''));
    });
    const { events } = await run(runtimeFor(b.url));
    expect(events.map((e) => [e.type, e.data])).toEqual([
      [
        'agent_started',
        { agent_name: 'webhook', task_description: 'hello', message_id: 'm1', thread_id: 't1' },
      ],
      ['agent_thinking', { reasoning: 'Let me look.' }],
      ['tool_executing', { tool_name: 'search', tool_args: { q: 'cats' }, execution_id: 'call-1' }],
      [
        'tool_completed',
        {
          tool_name: 'search',
          execution_id: 'call-1',
          success: true,
          results: '3 hits',
          duration_ms: expect.any(Number),
        },
      ],
      ['stream_chunk', { text: 'Cats ' }],
      ['stream_chunk', { text: 'purr.' }],
      ['ag_ui.state_snapshot', { snapshot: { done: true } }],
      ['agent_completed', { status: 'succeeded', final_response: 'Cats purr.' }],
    ]);
  });

  it('maps AG-UI RUN_ERROR to failed with its code', async () => {
    const b = await backend((_request, res) => {
      res.writeHead(200);
      res.end(line({ type: 'RUN_ERROR', message: 'model overloaded', code: 'OVERLOADED' }));
    });
    const { events } = await run(runtimeFor(b.url));
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: null,
      error: { code: 'OVERLOADED', message: 'model overloaded' },
    });
  });
});
