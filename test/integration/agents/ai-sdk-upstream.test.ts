import type { ServerResponse } from 'node:http';
import {
  convertToModelMessages,
  createUIMessageStream,
  createUIMessageStreamResponse,
  pipeUIMessageStreamToResponse,
  stepCountIs,
  streamText,
  tool,
  type UIMessage,
  validateUIMessages,
} from 'ai';
import { convertArrayToReadableStream, MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';
import type { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { deferred, runEvents } from '../../unit/agents/support/run-events.js';
import { ending, type ReceivedRequest, SECRET, useWebhookFixture } from './local-backend.js';

const { backend, runtimeFor } = useWebhookFixture();

/** What a mock language model streams (the provider spec's stream parts, taken from the mock's own type). */
type LanguageModelV3StreamPart =
  Awaited<ReturnType<MockLanguageModelV3['doStream']>>['stream'] extends ReadableStream<infer P> ? P : never;

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** A model step as a mock language model streams it. */
function step(parts: LanguageModelV3StreamPart[], reason: 'stop' | 'tool-calls' = 'stop') {
  return {
    stream: convertArrayToReadableStream<LanguageModelV3StreamPart>([
      { type: 'stream-start', warnings: [] },
      ...parts,
      { type: 'finish', finishReason: { unified: reason, raw: undefined }, usage },
    ]),
  };
}

/** An AI SDK route handler: the chat body validated by the SDK, `streamText` on a mock model, its UI message stream. */
function chatRoute(steps: ReturnType<typeof step>[]) {
  const model = new MockLanguageModelV3({ doStream: async () => steps.shift() ?? step([]) });
  return async (request: ReceivedRequest, res: ServerResponse): Promise<void> => {
    const body = JSON.parse(request.body) as { messages: unknown };
    const messages = await validateUIMessages({ messages: body.messages });
    const result = streamText({
      model,
      messages: await convertToModelMessages(messages),
      tools: {
        lookup: tool({
          inputSchema: z.object({ q: z.string() }),
          execute: async ({ q }) => ({ hits: [q, q] }),
        }),
      },
      stopWhen: stepCountIs(3),
    });
    await result.pipeUIMessageStreamToResponse(res);
  };
}

async function run(
  h: { runtime: AgentRuntime; engine: MemoryEngine },
  start: Partial<Parameters<AgentRuntime['start']>[1]> = {},
): Promise<{ runId: string; events: StoredEvent[] }> {
  const result = await h.runtime.start('u1', { messageId: 'm1', text: 'hello', ...start });
  if (!result.ok) throw new Error(result.message);
  return { runId: result.runId, events: await runEvents(h.engine, 'u1', result.runId) };
}

describe('webhook agent, --agent-protocol ai-sdk, against routes built with the ai package', () => {
  it('POSTs the signed chat body and maps a streamText answer: reasoning and text', async () => {
    const b = await backend(
      chatRoute([
        step([
          { type: 'reasoning-start', id: 'r' },
          { type: 'reasoning-delta', id: 'r', delta: 'let me see' },
          { type: 'reasoning-end', id: 'r' },
          { type: 'text-start', id: 't' },
          { type: 'text-delta', id: 't', delta: 'Hi ' },
          { type: 'text-delta', id: 't', delta: 'there' },
          { type: 'text-end', id: 't' },
        ]),
      ]),
    );
    const { events } = await run(runtimeFor(b.url, { protocol: 'ai-sdk' }), { threadId: 'chat-1' });
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[1]?.data).toMatchObject({ reasoning: 'let me see' });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Hi there' });

    const [request] = b.requests;
    if (request === undefined) throw new Error('no request');
    const { headers } = request.req;
    expect(headers.accept).toBe('text/event-stream');
    expect(headers['x-agentcast-user-id']).toBe('u1');
    const signature = headers['x-agentcast-signature'] as string;
    const timestamp = headers['x-agentcast-timestamp'] as string;
    expect(
      verifyWebhook({ secret: SECRET, body: request.body, signature, timestamp, nowS: Date.now() / 1000 }),
    ).toBe(true);
    expect(JSON.parse(request.body)).toEqual({
      id: 'chat-1',
      messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] }],
      trigger: 'submit-message',
    });
  });

  it('maps a tool call the route runs: tool_executing and tool_completed with its output', async () => {
    const b = await backend(
      chatRoute([
        step(
          [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'lookup', input: '{"q":"x"}' }],
          'tool-calls',
        ),
        step([
          { type: 'text-start', id: 't' },
          { type: 'text-delta', id: 't', delta: 'found x twice' },
          { type: 'text-end', id: 't' },
        ]),
      ]),
    );
    const { events } = await run(runtimeFor(b.url, { protocol: 'ai-sdk' }));
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'tool_executing',
      'tool_completed',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[1]?.data).toMatchObject({
      tool_name: 'lookup',
      tool_args: { q: 'x' },
      execution_id: 'call-1',
    });
    expect(events[2]?.data).toMatchObject({
      tool_name: 'lookup',
      execution_id: 'call-1',
      success: true,
      results: { hits: ['x', 'x'] },
    });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'found x twice' });
  });

  it("sends the edge's own UI messages and body fields as received", async () => {
    const b = await backend(chatRoute([step([])]));
    const raw: UIMessage[] = [
      { id: 'a0', role: 'assistant', parts: [{ type: 'text', text: 'earlier' }] },
      { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hello' }] },
    ];
    await run(runtimeFor(b.url, { protocol: 'ai-sdk' }), {
      threadId: 'c',
      context: {
        raw: { protocol: 'ai-sdk', messages: raw },
        forwardedProps: { model: 'small', id: 'ignored' },
      },
    });
    expect(JSON.parse(b.requests[0]?.body ?? '')).toEqual({
      model: 'small',
      id: 'c',
      messages: raw,
      trigger: 'submit-message',
    });
  });

  it('ends failed WEBHOOK_RUN_ERROR with the errorText of an error chunk', async () => {
    const b = await backend(async (_request, res) => {
      const stream = createUIMessageStream({
        execute: ({ writer }) => {
          writer.write({ type: 'start' });
          writer.write({ type: 'text-start', id: 't' });
          writer.write({ type: 'text-delta', id: 't', delta: 'partial' });
          writer.write({ type: 'error', errorText: 'rate limited by the model provider' });
        },
      });
      await pipeUIMessageStreamToResponse({ response: res, stream });
    });
    const { events } = await run(runtimeFor(b.url, { protocol: 'ai-sdk' }));
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: 'partial',
      error: { code: 'WEBHOOK_RUN_ERROR', message: 'rate limited by the model provider' },
    });
  });

  it('ends failed WEBHOOK_INCOMPLETE when the stream stops before finish and [DONE]', async () => {
    const b = await backend(async (_request, res) => {
      const response = createUIMessageStreamResponse({
        stream: createUIMessageStream({
          execute: ({ writer }) => {
            writer.write({ type: 'text-start', id: 't' });
            writer.write({ type: 'text-delta', id: 't', delta: 'half' });
            writer.write({ type: 'text-end', id: 't' });
          },
        }),
      });
      // A proxy that cuts the SDK's stream cleanly before its [DONE] (this stream has no finish).
      res.writeHead(200, Object.fromEntries(response.headers));
      const text = await response.text();
      expect(text).not.toContain('"finish"');
      res.end(text.slice(0, text.indexOf('data: [DONE]')));
    });
    const { events } = await run(runtimeFor(b.url, { protocol: 'ai-sdk' }));
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
    expect(ending(events)).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_INCOMPLETE' } });
  });

  it('ends succeeded at data: [DONE] when the stream has no finish chunk', async () => {
    const b = await backend(async (_request, res) => {
      const stream = createUIMessageStream({
        execute: ({ writer }) => {
          writer.write({ type: 'text-start', id: 't' });
          writer.write({ type: 'text-delta', id: 't', delta: 'whole' });
          writer.write({ type: 'text-end', id: 't' });
        },
      });
      await pipeUIMessageStreamToResponse({ response: res, stream });
    });
    const { events } = await run(runtimeFor(b.url, { protocol: 'ai-sdk' }));
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'whole' });
  });

  it('aborts the backend request when the run is cancelled', async () => {
    const closed = deferred();
    const b = await backend(async (_request, res) => {
      res.on('close', () => closed.resolve());
      const stream = createUIMessageStream({
        execute: async ({ writer }) => {
          writer.write({ type: 'text-start', id: 't' });
          writer.write({ type: 'text-delta', id: 't', delta: 'working' });
          await closed.promise;
        },
      });
      await pipeUIMessageStreamToResponse({ response: res, stream });
    });
    const h = runtimeFor(b.url, { protocol: 'ai-sdk' });
    const chunk = deferred();
    await h.engine.subscribe('u1', (event) => {
      if (event.type === 'stream_chunk') chunk.resolve();
    });
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'x' });
    if (!result.ok) throw new Error(result.message);
    await chunk.promise;
    expect(await h.runtime.cancel('u1', result.runId)).toEqual({ ok: true });
    await closed.promise;
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(ending(events)).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
  });
});
