import { describe, expect, it } from 'vitest';
import { type AgUiEvent, AgUiMapper } from '../../../packages/server/src/agents/ag-ui-mapping.js';

function mapper(clock = { t: 0 }) {
  return new AgUiMapper(() => clock.t);
}

const ev = (e: Record<string, unknown>) => e as AgUiEvent;

describe('AgUiMapper', () => {
  it.each([
    ['RUN_STARTED', { threadId: 't', runId: 'r' }],
    ['TEXT_MESSAGE_START', { messageId: 'm' }],
    ['TEXT_MESSAGE_END', { messageId: 'm' }],
    ['REASONING_START', { messageId: 'm' }],
    ['REASONING_MESSAGE_START', { messageId: 'm', role: 'reasoning' }],
    ['REASONING_MESSAGE_END', { messageId: 'm' }],
    ['REASONING_END', { messageId: 'm' }],
    ['REASONING_ENCRYPTED_VALUE', { subtype: 'message', entityId: 'm', encryptedValue: 'x' }],
  ])('maps %s to nothing', (type, fields) => {
    expect(mapper().map(ev({ type, ...fields }))).toEqual({ ok: true, events: [] });
  });

  it.each(['TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_CHUNK'])(
    'maps %s to stream_chunk, skipping empty deltas',
    (type) => {
      const m = mapper();
      expect(m.map(ev({ type, messageId: 'm', delta: 'hi' }))).toEqual({
        ok: true,
        events: [{ type: 'stream_chunk', data: { text: 'hi' } }],
      });
      expect(m.map(ev({ type, messageId: 'm', delta: '' }))).toEqual({ ok: true, events: [] });
    },
  );

  it('skips a TEXT_MESSAGE_CHUNK without delta', () => {
    expect(mapper().map(ev({ type: 'TEXT_MESSAGE_CHUNK', messageId: 'm' }))).toEqual({
      ok: true,
      events: [],
    });
  });

  it.each(['REASONING_MESSAGE_CONTENT', 'REASONING_MESSAGE_CHUNK'])('maps %s to agent_thinking', (type) => {
    const m = mapper();
    expect(m.map(ev({ type, messageId: 'm', delta: 'hm' }))).toEqual({
      ok: true,
      events: [{ type: 'agent_thinking', data: { reasoning: 'hm' } }],
    });
    expect(m.map(ev({ type, messageId: 'm', delta: '' }))).toEqual({ ok: true, events: [] });
  });

  it('accumulates TOOL_CALL_ARGS and emits one tool_executing at TOOL_CALL_END, tool_completed at RESULT', () => {
    const clock = { t: 100 };
    const m = mapper(clock);
    expect(m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'calc' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"x":' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '2}' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_END', toolCallId: 'c1' }))).toEqual({
      ok: true,
      events: [
        { type: 'tool_executing', data: { tool_name: 'calc', tool_args: { x: 2 }, execution_id: 'c1' } },
      ],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_END', toolCallId: 'c1' }))).toEqual({ ok: true, events: [] });
    clock.t = 175;
    expect(m.map(ev({ type: 'TOOL_CALL_RESULT', messageId: 'r', toolCallId: 'c1', content: '4' }))).toEqual({
      ok: true,
      events: [
        {
          type: 'tool_completed',
          data: { tool_name: 'calc', execution_id: 'c1', success: true, results: '4', duration_ms: 75 },
        },
      ],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_RESULT', messageId: 'r', toolCallId: 'c1', content: '4' }))).toEqual({
      ok: false,
      message: 'TOOL_CALL_RESULT for tool call c1, which no TOOL_CALL_START opened',
    });
  });

  it('announces a call with no arguments as {} and one whose RESULT comes without END', () => {
    const m = mapper();
    m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'now' }));
    expect(
      m.map(ev({ type: 'TOOL_CALL_RESULT', messageId: 'r', toolCallId: 'c1', content: 'noon' })),
    ).toEqual({
      ok: true,
      events: [
        { type: 'tool_executing', data: { tool_name: 'now', tool_args: {}, execution_id: 'c1' } },
        {
          type: 'tool_completed',
          data: { tool_name: 'now', execution_id: 'c1', success: true, results: 'noon', duration_ms: 0 },
        },
      ],
    });
  });

  it('handles TOOL_CALL_CHUNK streams: the first chunk opens the call, later ones add arguments', () => {
    const m = mapper();
    expect(m.map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'c', toolCallName: 'f', delta: '{"a"' }))).toEqual(
      {
        ok: true,
        events: [],
      },
    );
    expect(m.map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'c', delta: ':1}' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'c' }))).toEqual({ ok: true, events: [] });
    expect(m.map(ev({ type: 'TOOL_CALL_END', toolCallId: 'c' }))).toMatchObject({
      events: [{ data: { tool_name: 'f', tool_args: { a: 1 } } }],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_CHUNK', delta: 'x' }))).toEqual({
      ok: false,
      message: 'TOOL_CALL_CHUNK without toolCallId',
    });
    expect(m.map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'new', delta: 'x' }))).toEqual({
      ok: false,
      message: 'first TOOL_CALL_CHUNK of new has no toolCallName',
    });
  });

  it.each([
    ['TOOL_CALL_ARGS', { delta: '{}' }],
    ['TOOL_CALL_END', {}],
  ])('refuses %s for a call no TOOL_CALL_START opened', (type, fields) => {
    expect(mapper().map(ev({ type, toolCallId: 'ghost', ...fields }))).toEqual({
      ok: false,
      message: `${type} for tool call ghost, which no TOOL_CALL_START opened`,
    });
  });

  it.each([
    ['not JSON', '{"a":'],
    ['an array', '[1]'],
    ['a string', '"x"'],
    ['null', 'null'],
  ])('refuses tool arguments that are %s', (_label, args) => {
    const m = mapper();
    m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c', toolCallName: 'f' }));
    m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c', delta: args }));
    const refusal = { ok: false, message: 'arguments of tool call c are not a JSON object' };
    expect(m.map(ev({ type: 'TOOL_CALL_END', toolCallId: 'c' }))).toEqual(refusal);
    expect(m.map(ev({ type: 'TOOL_CALL_RESULT', messageId: 'r', toolCallId: 'c', content: '' }))).toEqual(
      refusal,
    );
  });

  it('maps RUN_FINISHED to succeeded with the streamed text and the result, or null without text', () => {
    const m = mapper();
    expect(m.map(ev({ type: 'RUN_FINISHED', threadId: 't', runId: 'r' }))).toEqual({
      ok: true,
      events: [{ type: 'agent_completed', data: { status: 'succeeded', final_response: null } }],
    });
    m.map(ev({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'm', delta: 'Hi ' }));
    m.map(ev({ type: 'TEXT_MESSAGE_CHUNK', messageId: 'm', delta: 'you' }));
    expect(m.map(ev({ type: 'RUN_FINISHED', threadId: 't', runId: 'r', result: { n: 1 } }))).toEqual({
      ok: true,
      events: [
        {
          type: 'agent_completed',
          data: { status: 'succeeded', final_response: 'Hi you', result: { n: 1 } },
        },
      ],
    });
  });

  it('maps RUN_FINISHED with a cancelled outcome to cancelled', () => {
    expect(
      mapper().map(ev({ type: 'RUN_FINISHED', threadId: 't', runId: 'r', outcome: { type: 'cancelled' } })),
    ).toEqual({
      ok: true,
      events: [
        {
          type: 'agent_completed',
          data: {
            status: 'cancelled',
            final_response: null,
            error: { code: 'CANCELLED', message: 'the backend cancelled the run' },
          },
        },
      ],
    });
  });

  it.each([
    ['its code', 'QUOTA', 'QUOTA'],
    ['AGENT_ERROR without a code', undefined, 'AGENT_ERROR'],
    ['AGENT_ERROR for an empty code', '', 'AGENT_ERROR'],
    ['AGENT_ERROR for a code over 64 characters', 'X'.repeat(65), 'AGENT_ERROR'],
    ['a code of exactly 64 characters', 'Y'.repeat(64), 'Y'.repeat(64)],
  ])('maps RUN_ERROR to failed with %s', (_label, code, expected) => {
    const m = mapper();
    m.map(ev({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'm', delta: 'part' }));
    expect(
      m.map(ev({ type: 'RUN_ERROR', message: 'boom', ...(code === undefined ? {} : { code }) })),
    ).toEqual({
      ok: true,
      events: [
        {
          type: 'agent_completed',
          data: { status: 'failed', final_response: 'part', error: { code: expected, message: 'boom' } },
        },
      ],
    });
  });

  it.each([
    ['STATE_SNAPSHOT', { snapshot: { a: 1 } }, 'ag_ui.state_snapshot'],
    ['CUSTOM', { name: 'n', value: 2 }, 'ag_ui.custom'],
    ['STEP_STARTED', { stepName: 's' }, 'ag_ui.step_started'],
  ])('passes %s through as a namespaced event', (type, fields, mapped) => {
    expect(mapper().map(ev({ type, ...fields }))).toEqual({
      ok: true,
      events: [{ type: mapped, data: fields }],
    });
  });
});

