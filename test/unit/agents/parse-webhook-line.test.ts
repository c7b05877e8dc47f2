import { describe, expect, it } from 'vitest';
import { AgUiMapper } from '../../../packages/server/src/agents/ag-ui-mapping.js';
import { parseWebhookLine } from '../../../packages/server/src/agents/parse-webhook-line.js';

const parse = (text: string, number = 3) => parseWebhookLine({ number, text }, new AgUiMapper(() => 0));

describe('parseWebhookLine', () => {
  it('passes a valid agentcast event on as { type, data }, dropping any run_id', () => {
    expect(parse('{"type":"stream_chunk","run_id":"r_x","data":{"text":"a"}}')).toEqual({
      ok: true,
      events: [{ type: 'stream_chunk', data: { text: 'a' } }],
    });
  });

  it('gives an agentcast event without data an empty object', () => {
    expect(parse('{"type":"custom.ping"}')).toEqual({
      ok: true,
      events: [{ type: 'custom.ping', data: {} }],
    });
  });

  it.each([
    ['{"type":', 'line 3: not valid JSON'],
    ['42', 'line 3: not a JSON object'],
    ['null', 'line 3: not a JSON object'],
    ['[]', 'line 3: not a JSON object'],
    ['{"type":"Bad"}', 'line 3: type: must match ^[a-z][a-z0-9_.]{0,63}$'],
  ])('refuses %s', (text, message) => {
    expect(parse(text)).toEqual({ ok: false, message });
  });

  it('refuses a line nested deeper than 64 levels, and an event type reserved for server frames', () => {
    const deep = `${'{"a":'.repeat(20_000)}{}${'}'.repeat(20_000)}`;
    expect(parse(`{"type":"notification","data":${deep}}`)).toEqual({
      ok: false,
      message: 'line 3: data: nested deeper than 64 levels',
    });
    expect(parse('{"type":"ack","data":{"run_id":"r_x"}}')).toEqual({
      ok: false,
      message: `line 3: type: "ack" is reserved for the gateway's own frames`,
    });
  });

  it('names the field of an invalid agentcast event', () => {
    const outcome = parse('{"type":"tool_completed","data":{"tool_name":"t"}}');
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.message.startsWith('line 3: data.execution_id: ')).toBe(true);
  });

  it('validates AG-UI events with @ag-ui/core and maps them', () => {
    expect(parse('{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"x"}')).toEqual({
      ok: true,
      events: [{ type: 'stream_chunk', data: { text: 'x' } }],
    });
    expect(parse('{"type":"RUN_STARTED","runId":"r"}')).toEqual({
      ok: false,
      message: 'line 3: RUN_STARTED threadId: required',
    });
    const unknown = parse('{"type":"NOT_AN_AG_UI_TYPE"}');
    expect(!unknown.ok && unknown.message.startsWith('line 3: NOT_AN_AG_UI_TYPE type: ')).toBe(true);
  });

  it('names the line of a mapping error', () => {
    expect(parse('{"type":"TOOL_CALL_END","toolCallId":"c"}', 9)).toEqual({
      ok: false,
      message: 'line 9: TOOL_CALL_END for tool call c, which no TOOL_CALL_START opened',
    });
  });

  it('maps legacy THINKING_TEXT_MESSAGE_CONTENT to agent_thinking and drops other THINKING_ events', () => {
    expect(parse('{"type":"THINKING_TEXT_MESSAGE_CONTENT","delta":"hmm"}')).toEqual({
      ok: true,
      events: [{ type: 'agent_thinking', data: { reasoning: 'hmm' } }],
    });
    expect(parse('{"type":"THINKING_TEXT_MESSAGE_CONTENT","delta":""}')).toEqual({ ok: true, events: [] });
    expect(parse('{"type":"THINKING_START"}')).toEqual({ ok: true, events: [] });
    expect(parse('{"type":"THINKING_TEXT_MESSAGE_CONTENT"}')).toEqual({
      ok: false,
      message: 'line 3: THINKING_TEXT_MESSAGE_CONTENT delta: expected a string',
    });
  });
});
