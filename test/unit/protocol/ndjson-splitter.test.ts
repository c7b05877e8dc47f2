import { describe, expect, it } from 'vitest';
import { NdjsonSplitter } from '../../../packages/server/src/protocol/ndjson-splitter.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('NdjsonSplitter', () => {
  it('returns complete lines with their numbers and keeps the rest for the next chunk', () => {
    const s = new NdjsonSplitter();
    expect(s.push(bytes('{"a":1}\n{"b"'))).toEqual({ ok: true, lines: [{ number: 1, text: '{"a":1}' }] });
    expect(s.push(bytes(':2}\n'))).toEqual({ ok: true, lines: [{ number: 2, text: '{"b":2}' }] });
    expect(s.finish()).toEqual({ ok: true, lines: [] });
  });

  it('drops the CR of CRLF, skips blank and whitespace-only lines but counts them', () => {
    const s = new NdjsonSplitter();
    expect(s.push(bytes('a\r\n\r\n  \nb\n'))).toEqual({
      ok: true,
      lines: [
        { number: 1, text: 'a' },
        { number: 4, text: 'b' },
      ],
    });
  });

  it('keeps a CR that is not before a newline', () => {
    expect(new NdjsonSplitter().push(bytes('a\rb\n'))).toEqual({
      ok: true,
      lines: [{ number: 1, text: 'a\rb' }],
    });
  });

  it('reassembles a multi-byte character split across chunks', () => {
    const s = new NdjsonSplitter();
    const all = bytes('"€"\n');
    expect(s.push(all.subarray(0, 2))).toEqual({ ok: true, lines: [] });
    expect(s.push(all.subarray(2))).toEqual({ ok: true, lines: [{ number: 1, text: '"€"' }] });
  });

  it('returns a last line without a trailing newline on finish', () => {
    const s = new NdjsonSplitter();
    expect(s.push(bytes('x\ny'))).toEqual({ ok: true, lines: [{ number: 1, text: 'x' }] });
    expect(s.finish()).toEqual({ ok: true, lines: [{ number: 2, text: 'y' }] });
  });

  it('accepts a line of exactly maxLineLength and refuses one character more', () => {
    expect(new NdjsonSplitter(3).push(bytes('abc\n'))).toEqual({
      ok: true,
      lines: [{ number: 1, text: 'abc' }],
    });
    expect(new NdjsonSplitter(3).push(bytes('ok\nabcd\n'))).toEqual({
      ok: false,
      message: 'line 2 is longer than 3 characters',
      before: [{ number: 1, text: 'ok' }],
    });
  });

  it('refuses an unterminated line as soon as it outgrows maxLineLength', () => {
    const s = new NdjsonSplitter(4);
    expect(s.push(bytes('ab\nabcd'))).toEqual({ ok: true, lines: [{ number: 1, text: 'ab' }] });
    expect(s.push(bytes('e'))).toEqual({
      ok: false,
      message: 'line 2 is longer than 4 characters',
      before: [],
    });
  });

  it('keeps the complete lines before a line that outgrows the limit in the same chunk', () => {
    const s = new NdjsonSplitter(4);
    expect(s.push(bytes('a\nb\nabcdef'))).toEqual({
      ok: false,
      message: 'line 3 is longer than 4 characters',
      before: [
        { number: 1, text: 'a' },
        { number: 2, text: 'b' },
      ],
    });
  });

  it('does not count a CRLF against the limit', () => {
    expect(new NdjsonSplitter(3).push(bytes('abc\r\n'))).toEqual({
      ok: true,
      lines: [{ number: 1, text: 'abc' }],
    });
  });

  it('keeps a CR that may start a CRLF out of the limit while the line is still open', () => {
    const s = new NdjsonSplitter(3);
    expect(s.push(bytes('abc\r'))).toEqual({ ok: true, lines: [] });
    expect(s.push(bytes('\n'))).toEqual({ ok: true, lines: [{ number: 1, text: 'abc' }] });
    expect(new NdjsonSplitter(3).push(bytes('abcd\r'))).toEqual({
      ok: false,
      message: 'line 1 is longer than 3 characters',
      before: [],
    });
  });

  // A backend that dribbles a long line a byte at a time must cost the gateway work in proportion to
  // the bytes, not to their square: rescanning everything held for each byte took a minute for 1 MiB.
  it('takes a 1 MiB line fed one byte at a time in linear time', { timeout: 20_000 }, () => {
    const s = new NdjsonSplitter();
    const x = bytes('x');
    const started = performance.now();
    for (let i = 0; i < 1_048_576; i++) {
      const outcome = s.push(x);
      if (!outcome.ok || outcome.lines.length > 0) throw new Error(`unexpected outcome at byte ${i}`);
    }
    expect(s.push(bytes('\n'))).toEqual({ ok: true, lines: [{ number: 1, text: 'x'.repeat(1_048_576) }] });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
