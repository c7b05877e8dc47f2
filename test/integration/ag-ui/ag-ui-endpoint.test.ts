import { connect } from 'node:net';
import { type BaseEvent, HttpAgent, type Message } from '@ag-ui/client';
import { EventSchema } from '@ag-ui/core/schemas';
import { AgentcastAgent } from '@agentcast/ag-ui';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { textMessageId } from '../../../packages/server/src/edges/ag-ui/ag-ui-encoder.js';
import { EngineUnavailableError } from '../../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { deferred } from '../../helpers/deferred.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { freePort } from '../../helpers/free-port.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { FLOOD_CHUNKS, FULL_TEXT, type ScriptedHold, scriptedAgent } from './scripted-agent.js';

// docs/protocol.md I: AG-UI clients in front of agentcast. @ag-ui/client's own HttpAgent against
// POST /v1/ag-ui, the resume route, and @agentcast/ag-ui's AgentcastAgent across a reload and a cut.

const hold: ScriptedHold = { reached: deferred(), gate: deferred() };

let h: Harness;
let token: string;

beforeAll(async () => {
  h = await startGateway(
    { defaultAgent: 'scripted', agUiMaxBodyBytes: 4096, sseHeartbeatMs: 100 },
    { agents: [scriptedAgent(hold)] },
  );
  token = await h.token('ada');
});
afterAll(async () => {
  hold.gate.resolve();
  await h.close();
});
beforeEach(() => {
  hold.reached = deferred();
  hold.gate = deferred();
});

function input(threadId: string, messageId: string, text: string) {
  return {
    threadId,
    runId: `client-${messageId}`,
    messages: [{ id: messageId, role: 'user', content: text }],
    tools: [],
    context: [],
    state: { step: 1 },
    forwardedProps: {},
  };
}

