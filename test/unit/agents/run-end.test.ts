import { describe, expect, it } from 'vitest';
import { AgentRunError } from '../../../packages/server/src/agents/agent-run-error.js';
import {
  appendFinalText,
  clip,
  errorMessage,
  FINAL_TEXT_MAX,
  failedEnd,
  innermostMessage,
  runEndEvent,
} from '../../../packages/server/src/agents/run-end.js';
import { webhookHttpCode } from '../../../packages/server/src/agents/run-error-code.js';
import { parseNewEvent } from '../../../packages/server/src/protocol/events.js';

describe('runEndEvent', () => {
  it('builds a valid agent_completed for success, without error', () => {
    const event = runEndEvent('r_1', { status: 'succeeded', finalResponse: 'ok' });
    expect(event).toEqual({
      type: 'agent_completed',
      run_id: 'r_1',
      data: { status: 'succeeded', final_response: 'ok' },
    });
    expect(parseNewEvent(event).ok).toBe(true);
  });

  it('builds a valid agent_completed with error otherwise', () => {
    const event = runEndEvent('r_1', failedEnd('timed_out', 'TIMEOUT', 'too slow'));
    expect(event.data).toEqual({
      status: 'timed_out',
      final_response: null,
      error: { code: 'TIMEOUT', message: 'too slow' },
    });
    expect(parseNewEvent(event).ok).toBe(true);
  });

  it('cuts error messages to the 4096 characters the schema allows', () => {
    const end = failedEnd('failed', 'X', 'm'.repeat(5000));
    const event = runEndEvent('r_1', end);
    expect((event.data.error as { message: string }).message).toHaveLength(4096);
    expect(parseNewEvent(event).ok).toBe(true);
  });
});

describe('clip', () => {
  it('keeps text up to max and marks a cut with an ellipsis', () => {
    expect(clip('abc', 3)).toBe('abc');
    expect(clip('abcd', 3)).toBe('ab…');
  });
});

describe('appendFinalText (the one rule for final_response built from streamed text)', () => {
  it('is 64 KiB', () => {
    expect(FINAL_TEXT_MAX).toBe(65_536);
  });

  it('appends until full, then cuts with an ellipsis and drops the rest', () => {
    expect(appendFinalText('ab', 'cd')).toBe('abcd');
    const cut = appendFinalText('a'.repeat(FINAL_TEXT_MAX - 1), 'bcd');
    expect(cut).toBe(`${'a'.repeat(FINAL_TEXT_MAX - 1)}…`);
    expect(appendFinalText(cut, 'more')).toBe(cut);
  });

  it('marks the cut also when the text filled it exactly before more came', () => {
    const full = appendFinalText('', 'z'.repeat(FINAL_TEXT_MAX));
    expect(full).toBe('z'.repeat(FINAL_TEXT_MAX));
    expect(appendFinalText(full, '')).toBe(full);
    expect(appendFinalText(full, 'more')).toBe(`${'z'.repeat(FINAL_TEXT_MAX - 1)}…`);
  });

  it('copies only what fits of a huge delta', () => {
    expect(appendFinalText('x', 'y'.repeat(10 * FINAL_TEXT_MAX))).toHaveLength(FINAL_TEXT_MAX);
  });
});

describe('innermostMessage', () => {
  it('follows the cause chain to its end', () => {
    const inner = new Error('connect ECONNREFUSED 127.0.0.1:1');
    expect(innermostMessage(new TypeError('fetch failed', { cause: inner }))).toBe(inner.message);
    expect(innermostMessage(new Error('top'))).toBe('top');
    expect(innermostMessage('text')).toBe('text');
  });
});

describe('errorMessage', () => {
  it('uses the message, the name of an Error without one, or the string form', () => {
    expect(errorMessage(new Error('m'))).toBe('m');
    expect(errorMessage(new RangeError())).toBe('RangeError');
    expect(errorMessage(42)).toBe('42');
  });
});

describe('webhookHttpCode', () => {
  it('names the status', () => {
    expect(webhookHttpCode(502)).toBe('WEBHOOK_HTTP_502');
  });
});

describe('AgentRunError', () => {
  it('carries its code and cause', () => {
    const cause = new Error('c');
    const error = new AgentRunError('MY_CODE', 'msg', { cause });
    expect([error.code, error.message, error.name, error.cause]).toEqual([
      'MY_CODE',
      'msg',
      'AgentRunError',
      cause,
    ]);
  });

  it.each(['', 'X'.repeat(65)])('refuses the code %j', (code) => {
    expect(() => new AgentRunError(code, 'm')).toThrow(TypeError);
  });

  it('accepts a 64-character code', () => {
    expect(new AgentRunError('X'.repeat(64), 'm').code).toHaveLength(64);
  });
});
