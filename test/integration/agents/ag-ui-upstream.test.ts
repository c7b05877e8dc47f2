import type { ServerResponse } from 'node:http';
import { type BaseEvent, EventType } from '@ag-ui/core';
import { EventSchema, RunAgentInputSchema } from '@ag-ui/core/schemas';
import { EventEncoder } from '@ag-ui/encoder';
import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';
import type { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { deferred, runEvents } from '../../unit/agents/support/run-events.js';
import { ending, type ReceivedRequest, SECRET, useWebhookFixture } from './local-backend.js';

const { backend, runtimeFor } = useWebhookFixture();

/**
 * An AG-UI agent server as the official packages build one: every event checked by `@ag-ui/core`'s
 * schema, then written by `@ag-ui/encoder`'s EventEncoder for the request's Accept header.
 */
function agUiServer(events: (input: { threadId: string; runId: string }) => BaseEvent[], end = true) {
  return (request: ReceivedRequest, res: ServerResponse): void => {
    const input = RunAgentInputSchema.parse(JSON.parse(request.body));
    const encoder = new EventEncoder({ accept: request.req.headers.accept });
    res.writeHead(200, { 'content-type': encoder.getContentType() });
    for (const event of events(input)) res.write(encoder.encode(EventSchema.parse(event)));
    if (end) res.end();
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

const E = EventType;

describe('webhook agent, --agent-protocol ag-ui, against an @ag-ui/encoder server', () => {
  it('POSTs a signed RunAgentInput and maps the SSE stream: text, reasoning, a tool call, custom events', async () => {
    const b = await backend(
      agUiServer(({ threadId, runId }) => [
        { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
        { type: E.REASONING_START, messageId: 'r1' } as BaseEvent,
        { type: E.REASONING_MESSAGE_CHUNK, messageId: 'r1', delta: 'thinking' } as BaseEvent,
        { type: E.REASONING_END, messageId: 'r1' } as BaseEvent,
        { type: E.TOOL_CALL_CHUNK, toolCallId: 'c1', toolCallName: 'lookup', delta: '{"q":' } as BaseEvent,
        { type: E.TOOL_CALL_CHUNK, toolCallId: 'c1', delta: '"x"}' } as BaseEvent,
        { type: E.TOOL_CALL_RESULT, messageId: 'tm', toolCallId: 'c1', content: 'found' } as BaseEvent,
        { type: E.TEXT_MESSAGE_START, messageId: 'm', role: 'assistant' } as BaseEvent,
        { type: E.TEXT_MESSAGE_CONTENT, messageId: 'm', delta: 'Hi ' } as BaseEvent,
        { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'there' } as BaseEvent,
        { type: E.TEXT_MESSAGE_END, messageId: 'm' } as BaseEvent,
        {
          type: E.ACTIVITY_SNAPSHOT,
          messageId: 'a',
          activityType: 'plan',
          content: { step: 1 },
        } as BaseEvent,
        { type: E.RUN_FINISHED, threadId, runId } as BaseEvent,
      ]),
    );
    const h = runtimeFor(b.url, { protocol: 'ag-ui' });
    const { runId, events } = await run(h, {
      threadId: 't1',
      context: {
        messages: [
          { id: 'u0', role: 'user', content: 'before' },
          { id: 'a0', role: 'assistant', content: 'reply' },
          { id: 'x0', role: 'tool', content: 'dropped' },
          { id: 'm1', role: 'user', content: 'hello' },
        ],
        state: { count: 1 },
        forwardedProps: { mode: 'fast' },
      },
    });
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'agent_thinking',
      'tool_executing',
      'tool_completed',
      'stream_chunk',
      'stream_chunk',
      'ag_ui.activity_snapshot',
      'agent_completed',
    ]);
    expect(events[2]?.data).toMatchObject({ tool_name: 'lookup', tool_args: { q: 'x' }, execution_id: 'c1' });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Hi there' });

    const [request] = b.requests;
    if (request === undefined) throw new Error('no request');
    const { headers } = request.req;
    expect(headers.accept).toBe('text/event-stream');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-agentcast-user-id']).toBe('u1');
    const signature = headers['x-agentcast-signature'] as string;
    const timestamp = headers['x-agentcast-timestamp'] as string;
    expect(
      verifyWebhook({ secret: SECRET, body: request.body, signature, timestamp, nowS: Date.now() / 1000 }),
    ).toBe(true);
    expect(JSON.parse(request.body)).toEqual({
      threadId: 't1',
      runId,
      messages: [
        { id: 'u0', role: 'user', content: 'before' },
        { id: 'a0', role: 'assistant', content: 'reply' },
        { id: 'm1', role: 'user', content: 'hello' },
      ],
      tools: [],
      context: [],
      state: { count: 1 },
      forwardedProps: { mode: 'fast' },
    });
  });

  it("sends the edge's own AG-UI messages as received, and a per-user thread when the message has none", async () => {
    const b = await backend(
      agUiServer(({ threadId, runId }) => [{ type: E.RUN_FINISHED, threadId, runId } as BaseEvent]),
    );
    const raw = [{ id: 'm1', role: 'user', content: [{ type: 'text', text: 'hello' }] }];
    await run(runtimeFor(b.url, { protocol: 'ag-ui' }), {
      context: {
        messages: [{ id: 'm1', role: 'user', content: 'hello' }],
        raw: { protocol: 'ag-ui', messages: raw },
      },
    });
    await run(runtimeFor(b.url, { protocol: 'ag-ui' }));
    const [first, second] = b.requests.map((r) => RunAgentInputSchema.parse(JSON.parse(r.body)));
    expect(first).toMatchObject({ threadId: 'user:u1', messages: raw });
    expect(second?.messages).toEqual([{ id: 'm1', role: 'user', content: 'hello' }]);
  });

  it('reads the body by its content type: NDJSON under ag-ui, SSE under the agentcast protocol', async () => {
    const ndjson = await backend(({ body }, res) => {
      const { threadId, runId } = RunAgentInputSchema.parse(JSON.parse(body));
      const events = [
        { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'lines' },
        { type: E.RUN_FINISHED, threadId, runId },
      ].map((event) => EventSchema.parse(event));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(events.map((event) => `${JSON.stringify(event)}\n`).join(''));
    });
    const sse = await backend((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        ': hello\n\nevent: message\nid: 1\ndata: {"type":"stream_chunk",\ndata: "data":{"text":"events"}}\n\n' +
          'data: {"type":"agent_completed","data":{"status":"succeeded","final_response":"events"}}\n\n',
      );
    });
    const fromLines = await run(runtimeFor(ndjson.url, { protocol: 'ag-ui' }));
    expect(ending(fromLines.events)).toEqual({ status: 'succeeded', final_response: 'lines' });
    const fromEvents = await run(runtimeFor(sse.url));
    expect(fromEvents.events.map((e) => e.type)).toEqual([
      'agent_started',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(ending(fromEvents.events)).toEqual({ status: 'succeeded', final_response: 'events' });
  });

  it('ends failed with RUN_ERROR code and message', async () => {
    const b = await backend(
      agUiServer(({ threadId, runId }) => [
        { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
        { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'partial' } as BaseEvent,
        { type: E.RUN_ERROR, message: 'model overloaded', code: 'OVERLOADED' } as BaseEvent,
      ]),
    );
    const { events } = await run(runtimeFor(b.url, { protocol: 'ag-ui' }));
    expect(ending(events)).toEqual({
      status: 'failed',
      final_response: 'partial',
      error: { code: 'OVERLOADED', message: 'model overloaded' },
    });
  });

  it('ends failed WEBHOOK_INCOMPLETE, never succeeded, when the stream stops before RUN_FINISHED', async () => {
    const b = await backend(
      agUiServer(({ threadId, runId }) => [
        { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
        { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'half an ans' } as BaseEvent,
      ]),
    );
    const { events } = await run(runtimeFor(b.url, { protocol: 'ag-ui' }));
    expect(events.map((e) => e.type)).toEqual(['agent_started', 'stream_chunk', 'agent_completed']);
    expect(ending(events)).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_INCOMPLETE' } });
  });

  it('pauses on an interrupt outcome, asks the user, and resumes with one RunAgentInput carrying the answer', async () => {
    const b = await backend(
      agUiServer(({ threadId, runId, ...rest }) => {
        const resume = (rest as { resume?: { status: string; payload: { approved: boolean } }[] }).resume;
        if (resume === undefined) {
          return [
            { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
            { type: E.TOOL_CALL_START, toolCallId: 'c1', toolCallName: 'send_email' } as BaseEvent,
            { type: E.TOOL_CALL_ARGS, toolCallId: 'c1', delta: '{"to":"ann@example.com"}' } as BaseEvent,
            { type: E.TOOL_CALL_END, toolCallId: 'c1' } as BaseEvent,
            {
              type: E.RUN_FINISHED,
              threadId,
              runId,
              outcome: {
                type: 'interrupt',
                interrupts: [{ id: 'int-1', reason: 'tool_approval', message: 'Send it?', toolCallId: 'c1' }],
              },
            } as BaseEvent,
            // Never read: RUN_FINISHED ends the body for the run.
            { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'ignored' } as BaseEvent,
          ];
        }
        const sent = resume[0]?.payload.approved === true;
        return [
          { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
          {
            type: E.TOOL_CALL_RESULT,
            messageId: 'r',
            toolCallId: 'c1',
            content: sent ? 'sent' : 'skipped',
          } as BaseEvent,
          { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: sent ? 'Sent.' : 'Not sent.' } as BaseEvent,
          { type: E.RUN_FINISHED, threadId, runId } as BaseEvent,
        ];
      }),
    );
    const h = runtimeFor(b.url, { protocol: 'ag-ui' });
    const asked = deferred<StoredEvent>();
    await h.engine.subscribe('u1', (event) => {
      if (event.type === 'approval_requested') asked.resolve(event);
    });
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'email ann', threadId: 't1' });
    if (!result.ok) throw new Error(result.message);
    const question = await asked.promise;
    expect(question.data).toMatchObject({
      tool_name: 'send_email',
      tool_args: { to: 'ann@example.com' },
      message: 'Send it?',
    });
    const approvalId = String(question.data.approval_id);
    await h.engine.resolveApproval('u1', approvalId, { decision: 'approved', by: 'user' });
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'tool_executing',
      'approval_requested',
      'approval_resolved',
      'tool_completed',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(events[4]?.data).toMatchObject({ execution_id: 'c1', tool_name: 'send_email', results: 'sent' });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Sent.' });
    expect(b.requests).toHaveLength(2);
    const continuation = RunAgentInputSchema.parse(JSON.parse(b.requests[1]?.body ?? ''));
    expect(continuation).toMatchObject({ threadId: 't1', runId: result.runId });
    expect(continuation.resume).toEqual([
      {
        interruptId: 'int-1',
        status: 'resolved',
        payload: { approved: true, decision: 'approved', approval_id: approvalId },
      },
    ]);
  });

  it('aborts the backend request when the run is cancelled', async () => {
    const closed = deferred();
    const serve = agUiServer(
      ({ threadId, runId }) => [
        { type: E.RUN_STARTED, threadId, runId } as BaseEvent,
        { type: E.TEXT_MESSAGE_CHUNK, messageId: 'm', delta: 'working' } as BaseEvent,
      ],
      false,
    );
    const b = await backend((request, res) => {
      res.on('close', () => closed.resolve());
      serve(request, res);
    });
    const h = runtimeFor(b.url, { protocol: 'ag-ui' });
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
