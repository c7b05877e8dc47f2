import {
  readUIMessageStream,
  type UIMessage,
  type UIMessageChunk,
  WebSocketChatTransport,
  type WebSocketChatTransportInitOptions,
} from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { terminalOf } from '../../helpers/gateway-nodes.js';
import { testAgents } from './ai-sdk-agents.js';

/**
 * docs/protocol.md J over GET /v1/ai-sdk/ws, through the AI SDK's own WebSocketChatTransport (given `ws`
 * as its WebSocket in Node): send, resume after the socket dropped, abort that cancels the run everywhere.
 */

const user = (id: string, text: string): UIMessage => ({ id, role: 'user', parts: [{ type: 'text', text }] });

let h: Harness;
let aiSdkUrl: string;
const agents = testAgents();
const transports: WebSocketChatTransport<UIMessage>[] = [];

beforeAll(async () => {
  h = await startGateway({}, { agents: agents.agents });
  aiSdkUrl = `ws://127.0.0.1:${h.port}/v1/ai-sdk/ws`;
});
afterAll(async () => {
  for (const t of transports) t.close();
  await h.close();
});

async function transportFor(
  userId: string,
  body: Record<string, unknown> = {},
): Promise<WebSocketChatTransport<UIMessage>> {
  const transport = new WebSocketChatTransport<UIMessage>({
    url: aiSdkUrl,
    protocols: ['agentcast.v1', `bearer.${await h.token(userId)}`],
    webSocket: WebSocket as unknown as NonNullable<WebSocketChatTransportInitOptions<UIMessage>['webSocket']>,
    body,
  });
  transports.push(transport);
  return transport;
}

async function assemble(stream: ReadableStream<UIMessageChunk>): Promise<UIMessage> {
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  if (last === undefined) throw new Error('the stream assembled no message');
  return last;
}

const textOf = (m: UIMessage) => m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');

async function readUntil(
  stream: ReadableStream<UIMessageChunk>,
  stop: (c: UIMessageChunk) => boolean,
): Promise<UIMessageChunk[]> {
  const reader = stream.getReader();
  const seen: UIMessageChunk[] = [];
  for (let i = 0; i < 1000; i++) {
    const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (done) break;
    seen.push(value);
    if (stop(value)) break;
  }
  reader.releaseLock();
  return seen;
}

function send(
  transport: WebSocketChatTransport<UIMessage>,
  chatId: string,
  message: UIMessage,
  signal?: AbortSignal,
) {
  return transport.sendMessages({
    chatId,
    messages: [message],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal: signal,
  });
}