function post(body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${token}` }) {
  return fetch(`${h.httpUrl}/v1/ag-ui`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface WireFrame {
  readonly id: string;
  readonly event: BaseEvent & Record<string, unknown>;
}

/** Reads SSE frames of `res` until `until` says stop (or the stream ends); the rest is left unread. */
async function readFrames(
  res: Response,
  until: (f: WireFrame) => boolean = () => false,
  onComment: (comment: string) => void = () => undefined,
): Promise<WireFrame[]> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const frames: WireFrame[] = [];
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return frames;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      if (block.startsWith(':')) {
        onComment(block);
        continue;
      }
      const match = /^id: (.+)\ndata: (.+)$/.exec(block);
      expect(match, block).not.toBeNull();
      const frame = {
        id: (match as RegExpExecArray)[1] as string,
        event: JSON.parse((match as RegExpExecArray)[2] as string),
      };
      expect(EventSchema.safeParse(frame.event).success, block).toBe(true);
      frames.push(frame);
      if (until(frame)) {
        await reader.cancel();
        return frames;
      }
    }
  }
}

const deltas = (frames: readonly WireFrame[]) =>
  frames.filter((f) => f.event.type === 'TEXT_MESSAGE_CONTENT').map((f) => f.event.delta as string);

function assistantTexts(messages: readonly Message[]) {
  return messages.filter((m) => m.role === 'assistant' && typeof m.content === 'string' && m.content !== '');
}

describe('POST /v1/ag-ui (docs/protocol.md I)', () => {
  it("streams the run to @ag-ui/client's HttpAgent, whose verification passes, and builds its messages", async () => {
    const agent = new HttpAgent({
      url: `${h.httpUrl}/v1/ag-ui`,
      headers: { Authorization: `Bearer ${token}` },
      threadId: 'thread-http',
    });
    agent.addMessage({ id: 'm-http', role: 'user', content: 'hello' });
    const types: string[] = [];
    await agent.runAgent({}, { onEvent: ({ event }) => void types.push(event.type) });
    expect(types[0]).toBe('RUN_STARTED');
    expect(types.at(-1)).toBe('RUN_FINISHED');
    expect(types).toEqual(
      expect.arrayContaining(['REASONING_MESSAGE_CONTENT', 'TOOL_CALL_START', 'TOOL_CALL_RESULT']),
    );
    const texts = assistantTexts(agent.messages);
    expect(texts.map((m) => m.content)).toEqual([FULL_TEXT]);
    expect(agent.messages.find((m) => m.role === 'tool')).toMatchObject({ content: '{"found":1}' });
  });

  it('writes text/event-stream frames with the id of their agentcast event; a repeat of the message is the same run', async () => {
    const body = input('thread-wire', 'm-wire', 'hi');
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const frames = await readFrames(res);
    const started = frames[0]?.event;
    expect(started).toMatchObject({ type: 'RUN_STARTED', threadId: 'thread-wire' });
    const runId = started?.runId as string;
    expect(frames.every((f) => /^[\w.-]+:\d+$/.test(f.id))).toBe(true);
    expect(deltas(frames).join('')).toBe(FULL_TEXT);
    expect(frames.find((f) => f.event.type === 'TEXT_MESSAGE_START')?.event.messageId).toBe(
      textMessageId(runId, 1),
    );
    // Idempotent by the message id: the same run, told from its snapshot, not a second run.
    const again = await readFrames(await post(body));
    expect(again[0]?.event).toMatchObject({ type: 'RUN_STARTED', runId });
    expect(deltas(again).join('')).toBe(FULL_TEXT);
    expect(again.at(-1)?.event.type).toBe('RUN_FINISHED');
  });

  it('refuses without a JWT (401), a body that is not a RunAgentInput (400 naming the field), too big (413), GET (405)', async () => {
    const missing = await post(input('t', 'm-401', 'hi'), {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toEqual({
      error: { code: 'UNAUTHORIZED', message: 'missing token; send Authorization: Bearer <jwt>' },
    });
    expect((await post(input('t', 'm-401', 'hi'), { Authorization: 'Bearer nope' })).status).toBe(401);
    const { threadId: _, ...noThread } = input('t', 'm-400', 'hi');
    const bad = await post(noThread);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^threadId: /);
    const noUser = await post({ ...input('t', 'm-400', 'hi'), messages: [] });
    expect(await noUser.json()).toMatchObject({
      error: { code: 'INVALID_MESSAGE', message: expect.stringMatching(/^messages: /) },
    });
    const big = await post(input('t', 'm-413', 'x'.repeat(5000)));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toContain(
      '--ag-ui-max-body-bytes',
    );
    const get = await fetch(`${h.httpUrl}/v1/ag-ui`, { headers: { Authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    await get.body?.cancel();
  });
});

describe('GET /v1/ag-ui/runs/:run_id (docs/protocol.md I)', () => {
  it('resumes after Last-Event-ID exactly, in the message the first stream was writing; an ended run replays to its end', async () => {
    const first = await readFrames(
      await post(input('thread-resume', 'm-resume', 'please wait')),
      (f) => f.event.delta === 'is ',
    );
    await hold.reached.promise;
    const runId = first[0]?.event.runId as string;
    const lastId = first.at(-1)?.id as string;
    const url = `${h.httpUrl}/v1/ag-ui/runs/${encodeURIComponent(runId)}`;
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': lastId } });
    expect(res.status).toBe(200);
    // While the run is quiet the stream carries `: ping` comments; the run goes on after the first.
    const comments: string[] = [];
    const rest = await readFrames(res, undefined, (comment) => {
      comments.push(comment);
      hold.gate.resolve();
    });
    expect(comments[0]).toBe(': ping');
    expect(rest.map((f) => f.event.type)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_FINISHED',
    ]);
    expect(rest[1]?.event.messageId).toBe(textMessageId(runId, 1));
    expect([...deltas(first), ...deltas(rest)].join('')).toBe(FULL_TEXT);
    // Over: the same id replays what came after it, to the end; ?since= says the same.
    const replay = await readFrames(
      await fetch(`${url}?since=${encodeURIComponent(lastId)}`, {
        headers: { Authorization: `Bearer ${token}` },
      }),
    );
    expect(replay.map((f) => f.event)).toEqual(rest.map((f) => f.event));
    // Without a position: the whole run, from its snapshot.
    const whole = await readFrames(await fetch(url, { headers: { Authorization: `Bearer ${token}` } }));
    expect(deltas(whole).join('')).toBe(FULL_TEXT);
    expect(whole.at(-1)?.event.type).toBe('RUN_FINISHED');
  });

  it("answers 404 for another user's run and an unknown one, 400 for a malformed Last-Event-ID, 401 without a JWT", async () => {
    const frames = await readFrames(await post(input('thread-404', 'm-404', 'hi')));
    const runId = frames[0]?.event.runId as string;
    const other = await h.token('mallory');
    const url = `${h.httpUrl}/v1/ag-ui/runs/${encodeURIComponent(runId)}`;
    expect((await fetch(url, { headers: { Authorization: `Bearer ${other}` } })).status).toBe(404);
    expect(
      (await fetch(`${h.httpUrl}/v1/ag-ui/runs/r_nope`, { headers: { Authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(404);
    const bad = await fetch(url, {
      headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': 'garbage' },
    });
    expect(bad.status).toBe(400);
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).toBe(
      405,
    );
  });
});

describe('@agentcast/ag-ui AgentcastAgent', () => {
  it('connect() after a reload mid-run re-attaches the live run: the answer built once, no content repeated', async () => {
    const user: Message = { id: 'm-reload', role: 'user', content: 'please wait' };
    const before = new AgentcastAgent({
      url: h.httpUrl,
      token,
      threadId: 'thread-reload',
      initialMessages: [user],
    });
    const seen = deferred();
    const firstRun = before.runAgent(
      {},
      { onTextMessageContentEvent: ({ event }) => void (event.delta === 'is ' && seen.resolve()) },
    );
    await Promise.all([hold.reached.promise, seen.promise]);
    before.abortRun(); // the page goes away: the run goes on
    await firstRun.catch(() => undefined);

    const after = new AgentcastAgent({
      url: h.httpUrl,
      token: () => h.token('ada'),
      threadId: 'thread-reload',
      initialMessages: [user],
    });
    const contents: string[] = [];
    await after.connectAgent(
      {},
      {
        onTextMessageContentEvent: ({ event }) => {
          contents.push(event.delta);
          hold.gate.resolve(); // the snapshot is in: let the run finish live
        },
      },
    );
    expect(contents.join('')).toBe(FULL_TEXT);
    expect(assistantTexts(after.messages).map((m) => m.content)).toEqual([FULL_TEXT]);
    expect(after.messages[0]).toEqual(user);
    // Nothing active on the thread any more: connect() completes at once with nothing.
    const idle = new AgentcastAgent({ url: h.httpUrl, token, threadId: 'thread-reload' });
    expect((await idle.connectAgent()).newMessages).toEqual([]);
  });

  it('resumes a run whose stream the network cut: every delta once, the assistant message built once', async () => {
    const proxy = await TcpProxy.start({ targetPort: h.port });
    try {
      const agent = new AgentcastAgent({
        url: `http://127.0.0.1:${proxy.port}`,
        token,
        threadId: 'thread-cut',
        resumeDelayMs: 10,
      });
      agent.addMessage({ id: 'm-cut', role: 'user', content: 'please wait' });
      const contents: string[] = [];
      const types: string[] = [];
      const cutDone = deferred();
      const run = agent.runAgent(
        {},
        {
          onEvent: ({ event }) => void types.push(event.type),
          onTextMessageContentEvent: ({ event }) => {
            contents.push(event.delta);
            if (event.delta === 'is ') cutDone.resolve();
          },
        },
      );
      await Promise.all([hold.reached.promise, cutDone.promise]);
      expect(proxy.cutAll()).toBeGreaterThan(0);
      await proxy.waitForConnections(1);
      hold.gate.resolve();
      await run;
      expect(contents.join('')).toBe(FULL_TEXT);
      expect(assistantTexts(agent.messages).map((m) => m.content)).toEqual([FULL_TEXT]);
      expect(types.filter((t) => t === 'RUN_STARTED')).toHaveLength(1);
      expect(types.at(-1)).toBe('RUN_FINISHED');
    } finally {
      await proxy.close();
    }
  });
});