describe('AgUiMapper limits: what it holds between events is bounded', () => {
  const KIB = 1024;
  const finished = ev({ type: 'RUN_FINISHED', threadId: 't', runId: 'r' });

  function finalResponse(outcome: ReturnType<AgUiMapper['map']>): string {
    if (!outcome.ok) throw new Error(outcome.message);
    return String(outcome.events[0]?.data.final_response);
  }

  it('keeps at most 64 KiB of text for final_response, marking the cut, while every delta still streams', () => {
    const m = mapper();
    const delta = 'y'.repeat(40 * KIB);
    for (let i = 0; i < 5; i++) {
      expect(m.map(ev({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'm', delta }))).toEqual({
        ok: true,
        events: [{ type: 'stream_chunk', data: { text: delta } }],
      });
    }
    const text = finalResponse(m.map(finished));
    expect(text).toHaveLength(64 * KIB);
    expect(text.endsWith('y…')).toBe(true);
  });

  it('keeps text of exactly 64 KiB whole', () => {
    const m = mapper();
    m.map(ev({ type: 'TEXT_MESSAGE_CHUNK', messageId: 'm', delta: 'z'.repeat(64 * KIB) }));
    expect(finalResponse(m.map(finished))).toBe('z'.repeat(64 * KIB));
  });

  it('refuses arguments that take a tool call past maxToolCallLength, counting its name', () => {
    const m = new AgUiMapper(() => 0, { maxToolCallLength: 10, maxOpenToolCalls: 4 });
    expect(m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'calc' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"a":1}' }))).toEqual({
      ok: false,
      message: 'tool call c1: name and arguments longer than 10 characters',
    });
  });

  it('accepts a tool call of exactly maxToolCallLength', () => {
    const m = new AgUiMapper(() => 0, { maxToolCallLength: 10, maxOpenToolCalls: 4 });
    m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'sum' }));
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"a":' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '1}' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_END', toolCallId: 'c1' }))).toMatchObject({
      ok: true,
      events: [{ type: 'tool_executing', data: { tool_args: { a: 1 } } }],
    });
  });

  it('applies the limit to TOOL_CALL_CHUNK streams from their first chunk', () => {
    const m = new AgUiMapper(() => 0, { maxToolCallLength: 10, maxOpenToolCalls: 4 });
    expect(
      m.map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'c1', toolCallName: 'calculator', delta: '{}' })),
    ).toEqual({ ok: false, message: 'tool call c1: name and arguments longer than 10 characters' });
  });

  it('refuses a tool call past maxOpenToolCalls open at once, and counts a finished one as closed', () => {
    const m = new AgUiMapper(() => 0, { maxToolCallLength: 100, maxOpenToolCalls: 2 });
    const start = (id: string) => m.map(ev({ type: 'TOOL_CALL_START', toolCallId: id, toolCallName: 't' }));
    expect(start('c1')).toEqual({ ok: true, events: [] });
    expect(start('c2')).toEqual({ ok: true, events: [] });
    expect(start('c3')).toEqual({
      ok: false,
      message: 'TOOL_CALL_START of c3: more than 2 tool calls open at once',
    });
    expect(
      m.map(ev({ type: 'TOOL_CALL_RESULT', messageId: 'r', toolCallId: 'c1', content: 'ok' })),
    ).toMatchObject({
      ok: true,
    });
    expect(start('c3')).toEqual({ ok: true, events: [] });
  });

  it('refuses a toolCallId longer than an execution_id may be', () => {
    expect(
      mapper().map(ev({ type: 'TOOL_CALL_START', toolCallId: 'i'.repeat(129), toolCallName: 't' })),
    ).toEqual({ ok: false, message: 'TOOL_CALL_START toolCallId: longer than 128 characters' });
    expect(
      mapper().map(ev({ type: 'TOOL_CALL_CHUNK', toolCallId: 'i'.repeat(129), toolCallName: 't' })),
    ).toEqual({ ok: false, message: 'TOOL_CALL_CHUNK toolCallId: longer than 128 characters' });
    expect(
      mapper().map(ev({ type: 'TOOL_CALL_START', toolCallId: 'i'.repeat(128), toolCallName: 't' })),
    ).toEqual({ ok: true, events: [] });
  });

  it('defaults to 64 KiB per tool call and 32 open tool calls', () => {
    const m = mapper();
    m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c0', toolCallName: 'ab' }));
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c0', delta: 'x'.repeat(64 * KIB - 2) }))).toEqual({
      ok: true,
      events: [],
    });
    expect(m.map(ev({ type: 'TOOL_CALL_ARGS', toolCallId: 'c0', delta: 'x' }))).toEqual({
      ok: false,
      message: 'tool call c0: name and arguments longer than 65536 characters',
    });
    for (let i = 1; i < 32; i++) {
      expect(m.map(ev({ type: 'TOOL_CALL_START', toolCallId: `c${i}`, toolCallName: 't' }))).toEqual({
        ok: true,
        events: [],
      });
    }
    expect(m.map(ev({ type: 'TOOL_CALL_START', toolCallId: 'c32', toolCallName: 't' }))).toEqual({
      ok: false,
      message: 'TOOL_CALL_START of c32: more than 32 tool calls open at once',
    });
  });
});
