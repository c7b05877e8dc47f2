import { describe, expect, it } from 'vitest';
import { SseReader } from '../../../packages/server/src/agents/sse-reader.js';
import { frameReader } from '../../../packages/server/src/agents/upstream-decoder.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Every event of `text` fed in one chunk per `step` characters, then ended. */
function read(text: string, step = text.length, max?: number) {
  const reader = new SseReader(max);
  const events: { number: number; data: string }[] = [];
  for (let i = 0; i < text.length; i += step) {
    const out = reader.push(bytes(text.slice(i, i + step)));
    if (!out.ok) return out;
    events.push(...out.events);
  }
  const end = reader.finish();
  if (!end.ok) return end;
  return { ok: true, events: [...events, ...end.events] };
}

describe('SseReader', () => {
  it('hands out each event once its blank line arrives, across any chunking', () => {
    const text = 'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n';
    for (const step of [1, 3, text.length]) {
      expect(read(text, step)).toEqual({
        ok: true,
        events: [
          { number: 1, data: '{"a":1}' },
          { number: 3, data: '{"b":2}' },
        ],
      });
    }
  });

  it('joins multi-line data with \\n, ignores id/event/retry and other fields, tolerates comments', () => {
    const text = ': keep-alive\nid: 7\nevent: message\nretry: 10\ndata: one\ndata:two\ndata\nfoo: bar\n\n';
    expect(read(text)).toEqual({ ok: true, events: [{ number: 5, data: 'one\ntwo\n' }] });
  });

  it('skips events without data and drops an event the stream cut before its blank line', () => {
    expect(read('id: 1\n\n: only a comment\n\ndata: cut\n')).toEqual({ ok: true, events: [] });
    expect(read('data: cut')).toEqual({ ok: true, events: [] });
  });

  it("refuses a line, or an event's joined data, longer than the bound", () => {
    expect(read(`data: ${'x'.repeat(20)}\n\n`, 4, 10)).toEqual({
      ok: false,
      message: 'line 1 is longer than 10 characters',
    });
    expect(read('data: 123456\ndata: 123456\n\n', 100, 12)).toEqual({
      ok: false,
      message: 'event at line 1: data longer than 12 characters',
    });
  });
});

describe('frameReader', () => {
  it('reads text/event-stream as SSE events and anything else as NDJSON lines', () => {
    const sse = frameReader('Text/Event-Stream; charset=utf-8', 100);
    expect(sse.push(bytes('data: a\n\ndata: b\n'))).toEqual({
      ok: true,
      frames: [{ where: 'event at line 1', text: 'a' }],
    });
    expect(sse.finish()).toEqual({ ok: true, frames: [] });
    for (const type of ['application/x-ndjson', null]) {
      const ndjson = frameReader(type, 100);
      expect(ndjson.push(bytes('{"a":1}\n\n{"b"'))).toEqual({
        ok: true,
        frames: [{ where: 'line 1', text: '{"a":1}' }],
      });
      expect(ndjson.finish()).toEqual({ ok: true, frames: [{ where: 'line 3', text: '{"b"' }] });
    }
    expect(frameReader('text/event-stream', 3).push(bytes('data: long\n'))).toMatchObject({ ok: false });
    expect(frameReader(null, 3).push(bytes('long\n'))).toMatchObject({ ok: false });
  });
});
