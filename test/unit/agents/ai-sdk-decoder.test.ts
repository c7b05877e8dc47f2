import { uiMessageChunkSchema } from 'ai';
import { describe, expect, it } from 'vitest';
import {
  AiSdkDecoder,
  aiSdkProtocol,
  chatRequestBody,
} from '../../../packages/server/src/edges/ai-sdk/ai-sdk-decoder.js';

let clock = 1_000;
const settings = { now: () => clock, maxToolCallLength: 40, maxOpenToolCalls: 2 };

function decoder(): AiSdkDecoder {
  return new AiSdkDecoder(settings);
}

const frame = (value: unknown, where = 'event at line 1') => ({
  where,
  text: typeof value === 'string' ? value : JSON.stringify(value),
});

/** Whether the ai package's own schema accepts `chunk`. */
async function sdkAccepts(chunk: unknown): Promise<boolean> {
  const schema = uiMessageChunkSchema();
  const validate = schema.validate;
  if (validate === undefined) throw new Error('uiMessageChunkSchema has no validate');
  return (await validate(chunk)).success;
}

describe('AiSdkDecoder', () => {
  it('maps the chunks the table lists and skips the rest', () => {
    const d = decoder();
    const events = [
      { type: 'start', messageId: 'x' },
      { type: 'start-step' },
      { type: 'text-start', id: 't' },
      { type: 'text-delta', id: 't', delta: 'Hi' },
      { type: 'text-delta', id: 't', delta: '' },
      { type: 'reasoning-delta', id: 'r', delta: 'hmm' },
      { type: 'reasoning-delta', id: 'r', delta: '' },
      { type: 'tool-input-start', toolCallId: 'c1', toolName: 'a' },
      { type: 'tool-input-available', toolCallId: 'c1', toolName: 'a', input: { q: 1 } },
      { type: 'tool-output-available', toolCallId: 'c1', output: 'partial', preliminary: true },
      { type: 'tool-output-available', toolCallId: 'c1', output: 'ok' },
      { type: 'tool-input-available', toolCallId: 'c2', toolName: 'b', input: 'raw' },
      { type: 'tool-output-error', toolCallId: 'c2', errorText: 'boom' },
      { type: 'tool-input-available', toolCallId: 'c3', toolName: 'c', input: {} },
      { type: 'tool-output-denied', toolCallId: 'c3' },
      { type: 'tool-input-error', toolCallId: 'c4', toolName: 'd', input: 5, errorText: 'bad input' },
      { type: 'data-progress', data: { pct: 50 } },
      { type: 'data-weather', data: 'sunny' },
      { type: 'source-url', sourceId: 's', url: 'https://example.com' },
      { type: 'some-future-chunk' },
    ].flatMap((chunk) => {
      const out = d.frame(frame(chunk));
      if (!out.ok) throw new Error(out.message);
      return out.events;
    });
    expect(events).toEqual([
      { type: 'stream_chunk', data: { text: 'Hi' } },
      { type: 'agent_thinking', data: { reasoning: 'hmm' } },
      { type: 'tool_executing', data: { tool_name: 'a', tool_args: { q: 1 }, execution_id: 'c1' } },
      {
        type: 'tool_completed',
        data: { tool_name: 'a', execution_id: 'c1', success: true, results: 'ok', duration_ms: 0 },
      },
      { type: 'tool_executing', data: { tool_name: 'b', tool_args: { input: 'raw' }, execution_id: 'c2' } },
      {
        type: 'tool_completed',
        data: {
          tool_name: 'b',
          execution_id: 'c2',
          success: false,
          results: null,
          duration_ms: 0,
          error: { code: 'TOOL_ERROR', message: 'boom' },
        },
      },
      { type: 'tool_executing', data: { tool_name: 'c', tool_args: {}, execution_id: 'c3' } },
      {
        type: 'tool_completed',
        data: expect.objectContaining({
          success: false,
          error: { code: 'TOOL_ERROR', message: 'the tool call was denied' },
        }),
      },
      { type: 'tool_executing', data: { tool_name: 'd', tool_args: { input: 5 }, execution_id: 'c4' } },
      {
        type: 'tool_completed',
        data: expect.objectContaining({
          success: false,
          error: { code: 'TOOL_ERROR', message: 'bad input' },
        }),
      },
      { type: 'progress', data: { pct: 50 } },
      { type: 'weather', data: { value: 'sunny' } },
    ]);
    expect(d.frame(frame({ type: 'finish', finishReason: 'stop' }))).toEqual({
      ok: true,
      events: [{ type: 'agent_completed', data: { status: 'succeeded', final_response: 'Hi' } }],
    });
  });

  it('fails a call already open on tool-input-error, and bounds the call it opens', () => {
    const d = decoder();
    const chunks = [
      { type: 'tool-input-available', toolCallId: 'e', toolName: 'b', input: {} },
      { type: 'tool-input-error', toolCallId: 'e', toolName: 'b', input: {}, errorText: 'no' },
      { type: 'data-ping_ish', data: null },
    ];
    const events = chunks.flatMap((chunk) => {
      const out = d.frame(frame(chunk));
      if (!out.ok) throw new Error(out.message);
      return out.events;
    });
    expect(events.map((e) => [e.type, e.data.tool_args ?? e.data.error ?? e.data])).toEqual([
      ['tool_executing', {}],
      ['tool_completed', { code: 'TOOL_ERROR', message: 'no' }],
      ['ping_ish', { value: null }],
    ]);
    const tooLong = decoder().frame(
      frame({
        type: 'tool-input-error',
        toolCallId: 'x',
        toolName: 'n'.repeat(50),
        input: {},
        errorText: 'e',
      }),
    );
    expect(tooLong).toMatchObject({ ok: false, message: expect.stringContaining('longer than 40') });
  });

  it('times tool calls with the clock', () => {
    const d = decoder();
    clock = 1_000;
    d.frame(frame({ type: 'tool-input-available', toolCallId: 'c', toolName: 'a', input: {} }));
    clock = 1_250;
    const out = d.frame(frame({ type: 'tool-output-available', toolCallId: 'c', output: 1 }));
    expect(out).toMatchObject({ ok: true, events: [{ data: { duration_ms: 250 } }] });
  });

  it('ends the run: error -> failed WEBHOOK_RUN_ERROR, abort -> cancelled, finish with error -> failed', () => {
    const cases: [unknown, unknown][] = [
      [
        { type: 'error', errorText: 'x' },
        { status: 'failed', error: { code: 'WEBHOOK_RUN_ERROR', message: 'x' } },
      ],
      [{ type: 'abort' }, { status: 'cancelled', error: { code: 'CANCELLED' } }],
      [
        { type: 'finish', finishReason: 'error' },
        { status: 'failed', error: { code: 'WEBHOOK_RUN_ERROR' } },
      ],
      [{ type: 'finish' }, { status: 'succeeded', final_response: null }],
    ];
    for (const [chunk, data] of cases) {
      expect(decoder().frame(frame(chunk))).toMatchObject({
        ok: true,
        events: [{ type: 'agent_completed', data }],
      });
    }
  });

  it('[DONE] ends the stream properly; without it and without finish the body was cut', () => {
    const done = decoder();
    done.frame(frame({ type: 'text-delta', id: 't', delta: 'ok' }));
    expect(done.frame(frame('[DONE]'))).toEqual({ ok: true, events: [] });
    expect(done.frame(frame({ type: 'text-delta', id: 't', delta: 'late' }, 'event at line 9'))).toEqual({
      ok: false,
      message: 'event at line 9: a chunk after [DONE]',
    });
    expect(done.end()).toEqual({
      kind: 'ended',
      events: [{ type: 'agent_completed', data: { status: 'succeeded', final_response: 'ok' } }],
    });
    expect(decoder().end()).toMatchObject({ kind: 'incomplete' });
  });

  it('refuses what the stream may not carry, naming the frame', () => {
    const refusals: [unknown, string][] = [
      ['not json', 'not valid JSON'],
      [[1], 'not a JSON object'],
      [{ no: 'type' }, 'type: expected a string'],
      [{ type: 'text-delta', id: 't' }, 'text-delta delta'],
      [
        { type: 'tool-output-available', toolCallId: 'nope', output: 1 },
        'which no tool-input-available opened',
      ],
      [{ type: 'tool-input-available', toolCallId: '', toolName: 'a', input: {} }, 'toolCallId: 1 to 128'],
      [
        { type: 'tool-input-available', toolCallId: 'c', toolName: 'a', input: 'x'.repeat(40) },
        'longer than 40',
      ],
      [{ type: 'data-agent_completed', data: {} }, 'comes from its own chunk type'],
      [
        { type: 'tool-approval-request', approvalId: 'a', toolCallId: 'c' },
        'AI SDK tool approvals are not supported',
      ],
      [{ type: 'data-pong', data: {} }, 'reserved'],
      [{ type: 'data-Bad Type', data: {} }, 'data-Bad Type: type'],
    ];
    for (const [chunk, message] of refusals) {
      const out = decoder().frame(frame(chunk, 'event at line 4'));
      expect(out.ok).toBe(false);
      if (!out.ok) {
        expect(out.message).toContain('event at line 4: ');
        expect(out.message).toContain(message);
      }
    }
    const d = decoder();
    const open = (id: string) =>
      d.frame(frame({ type: 'tool-input-available', toolCallId: id, toolName: 'a', input: {} }));
    expect(open('a').ok && open('b').ok).toBe(true);
    expect(open('a')).toMatchObject({ ok: false, message: expect.stringContaining('already open') });
    expect(open('c')).toMatchObject({
      ok: false,
      message: expect.stringContaining('more than 2 tool calls open'),
    });
  });

  it("reads chunks exactly as the ai package's uiMessageChunkSchema accepts them", async () => {
    const chunks: unknown[] = [
      { type: 'text-delta', id: 't', delta: 'x' },
      { type: 'text-delta', id: 't' },
      { type: 'text-delta', id: 1, delta: 'x' },
      { type: 'reasoning-delta', id: 'r', delta: 'x' },
      { type: 'reasoning-delta', delta: 'x' },
      { type: 'tool-input-available', toolCallId: 'c', toolName: 'a', input: {} },
      { type: 'tool-input-available', toolCallId: 'c', input: {} },
      { type: 'tool-input-available', toolCallId: 'c', toolName: 'a' },
      { type: 'tool-output-available', toolCallId: 'c' },
      { type: 'data-x' },
      { type: 'tool-input-error', toolCallId: 'c', toolName: 'a', input: {}, errorText: 'e' },
      { type: 'tool-input-error', toolCallId: 'c', toolName: 'a', input: {} },
      { type: 'tool-output-error', toolCallId: 'c', errorText: 5 },
      { type: 'tool-output-denied' },
      { type: 'error', errorText: 'e' },
      { type: 'error' },
      { type: 'abort', reason: 'r' },
      { type: 'abort', reason: 1 },
      { type: 'finish', finishReason: 'stop' },
      { type: 'finish', finishReason: 'tired' },
      { type: 'data-x', data: { a: 1 } },
      { type: 'data-x', data: 1, transient: 'yes' },
    ];
    for (const chunk of chunks) {
      const ours = decoder().frame(frame(chunk));
      // A refusal for another reason (an unknown tool call) is not a schema disagreement.
      const schemaRefused = !ours.ok && !ours.message.includes('opened');
      expect({ chunk, accepted: !schemaRefused }).toEqual({ chunk, accepted: await sdkAccepts(chunk) });
    }
  });
});

describe('chatRequestBody', () => {
  const call = { userId: 'u1', runId: 'r1' };
  it('builds UI messages from a plain conversation: developer as system, no tool messages', () => {
    const body = chatRequestBody({
      ...call,
      input: {
        text: 'hi',
        messageId: 'm2',
        threadId: 't',
        context: {
          messages: [
            { id: 'd', role: 'developer', content: 'be brief' },
            { id: 'x', role: 'tool', content: '{}' },
            { id: 'm2', role: 'user', content: 'hi' },
          ],
          forwardedProps: { ignored: true },
        },
      },
    });
    expect(body).toEqual({
      id: 't',
      messages: [
        { id: 'd', role: 'system', parts: [{ type: 'text', text: 'be brief' }] },
        { id: 'm2', role: 'user', parts: [{ type: 'text', text: 'hi' }] },
      ],
      trigger: 'submit-message',
    });
    expect(aiSdkProtocol(settings).body({ ...call, input: { text: 'yo', messageId: 'm' } })).toEqual({
      id: 'user:u1',
      messages: [{ id: 'm', role: 'user', parts: [{ type: 'text', text: 'yo' }] }],
      trigger: 'submit-message',
    });
  });
});
