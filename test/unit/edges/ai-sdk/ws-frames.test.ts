import { safeValidateWebSocketChatTransportRequest } from 'ai';
import { describe, expect, it } from 'vitest';
import { aiSdkFrame, parseAiSdkFrame } from '../../../../packages/server/src/edges/ai-sdk/ws-frames.js';

/** The WebSocketChatTransport framing of docs/protocol.md J, beside the SDK's own request check. */

const messages = [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }];
const send = {
  type: 'send',
  requestId: 'q1',
  id: 'chat',
  trigger: 'submit-message',
  messages,
  headers: {},
  body: { tone: 'dry' },
};

describe('parseAiSdkFrame', () => {
  it('reads the frames the SDK accepts', async () => {
    for (const frame of [
      send,
      { type: 'resume', requestId: 'q2', id: 'chat', headers: {}, body: {}, lastSequence: 3 },
      { type: 'abort', requestId: 'q1' },
    ]) {
      expect((await safeValidateWebSocketChatTransportRequest({ value: frame })).success).toBe(true);
      expect(parseAiSdkFrame(JSON.stringify(frame)).ok).toBe(true);
    }
    const parsed = parseAiSdkFrame(JSON.stringify(send));
    expect(parsed.ok && parsed.frame.type === 'send' && parsed.frame.request.extra).toEqual({ tone: 'dry' });
    const resume = parseAiSdkFrame(JSON.stringify({ type: 'resume', requestId: 'q2', id: 'chat' }));
    expect(resume).toEqual({
      ok: true,
      frame: { type: 'resume', requestId: 'q2', chatId: 'chat', lastSequence: undefined },
    });
  });

  it('answers a bad frame with an error naming the problem, under its request id when it has one', async () => {
    const cases: [string, string, string][] = [
      ['{', '', 'frame is not valid JSON'],
      ['[1]', '', 'frame must be a JSON object'],
      ['{"type":"send"}', '', 'requestId: required'],
      ['{"type":"nope","requestId":"q"}', 'q', 'type: must be'],
      ['{"type":"resume","requestId":"q"}', 'q', 'id: required, the chat id'],
      ['{"type":"resume","requestId":"q","id":"c","lastSequence":-1}', 'q', 'lastSequence:'],
      [JSON.stringify({ ...send, body: 3 }), 'q1', 'body: must be an object'],
      [JSON.stringify({ ...send, messages: [] }), 'q1', 'messages: must not be empty'],
    ];
    for (const [text, requestId, start] of cases) {
      const parsed = parseAiSdkFrame(text);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error.requestId).toBe(requestId);
        expect(parsed.error.errorText.startsWith(start), parsed.error.errorText).toBe(true);
      }
    }
  });

  it('writes the server frames', () => {
    expect(JSON.parse(aiSdkFrame.start('q'))).toEqual({ type: 'start', requestId: 'q' });
    expect(JSON.parse(aiSdkFrame.chunk('q', 2, { type: 'start-step' }))).toEqual({
      type: 'chunk',
      requestId: 'q',
      sequence: 2,
      chunk: { type: 'start-step' },
    });
    expect(JSON.parse(aiSdkFrame.end('q'))).toEqual({ type: 'end', requestId: 'q' });
    expect(JSON.parse(aiSdkFrame.noActive('q'))).toEqual({ type: 'no-active', requestId: 'q' });
    expect(JSON.parse(aiSdkFrame.error('q', 'x'))).toEqual({ type: 'error', requestId: 'q', errorText: 'x' });
  });
});
