import {
  createUIMessageStream,
  DefaultChatTransport,
  pipeUIMessageStreamToResponse,
  readUIMessageStream,
  type UIMessage,
  validateUIMessages,
} from 'ai';
import { afterAll, describe, expect, it } from 'vitest';
import { createWebhookAgent } from '../../../packages/server/src/agents/webhook-agent.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { type LocalBackend, localBackend, SECRET } from '../agents/local-backend.js';

/**
 * Both directions at once (issue 24): `useChat`'s DefaultChatTransport in front (docs/protocol.md J), an AI SDK
 * route built with `createUIMessageStream` behind (`--agent-protocol ai-sdk`, docs/agents.md "AI SDK
 * backends"). The chat's UI messages and the app's body fields reach the backend as the front sent them, and
 * the backend's answer reaches the front as the message the SDK assembles.
 */

let h: Harness | undefined;
let backend: LocalBackend | undefined;
afterAll(async () => {
  await h?.close();
  await backend?.close();
});

describe('AI SDK in front and behind', () => {
  it('passes the chat through to an AI SDK route and its answer back to the SDK in front', async () => {
    backend = await localBackend(async (request, res) => {
      const body = JSON.parse(request.body) as { id: string; messages: unknown; tone?: string };
      const messages = await validateUIMessages({ messages: body.messages });
      const asked = messages
        .at(-1)
        ?.parts.map((p) => (p.type === 'text' ? p.text : ''))
        .join('');
      await pipeUIMessageStreamToResponse({
        response: res,
        stream: createUIMessageStream({
          execute: ({ writer }) => {
            writer.write({ type: 'start' });
            writer.write({
              type: 'tool-input-available',
              toolCallId: 'c1',
              toolName: 'lookup',
              input: { q: asked },
            });
            writer.write({ type: 'tool-output-available', toolCallId: 'c1', output: { hits: 2 } });
            writer.write({ type: 'text-start', id: 't' });
            writer.write({ type: 'text-delta', id: 't', delta: `${body.tone ?? 'plain'}: ` });
            writer.write({
              type: 'text-delta',
              id: 't',
              delta: `chat ${body.id}, ${messages.length} messages`,
            });
            writer.write({ type: 'text-end', id: 't' });
            writer.write({ type: 'finish' });
          },
        }),
      });
    });
    const webhook = createWebhookAgent({
      url: backend.url,
      secret: SECRET,
      protocol: 'ai-sdk',
      name: 'chatbot',
    });
    h = await startGateway({}, { agents: [webhook] });
    const transport = new DefaultChatTransport<UIMessage>({
      api: `${h.httpUrl}/v1/ai-sdk/chat`,
      headers: { Authorization: `Bearer ${await h.token('both-user')}` },
      body: { agent: 'chatbot', tone: 'dry' },
    });
    const history: UIMessage[] = [
      { id: 'm-0', role: 'user', parts: [{ type: 'text', text: 'earlier' }] },
      { id: 'a-0', role: 'assistant', parts: [{ type: 'text', text: 'an earlier answer' }] },
      { id: 'm-1', role: 'user', parts: [{ type: 'text', text: 'what now?' }] },
    ];
    const stream = await transport.sendMessages({
      chatId: 'both-chat',
      messages: history,
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    let message: UIMessage | undefined;
    for await (const next of readUIMessageStream({ stream })) message = next;
    expect(message?.parts.map((p) => p.type)).toEqual(['step-start', 'tool-lookup', 'text']);
    expect(message?.parts[1]).toMatchObject({
      state: 'output-available',
      input: { q: 'what now?' },
      output: { hits: 2 },
    });
    expect(message?.parts[2]).toMatchObject({ text: 'dry: chat both-chat, 3 messages' });
    // The backend got the UI messages as the front sent them.
    const sent = JSON.parse(backend.requests[0]?.body ?? '{}') as { id: string; messages: unknown };
    expect(sent.id).toBe('both-chat');
    expect(sent.messages).toEqual(history);
  });
});