describe('AI SDK over WebSocket (WebSocketChatTransport)', () => {
  it("send: the demo agent's answer, assembled with its reasoning, tools and text", async () => {
    const transport = await transportFor('w-demo');
    const message = await assemble(await send(transport, 'ws-demo', user('wm-demo', 'What is 6 times 7?')));
    expect(message.parts.map((p) => p.type)).toEqual([
      'step-start',
      'reasoning',
      'tool-web_search',
      'tool-calculator',
      'text',
    ]);
    expect(textOf(message)).toContain('6 * 7 = 42.');
  });

  it('resume after the socket dropped gives the same message once; another tab agrees; another user gets no-active', async () => {
    const transport = await transportFor('w-cut', { agent: 'gated' });
    const seen = await readUntil(
      await send(transport, 'ws-cut', user('wm-cut', 'ws cut')),
      (c) => c.type === 'text-delta',
    );
    expect(seen.map((c) => c.type)).toContain('start');
    await agents.reached('ws cut');
    transport.close(); // the socket drops; the run goes on
    const resumed = await transport.reconnectToStream({ chatId: 'ws-cut' });
    const tab = await (await transportFor('w-cut')).reconnectToStream({ chatId: 'ws-cut' });
    expect(await (await transportFor('w-someone-else')).reconnectToStream({ chatId: 'ws-cut' })).toBeNull();
    if (resumed === null || tab === null) throw new Error('no active run to resume');
    const both = Promise.all([assemble(resumed), assemble(tab)]);
    agents.release('ws cut');
    const [one, two] = await both;
    expect(textOf(one)).toBe('one two three');
    expect(two).toEqual(one);
    expect(await transport.reconnectToStream({ chatId: 'ws-cut' })).toBeNull();
  });

  it('abort cancels the run: it ends cancelled on another tab', async () => {
    const tab = await h.connect('w-abort');
    const transport = await transportFor('w-abort', { agent: 'gated' });
    const abort = new AbortController();
    const seen = await readUntil(
      await send(transport, 'ws-abort', user('wm-abort', 'ws abort'), abort.signal),
      (c) => c.type === 'start',
    );
    const runId = (seen[0] as { messageId: string }).messageId;
    await agents.reached('ws abort');
    abort.abort();
    const terminal = await terminalOf(tab, runId);
    expect(terminal.data).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
  });

  it('settles an approval from addToolApprovalResponse + resend over the socket; the run goes on in the same message', async () => {
    const transport = await transportFor('w-approve', { agent: 'asks' });
    const question = user('wm-approve', 'email bob');
    const seen = await readUntil(
      await send(transport, 'ws-approve', question),
      (c) => c.type === 'tool-approval-request',
    );
    const approvalId = (seen.at(-1) as { approvalId: string }).approvalId;
    const asked = await assemble(
      new ReadableStream({
        start: (c) => {
          for (const s of seen) c.enqueue(s);
          c.close();
        },
      }),
    );
    const answered = (approved: boolean): UIMessage => ({
      ...asked,
      parts: asked.parts.map((p) =>
        p.type === 'tool-send_email'
          ? { ...p, state: 'approval-responded', approval: { id: approvalId, approved } }
          : p,
      ) as UIMessage['parts'],
    });
    const resend = (message: UIMessage) =>
      transport.sendMessages({
        chatId: 'ws-approve',
        messages: [question, message],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      });
    let continued: UIMessage | undefined;
    for await (const next of readUIMessageStream({
      stream: await resend(answered(false)),
      message: answered(false),
    }))
      continued = next;
    expect(continued?.id).toBe(asked.id);
    expect(continued?.parts.filter((p) => p.type === 'tool-send_email')).toEqual([
      expect.objectContaining({ state: 'output-denied' }),
    ]);
    expect(textOf(continued as UIMessage)).toBe('Not sent.');
    // Resent once more after the run ended: nothing to continue, the request just ends.
    const chunks = await readUntil(await resend(answered(false)), () => false);
    expect(chunks).toEqual([]);
  });

  it('answers bad frames with error and stays usable; refuses a socket without a token', async () => {
    const token = await h.token('w-raw');
    const raw = Client.open(aiSdkUrl, { protocols: ['agentcast.v1', `bearer.${token}`] });
    await new Promise((resolve) => raw.ws.once('open', resolve));
    expect(raw.ws.protocol).toBe('agentcast.v1');
    raw.ws.send('{');
    expect(await raw.next('error')).toEqual({
      type: 'error',
      requestId: '',
      errorText: 'frame is not valid JSON',
    });
    raw.ws.send(JSON.stringify({ type: 'send', requestId: 'q1', id: 'raw', messages: [] }));
    expect(await raw.next('error')).toEqual({
      type: 'error',
      requestId: 'q1',
      errorText: 'messages: must not be empty',
    });
    raw.ws.send(JSON.stringify({ type: 'resume', requestId: 'q2', id: 'raw-none' }));
    expect(await raw.next('no-active')).toEqual({ type: 'no-active', requestId: 'q2' });
    raw.ws.send(
      JSON.stringify({
        type: 'send',
        requestId: 'q3',
        id: 'raw',
        messages: [user('wm-raw', 'hello')],
        trigger: 'submit-message',
      }),
    );
    expect(await raw.next('start')).toEqual({ type: 'start', requestId: 'q3' });
    const chunks: { sequence: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const frame = await raw.next();
      if (frame.type === 'end') break;
      chunks.push(frame as unknown as { sequence: number });
    }
    expect(chunks.map((c) => c.sequence)).toEqual(chunks.map((_, i) => i));
    raw.ws.send(Buffer.from('{}'), { binary: true });
    expect((await raw.next('error')).errorText).toBe('binary frames are not accepted; send JSON text frames');
    // A request id in use, and a start the run control refuses (an unknown agent).
    const gated = {
      type: 'send',
      id: 'raw-2',
      messages: [user('wm-raw-2', 'raw busy')],
      body: { agent: 'gated' },
    };
    raw.ws.send(JSON.stringify({ ...gated, requestId: 'q4' }));
    expect(await raw.next('start')).toEqual({ type: 'start', requestId: 'q4' });
    await agents.reached('raw busy');
    raw.ws.send(JSON.stringify({ ...gated, requestId: 'q4' }));
    expect((await raw.next('error')).errorText).toBe('requestId: already in use by an open request');
    raw.ws.send(
      JSON.stringify({
        ...gated,
        requestId: 'q5',
        messages: [user('wm-raw-3', 'x')],
        body: { agent: 'nope' },
      }),
    );
    expect((await raw.next('error')).errorText).toMatch(/^NOT_FOUND: /);
    // Open requests are bounded by max_runs_per_user (3): two resumes of the same run, then a refusal.
    for (const requestId of ['q6', 'q7']) {
      raw.ws.send(JSON.stringify({ type: 'resume', requestId, id: 'raw-2' }));
      expect(await raw.next('start')).toEqual({ type: 'start', requestId });
    }
    raw.ws.send(JSON.stringify({ type: 'resume', requestId: 'q8', id: 'raw-2' }));
    expect((await raw.next('error')).errorText).toMatch(
      /^RATE_LIMITED: at most 3 open requests on one socket/,
    );
    raw.ws.send(JSON.stringify({ type: 'abort', requestId: 'q4' }));
    raw.ws.send(JSON.stringify({ type: 'abort', requestId: 'q-unknown' }));
    // The abort cancelled the run: the resumes end with it.
    const ended = new Set<unknown>();
    for (let i = 0; i < 200 && ended.size < 2; i++) {
      const frame = await raw.next();
      if (frame.type === 'end') ended.add(frame.requestId);
    }
    expect([...ended].sort()).toEqual(['q6', 'q7']);
    agents.release('raw busy');
    raw.ws.close();
    const anonymous = Client.open(aiSdkUrl, { protocols: ['agentcast.v1'] });
    expect(await anonymous.closed).toBe(4001);
    const forged = Client.open(aiSdkUrl, { protocols: ['agentcast.v1', 'bearer.not-a-jwt'] });
    expect(await forged.closed).toBe(4001);
  });

  it('holds the limits of /ws: malformed frames close with 4008, a user past max_connections_per_user gets 4009', async () => {
    const token = await h.token('w-limits');
    const open = () => Client.open(aiSdkUrl, { protocols: ['agentcast.v1', `bearer.${token}`] });
    const bad = open();
    await new Promise((resolve) => bad.ws.once('open', resolve));
    for (let i = 0; i < 10 && bad.ws.readyState === WebSocket.OPEN; i++) bad.ws.send('nope');
    expect(await bad.closed).toBe(4008);
    const sockets = Array.from({ length: 10 }, open);
    await Promise.all(sockets.map((c) => new Promise((resolve) => c.ws.once('open', resolve))));
    // Each takes its slot once its token checked: a request answered means the socket holds one.
    for (const [i, c] of sockets.entries()) {
      c.ws.send(JSON.stringify({ type: 'resume', requestId: `q${i}`, id: 'none' }));
      await c.next('no-active');
    }
    expect(await open().closed).toBe(4009);
    for (const c of sockets) c.ws.close();
  });

  it('is swept as /ws is: pinged by the heartbeat, closed 4002 when its token expires', async () => {
    const swept = await startGateway({ heartbeatMs: 100 });
    try {
      const url = `ws://127.0.0.1:${swept.port}/v1/ai-sdk/ws`;
      const raw = Client.open(url, {
        protocols: ['agentcast.v1', `bearer.${await swept.token('w-swept', 2)}`],
      });
      let pings = 0;
      raw.ws.on('ping', () => {
        pings += 1;
      });
      // The token lives 1 to 2 s (exp is in whole seconds): the expiry sweep closes the socket, which answered every ping until then.
      expect(await raw.closed).toBe(4002);
      expect(pings).toBeGreaterThan(2);
    } finally {
      await swept.close();
    }
  });

  it('holds the frame rate limit of /ws: past the burst, an error per refused frame', async () => {
    const raw = Client.open(aiSdkUrl, { protocols: ['agentcast.v1', `bearer.${await h.token('w-flood')}`] });
    await new Promise((resolve) => raw.ws.once('open', resolve));
    const abort = JSON.stringify({ type: 'abort', requestId: 'q' });
    for (let i = 0; i < 200 && raw.ws.readyState === WebSocket.OPEN; i++) raw.ws.send(abort);
    expect((await raw.next('error')).errorText).toMatch(/frames per second; slow down$/);
    raw.ws.close();
  });
});

