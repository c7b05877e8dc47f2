import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { testAgents } from './ai-sdk-agents.js';

/**
 * docs/protocol.md J over HTTP, through the AI SDK's own DefaultChatTransport and readUIMessageStream: POST
 * /v1/ai-sdk/chat streams the run, GET …/stream resumes it from its first chunk, POST …/cancel stops it.
 */

const user = (id: string, text: string): UIMessage => ({ id, role: 'user', parts: [{ type: 'text', text }] });

let h: Harness;
const agents = testAgents();

beforeAll(async () => {
  // A fast heartbeat: every stream below also shows the SDK skipping `: ping` lines.
  h = await startGateway({ sseHeartbeatMs: 100 }, { agents: agents.agents });
});
afterAll(() => h.close());

async function transportFor(
  userId: string,
  body: Record<string, unknown> = {},
): Promise<DefaultChatTransport<UIMessage>> {
  const token = await h.token(userId);
  return new DefaultChatTransport({
    api: `${h.httpUrl}/v1/ai-sdk/chat`,
    headers: { Authorization: `Bearer ${token}` },
    body,
  });
}

/** The message the SDK assembles from a stream; with `message`, continuing it (as useChat continues its last). */
async function assemble(stream: ReadableStream<UIMessageChunk>, message?: UIMessage): Promise<UIMessage> {
  let last: UIMessage | undefined;
  for await (const next of readUIMessageStream({ stream, message })) last = next;
  if (last === undefined) throw new Error('the stream assembled no message');
  return last;
}

