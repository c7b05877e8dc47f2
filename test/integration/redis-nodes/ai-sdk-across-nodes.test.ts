import {
  DefaultChatTransport,
  readUIMessageStream,
  type UIMessage,
  type UIMessageChunk,
  WebSocketChatTransport,
  type WebSocketChatTransportInitOptions,
} from 'ai';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { TEST_SECRET } from '../../helpers/gateway-harness.js';
import { useGatewayNodes } from '../../helpers/gateway-nodes.js';
import type { GatewayProcess } from '../../helpers/gateway-process.js';

/**
 * docs/protocol.md J on the Redis engine: a chat's run started through one node is resumed and aborted through
 * another (the run-stream core and the run registry, issue 15), with the AI SDK's own transports.
 */

const nodes = useGatewayNodes({ keyPrefix: 'ai-sdk-nodes', args: ['--demo-delay-ms', '250'] });
const question: UIMessage = {
  id: 'm-x',
  role: 'user',
  parts: [{ type: 'text', text: 'What is 6 times 7?' }],
};

const http = (node: GatewayProcess, token: string) =>
  new DefaultChatTransport<UIMessage>({
    api: `http://127.0.0.1:${node.port}/v1/ai-sdk/chat`,
    headers: { Authorization: `Bearer ${token}` },
  });

async function firstChunks(stream: ReadableStream<UIMessageChunk>, type: string): Promise<UIMessageChunk[]> {
  const reader = stream.getReader();
  const seen: UIMessageChunk[] = [];
  for (let i = 0; i < 1000; i++) {
    const { done, value } = await reader.read();
    if (done) break;
    seen.push(value);
    if (value.type === type) break;
  }
  reader.releaseLock();
  return seen;
}

async function assemble(stream: ReadableStream<UIMessageChunk>): Promise<UIMessage> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  if (last === undefined) throw new Error('no message');
  return last;
}

describe('AI SDK edge across nodes (Redis)', () => {
  it("resumes on node B the run node A started, and B's abort cancels it on A", async () => {
    const [a, b] = await Promise.all([nodes.start('a'), nodes.start('b')]);
    const token = await signToken(TEST_SECRET, 'x-user', 3600);
    // Resume: a read on A cut after the reasoning, then GET …/stream on B.
    const cut = new AbortController();
    const first = await http(a, token).sendMessages({
      chatId: 'x-chat',
      messages: [question],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: cut.signal,
    });
    await firstChunks(first, 'reasoning-end');
    cut.abort();
    const resumed = await http(b, token).reconnectToStream({ chatId: 'x-chat' });
    if (resumed === null) throw new Error('B found no active run');
    const message = await assemble(resumed);
    expect(message.parts.map((p) => p.type)).toEqual([
      'step-start',
      'reasoning',
      'tool-web_search',
      'tool-calculator',
      'text',
    ]);
    expect(message.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')).toContain('6 * 7 = 42.');

    // Abort: a second run started on A, a WebSocket resume of it on B, aborted there.
    const second = await http(a, token).sendMessages({
      chatId: 'x-chat-2',
      messages: [{ ...question, id: 'm-x-2' }],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    const opening = await firstChunks(second, 'start');
    const ws = new WebSocketChatTransport<UIMessage>({
      url: `ws://127.0.0.1:${b.port}/v1/ai-sdk/ws`,
      protocols: ['agentcast.v1', `bearer.${token}`],
      webSocket: WebSocket as unknown as NonNullable<
        WebSocketChatTransportInitOptions<UIMessage>['webSocket']
      >,
    });
    const stop = new AbortController();
    const onB = await ws.reconnectToStream({ chatId: 'x-chat-2', abortSignal: stop.signal });
    if (onB === null) throw new Error('B found no active run over the WebSocket');
    await firstChunks(onB, 'start');
    stop.abort();
    const rest = await firstChunks(second, 'abort');
    expect(opening[0]).toMatchObject({ type: 'start' });
    expect(rest.at(-1)).toEqual({ type: 'abort', reason: 'CANCELLED' });
    ws.close();
  });
});