/** One chunk as a request's `chunk` frame carries it (docs/protocol.md J). */
interface Numbered {
  readonly sequence: number;
  readonly chunk: UIMessageChunk;
}

async function rawSocket(harness: Harness, userId: string): Promise<Client> {
  const raw = Client.open(`ws://127.0.0.1:${harness.port}/v1/ai-sdk/ws`, {
    protocols: ['agentcast.v1', `bearer.${await harness.token(userId)}`],
  });
  await raw.opened();
  return raw;
}

/** The chunks of one request up to its `end` (or until `stop`), and the frame that ended the read. */
async function chunksOf(
  raw: Client,
  stop: (c: Numbered) => boolean = () => false,
): Promise<{ chunks: Numbered[]; last: string }> {
  const chunks: Numbered[] = [];
  for (let i = 0; i < 200; i++) {
    const frame = await raw.next();
    if (frame.type !== 'chunk') {
      if (frame.type === 'start') continue;
      return { chunks, last: frame.type === 'error' ? `error: ${String(frame.errorText)}` : frame.type };
    }
    const numbered = { sequence: frame.sequence as number, chunk: frame.chunk as UIMessageChunk };
    chunks.push(numbered);
    if (stop(numbered)) return { chunks, last: 'stopped' };
  }
  throw new Error('no end in 200 frames');
}