function textOf(message: UIMessage): string {
  return message.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/** Reads chunks until one matches, then hands back the rest of the stream unread. */
async function readUntil(
  stream: ReadableStream<UIMessageChunk>,
  stop: (chunk: UIMessageChunk) => boolean,
): Promise<{ seen: UIMessageChunk[]; reader: ReadableStreamDefaultReader<UIMessageChunk> }> {
  const reader = stream.getReader();
  const seen: UIMessageChunk[] = [];
  for (let i = 0; i < 1000; i++) {
    const { done, value } = await reader.read();
    if (done) break;
    seen.push(value);
    if (stop(value)) break;
  }
  return { seen, reader };
}

describe('AI SDK over HTTP (DefaultChatTransport)', () => {
  it("assembles the demo agent's answer: reasoning, its tools and its text", async () => {
    const transport = await transportFor('u-demo');
    const stream = await transport.sendMessages({
      chatId: 'chat-demo',
      messages: [user('m-demo', 'What is 6 times 7?')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    const message = await assemble(stream);
    expect(message.role).toBe('assistant');
    expect(message.id).toMatch(/^r_/);
    const types = message.parts.map((p) => p.type);
    expect(types).toEqual(['step-start', 'reasoning', 'tool-web_search', 'tool-calculator', 'text']);
    expect(message.parts[3]).toMatchObject({ state: 'output-available', output: 42 });
    expect(textOf(message)).toContain('6 * 7 = 42.');
    // The run is a run of the chat's thread, as a user_message with that thread_id would start.
    const runs = await fetch(`${h.httpUrl}/v1/runs?thread_id=chat-demo&state=recent`, {
      headers: { Authorization: `Bearer ${await h.token('u-demo')}` },
    });
    expect(((await runs.json()) as { runs: { run_id: string; status: string }[] }).runs).toEqual([
      expect.objectContaining({ run_id: message.id, status: 'succeeded' }),
    ]);
    // regenerate(): a new run of the same question; the same regenerate retried is that run again.
    const regenerate = async () => {
      const again = await transport.sendMessages({
        chatId: 'chat-demo',
        messages: [user('m-demo', 'What is 6 times 7?')],
        trigger: 'regenerate-message',
        messageId: message.id,
        abortSignal: undefined,
      });
      return assemble(again);
    };
    const regenerated = await regenerate();
    expect(regenerated.id).not.toBe(message.id);
    expect(textOf(regenerated)).toContain('6 * 7 = 42.');
    expect((await regenerate()).id).toBe(regenerated.id);
  });

  it('a read cut mid-run only detaches; reconnectToStream gives the same message, each piece once; two tabs agree', async () => {
    const transport = await transportFor('u-cut', { agent: 'gated' });
    const cut = new AbortController();
    const stream = await transport.sendMessages({
      chatId: 'chat-cut',
      messages: [user('m-cut', 'cut me')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: cut.signal,
    });
    const { seen } = await readUntil(stream, (c) => c.type === 'text-delta' && c.delta === 'two ');
    await agents.reached('cut me');
    cut.abort();
    expect(seen.map((c) => c.type)).toContain('reasoning-delta');
    const tab1 = await transport.reconnectToStream({ chatId: 'chat-cut' });
    const tab2 = await (await transportFor('u-cut')).reconnectToStream({ chatId: 'chat-cut' });
    if (tab1 === null || tab2 === null) throw new Error('no active run to resume');
    const messages = Promise.all([assemble(tab1), assemble(tab2)]);
    agents.release('cut me');
    const [one, two] = await messages;
    expect(textOf(one)).toBe('one two three');
    expect(one.parts.filter((p) => p.type === 'reasoning')).toEqual([
      expect.objectContaining({ text: 'Thinking.', state: 'done' }),
    ]);
    expect(two).toEqual(one);
    // Ended: nothing left to resume.
    expect(await transport.reconnectToStream({ chatId: 'chat-cut' })).toBeNull();
  });

  it("another user's chat id is 204, never their stream", async () => {
    const owner = await transportFor('u-owner', { agent: 'gated' });
    const stream = await owner.sendMessages({
      chatId: 'chat-private',
      messages: [user('m-private', 'private')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    await agents.reached('private');
    const other = await transportFor('u-other');
    expect(await other.reconnectToStream({ chatId: 'chat-private' })).toBeNull();
    const head = (user: string) =>
      h.token(user).then((token) =>
        fetch(`${h.httpUrl}/v1/ai-sdk/chat/chat-private/stream`, {
          method: 'HEAD',
          headers: { Authorization: `Bearer ${token}` },
        }),
      );
    expect((await head('u-owner')).status).toBe(200);
    expect((await head('u-other')).status).toBe(204);
    // A second message while the chat's run goes on: BUSY under the default policy (docs/protocol.md E).
    const busy = await fetch(`${h.httpUrl}/v1/ai-sdk/chat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token('u-owner')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: 'chat-private', agent: 'gated', messages: [user('m-private-2', 'again')] }),
    });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('BUSY');
    agents.release('private');
    expect(textOf(await assemble(stream))).toBe('one two three');
  });

  it('POST …/cancel stops the run (stop() over HTTP): the stream ends with abort', async () => {
    const transport = await transportFor('u-stop', { agent: 'gated' });
    const stream = await transport.sendMessages({
      chatId: 'chat-stop',
      messages: [user('m-stop', 'stop me')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    await agents.reached('stop me');
    const token = await h.token('u-stop');
    const cancel = (chat: string) =>
      fetch(`${h.httpUrl}/v1/ai-sdk/chat/${chat}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
      });
    const answer = await cancel('chat-stop');
    expect(answer.status).toBe(202);
    const { seen } = await readUntil(stream, () => false);
    expect(seen.at(-1)).toEqual({ type: 'abort', reason: 'CANCELLED' });
    expect(seen.filter((c) => c.type === 'finish')).toEqual([]);
    expect(await (await cancel('chat-stop')).json()).toEqual({ chat_id: 'chat-stop', status: 'idle' });
  });

  it('settles an approval from addToolApprovalResponse + resend, and the run goes on in the same message', async () => {
    const transport = await transportFor('u-approve', { agent: 'asks' });
    const messages: UIMessage[] = [user('m-approve', 'email bob')];
    const first = await transport.sendMessages({
      chatId: 'chat-approve',
      messages,
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    const { seen, reader } = await readUntil(first, (c) => c.type === 'tool-approval-request');
    const request = seen.at(-1) as { approvalId: string; toolCallId: string };
    expect(request.toolCallId).toBe(request.approvalId);
    // What useChat sends after addToolApprovalResponse: the assistant message, its part answered.
    const asked = await assemble(
      new ReadableStream({
        start: (c) => {
          for (const s of seen) c.enqueue(s);
          c.close();
        },
      }),
    );
    const answered: UIMessage = {
      ...asked,
      parts: asked.parts.map((p) =>
        p.type === 'tool-send_email'
          ? { ...p, state: 'approval-responded', approval: { id: request.approvalId, approved: true } }
          : p,
      ) as UIMessage['parts'],
    };
    const second = await transport.sendMessages({
      chatId: 'chat-approve',
      messages: [...messages, answered],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    // The body of a later resend, taken now: the SDK assembles into the message it is given.
    const resend = JSON.stringify({ id: 'chat-approve', messages: [...messages, answered] });
    const continued = await assemble(second, answered);
    expect(continued.id).toBe(asked.id);
    expect(continued.parts.filter((p) => p.type === 'tool-send_email')).toEqual([
      expect.objectContaining({
        state: 'output-available',
        output: 'sent',
        approval: expect.objectContaining({ approved: true }),
      }),
    ]);
    expect(textOf(continued)).toBe('Sent.');
    // The first tab's stream saw the same ending.
    const rest: UIMessageChunk[] = [];
    for (let i = 0; i < 100; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    expect(rest.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });

    // The same answer resent after the run ended: nothing left to continue.
    const late = await fetch(`${h.httpUrl}/v1/ai-sdk/chat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token('u-approve')}`, 'Content-Type': 'application/json' },
      body: resend,
    });
    expect(late.status).toBe(200);
    expect(late.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(await late.text()).toBe('data: [DONE]\n\n');
    // An approval that is not the user's: 404, nothing starts.
    const stranger = await fetch(`${h.httpUrl}/v1/ai-sdk/chat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token('u-stranger')}`, 'Content-Type': 'application/json' },
      body: resend,
    });
    expect(stranger.status).toBe(404);
    expect(((await stranger.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('keeps a waiting stream open with `: ping` lines (--sse-heartbeat-ms)', async () => {
    const res = await fetch(`${h.httpUrl}/v1/ai-sdk/chat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token('u-ping')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: 'chat-ping', agent: 'gated', messages: [user('m-ping', 'ping me')] }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    for (let i = 0; i < 100 && !text.includes(': ping\n\n'); i++) {
      text += new TextDecoder().decode((await reader.read()).value);
    }
    expect(text).toContain(': ping\n\n');
    agents.release('ping me');
    for (let i = 0; i < 100 && !text.endsWith('data: [DONE]\n\n'); i++) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('answers 401 without a valid JWT, 400 naming the field, 413 past the body limit', async () => {
    const post = (body: string, token?: string) =>
      fetch(`${h.httpUrl}/v1/ai-sdk/chat`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
    expect((await post('{}')).status).toBe(401);
    expect((await post('{}', 'not-a-jwt')).status).toBe(401);
    const token = await h.token('u-bad');
    const bad = await post(
      JSON.stringify({ id: 'c', messages: [{ id: 'm', role: 'user', parts: [{ type: 'text' }] }] }),
      token,
    );
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: { code: 'INVALID_MESSAGE', message: 'messages.0.parts.0.text: required, a string' },
    });
    const big = await post(JSON.stringify({ id: 'c', pad: 'x'.repeat(1_100_000) }), token);
    expect(big.status).toBe(413);
    const get = await fetch(`${h.httpUrl}/v1/ai-sdk/chat`, { headers: { Authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    const headers = await fetch(`${h.httpUrl}/v1/ai-sdk/chat/c/stream`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(headers.status).toBe(204);
  });
});