describe('AG-UI routes when things go wrong', () => {
  const engine = new DelegatingEngine(new MemoryEngine({ historySize: 5 }));
  const waiting: ScriptedHold = { reached: deferred(), gate: deferred() };
  let g: Harness;
  let jwt: string;
  beforeAll(async () => {
    g = await startGateway(
      { defaultAgent: 'scripted', maxRunsPerUser: 1, maxBufferedBytes: 4096, historySize: 5 },
      { engine, agents: [scriptedAgent(waiting)] },
    );
    jwt = await g.token('lin');
  });
  afterAll(async () => {
    waiting.gate.resolve();
    await g.close();
  });
  const send = (body: unknown) =>
    fetch(`${g.httpUrl}/v1/ag-ui`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${jwt}` },
      body: JSON.stringify(body),
    });
  const errorOf = async (res: Response) => ({
    status: res.status,
    ...((await res.json()) as { error: object }),
  });

  it('takes text parts, refuses what is not a RunAgentInput or too long an id, and a run past the limit (429)', async () => {
    const parts = {
      ...input('t-parts', 'm-parts', ''),
      messages: [{ id: 'm-parts', role: 'user', content: [{ type: 'text', text: 'please wait' }] }],
    };
    const first = await send(parts);
    expect(first.status).toBe(200);
    await waiting.reached.promise;
    expect(await errorOf(await send(input('t-parts', 'm-second', 'hi')))).toMatchObject({
      status: 429,
      error: { code: 'RATE_LIMITED' },
    });
    expect(await errorOf(await send([]))).toMatchObject({
      status: 400,
      error: { code: 'INVALID_MESSAGE', message: expect.stringMatching(/expected object/) },
    });
    expect(await errorOf(await send(input('t', 'm'.repeat(129), 'hi')))).toMatchObject({
      status: 400,
      error: { message: 'messages.0.id: must be 1..128 characters' },
    });
    waiting.gate.resolve();
    const frames = await readFrames(first);
    expect(deltas(frames).join('')).toBe(FULL_TEXT);
    const runId = frames[0]?.event.runId as string;
    // An id of another epoch (or one history no longer has): the run's snapshot instead, then its end.
    const reset = await readFrames(
      await fetch(`${g.httpUrl}/v1/ag-ui/runs/${runId}`, {
        headers: { Authorization: `Bearer ${jwt}`, 'Last-Event-ID': 'other-epoch:1' },
      }),
    );
    expect(reset[0]?.event.type).toBe('RUN_STARTED');
    expect(deltas(reset).join('')).toBe(FULL_TEXT);
    expect(reset.at(-1)?.event.type).toBe('RUN_FINISHED');
    const bad = await fetch(`${g.httpUrl}/v1/ag-ui/runs/%E0%A4%A`, {
      headers: { Authorization: `Bearer ${jwt}` },
    });
    expect(bad.status).toBe(400);
    // History unreachable while the resume reads it: 503, no stream.
    const undo = engine.fail(
      'history',
      new EngineUnavailableError('redis is down', { nothingApplied: true }),
    );
    try {
      const res = await fetch(`${g.httpUrl}/v1/ag-ui/runs/${runId}`, {
        headers: { Authorization: `Bearer ${jwt}`, 'Last-Event-ID': frames[0]?.id as string },
      });
      expect(res.status).toBe(503);
      await res.body?.cancel();
    } finally {
      undo();
    }
  });

  it('drops the stream of a client that does not read once max_buffered_bytes are unsent (it may resume)', async () => {
    const socket = connect(g.port, '127.0.0.1');
    const body = JSON.stringify(input('t-flood', 'm-flood', 'flood'));
    socket.write(
      `POST /v1/ag-ui HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${jwt}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause(); // never read: the gateway's unsent bytes grow
    // The run itself goes on to its end: the stream is only detached.
    await expect
      .poll(
        async () => {
          const res = await fetch(`${g.httpUrl}/v1/runs?state=recent&thread_id=t-flood`, {
            headers: { Authorization: `Bearer ${jwt}` },
          });
          return ((await res.json()) as { runs: { status: string }[] }).runs[0]?.status;
        },
        { timeout: 15_000 },
      )
      .toBe('succeeded');
    // Read now: the stream was dropped long before the run's end, which it never carried.
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.resume();
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(received).not.toContain('RUN_FINISHED');
    expect(received.length).toBeLessThan(FLOOD_CHUNKS * 1000);
  });

  it('AgentcastAgent resumes after a cut long enough for history to lose its place: the run rebuilt once', async () => {
    waiting.reached = deferred();
    waiting.gate = deferred();
    const proxy = await TcpProxy.start({ targetPort: g.port });
    try {
      const agent = new AgentcastAgent({
        url: `http://127.0.0.1:${proxy.port}`,
        token: jwt,
        threadId: 't-reset',
        resumeDelayMs: 10,
      });
      agent.addMessage({ id: 'm-reset', role: 'user', content: 'please wait' });
      const names: string[] = [];
      const half = deferred();
      const run = agent.runAgent(
        {},
        {
          onCustomEvent: ({ event }) => void names.push(event.name),
          onTextMessageContentEvent: ({ event }) => void (event.delta === 'is ' && half.resolve()),
        },
      );
      await Promise.all([waiting.reached.promise, half.promise]);
      proxy.pause(); // the agent's resume waits at the door while history moves on
      proxy.cutAll();
      for (let i = 0; i < 6; i++) await g.publish({ user_id: 'lin', type: 'notification', data: { i } });
      proxy.resume();
      waiting.gate.resolve();
      await run;
      expect(names).toContain('agentcast_reset');
      expect(assistantTexts(agent.messages).map((m) => m.content)).toEqual([FULL_TEXT]);
      expect(agent.messages.filter((m) => m.role === 'tool')).toHaveLength(1);
      expect(agent.messages.filter((m) => m.role === 'user')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('answers 503 when the engine is unavailable, before any stream', async () => {
    const down = new EngineUnavailableError('redis is down', { nothingApplied: true });
    const undo = engine.fail('subscribe', down);
    try {
      expect(await errorOf(await send(input('t-503', 'm-503', 'hi')))).toMatchObject({
        status: 503,
        error: { code: 'UNAVAILABLE' },
      });
    } finally {
      undo();
    }
    const undoSnapshot = engine.fail('runSnapshot', down);
    try {
      const res = await fetch(`${g.httpUrl}/v1/ag-ui/runs/r_any`, {
        headers: { Authorization: `Bearer ${jwt}` },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      undoSnapshot();
    }
  });

  it('AgentcastAgent: a refused request errors the run with its status; an unreachable gateway after maxResumes', async () => {
    // @ag-ui/client logs a failed run on console.error; the test checks the failures themselves.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const closedPort = await freePort();
    const refused = new AgentcastAgent({ url: g.httpUrl, token: 'not-a-jwt', threadId: 't-401' });
    refused.addMessage({ id: 'm-401', role: 'user', content: 'hi' });
    await expect(refused.runAgent()).rejects.toMatchObject({ name: 'AgentcastHttpError', status: 401 });
    const nowhere = new AgentcastAgent({
      url: `http://127.0.0.1:${closedPort}/`,
      token: jwt,
      threadId: 't-x',
      maxResumes: 1,
      resumeDelayMs: 1,
    });
    nowhere.addMessage({ id: 'm-x', role: 'user', content: 'hi' });
    await expect(nowhere.runAgent()).rejects.toThrow(/cut 2 times in a row/);
    const copy = nowhere.clone();
    expect(copy).toBeInstanceOf(AgentcastAgent);
    expect(copy.url).toBe(`http://127.0.0.1:${closedPort}`);
    expect(copy.messages).toEqual(nowhere.messages);
    expect(quiet).toHaveBeenCalled();
    quiet.mockRestore();
  });
});