describe('AI SDK WebSocket resume with lastSequence', () => {
  it('continues at lastSequence + 1 with the numbering and chunks of an uninterrupted read', async () => {
    // The sender reads until "c " (reasoning, text and a tool behind it), then its socket drops.
    const sender = await rawSocket(h, 'w-seq');
    sender.send({
      type: 'send',
      requestId: 'q1',
      id: 'ws-seq',
      messages: [user('wm-seq', 'seq cut')],
      trigger: 'submit-message',
      body: { agent: 'steps' },
    });
    const before = await chunksOf(sender, ({ chunk }) => chunk.type === 'text-delta' && chunk.delta === 'c ');
    expect(before.last).toBe('stopped');
    sender.ws.close();
    // One tab reads the whole run from the start while it runs; another resumes after what the sender got.
    const whole = await rawSocket(h, 'w-seq');
    whole.send({ type: 'resume', requestId: 'q2', id: 'ws-seq' });
    const lastSequence = before.chunks.at(-1)?.sequence as number;
    const resumer = await rawSocket(h, 'w-seq');
    resumer.send({ type: 'resume', requestId: 'q3', id: 'ws-seq', lastSequence });
    await Promise.all([whole.next('start'), resumer.next('start')]);
    agents.release('seq cut');
    const [all, after] = await Promise.all([chunksOf(whole), chunksOf(resumer)]);
    expect([all.last, after.last]).toEqual(['end', 'end']);
    expect(after.chunks[0]?.sequence).toBe(lastSequence + 1);
    expect([...before.chunks, ...after.chunks]).toEqual(all.chunks);
    expect(all.chunks.map((c) => c.sequence)).toEqual(all.chunks.map((_, i) => i));
    // Interleaved as the events came (a snapshot would have put the reasoning first and the text last).
    expect(all.chunks.map((c) => c.chunk.type).slice(0, 10)).toEqual([
      'start',
      'start-step',
      'reasoning-start',
      'reasoning-delta',
      'reasoning-end',
      'text-start',
      'text-delta',
      'text-end',
      'tool-input-available',
      'tool-output-available',
    ]);
    for (const c of [whole, resumer]) c.ws.close();
  });
});

describe('AI SDK WebSocket resume once history lost the run’s start', () => {
  let small: Harness;
  beforeAll(async () => {
    // Three events of history: the steps run's eight before its gate push its first one out.
    small = await startGateway({ historySize: 3 }, { agents: agents.agents });
  });
  afterAll(async () => {
    await small.close();
  });

  it('refuses a lastSequence with a documented error; without one the run comes whole from its snapshot', async () => {
    const sender = await rawSocket(small, 'w-gone');
    sender.send({
      type: 'send',
      requestId: 'q1',
      id: 'ws-gone',
      messages: [user('wm-gone', 'seq gone')],
      trigger: 'submit-message',
      body: { agent: 'steps' },
    });
    await agents.reached('seq gone');
    sender.ws.close();
    const raw = await rawSocket(small, 'w-gone');
    raw.send({ type: 'resume', requestId: 'q2', id: 'ws-gone', lastSequence: 4 });
    expect(await raw.next()).toEqual({ type: 'start', requestId: 'q2' });
    expect(await raw.next()).toEqual({
      type: 'error',
      requestId: 'q2',
      errorText: 'resume point no longer available; reload the chat',
    });
    raw.send({ type: 'resume', requestId: 'q3', id: 'ws-gone' });
    await raw.next('start');
    agents.release('seq gone');
    const whole = await chunksOf(raw);
    expect(whole.last).toBe('end');
    expect(whole.chunks.map((c) => c.sequence)).toEqual(whole.chunks.map((_, i) => i));
    const text = whole.chunks.map(({ chunk }) => (chunk.type === 'text-delta' ? chunk.delta : '')).join('');
    expect(text).toBe('a b c d');
    raw.ws.close();
  });
});
