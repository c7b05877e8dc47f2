import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '../helpers/deferred.js';
import { Client, type Frame, type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { type LocalBackend, line, localBackend } from './agents/local-backend.js';

// Issue 26 (docs/protocol.md F): run snapshots kept by the engine and handed out where the live stream
// continues, through the real gateway with a real webhook backend streaming thousands of tokens.

const TOKENS_BEFORE = 2_000;
const TOKENS_AFTER = 300;
const token = (i: number) => `t${i} `;
const textOf = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => token(from + i)).join('');

/** Backend: streams TOKENS_BEFORE tokens and one tool call, holds until `release`, then the rest and the end. */
async function streamingBackend(release: Promise<void>): Promise<LocalBackend> {
  return localBackend(async (_request, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let body = line({ type: 'agent_thinking', data: { reasoning: 'Plan: count.' } });
    for (let i = 0; i < TOKENS_BEFORE; i++) body += line({ type: 'stream_chunk', data: { text: token(i) } });
    body += line({
      type: 'tool_executing',
      data: { tool_name: 'counter', tool_args: { upto: TOKENS_BEFORE }, execution_id: 'x1' },
    });
    body += line({
      type: 'tool_completed',
      data: { tool_name: 'counter', execution_id: 'x1', success: true, results: { n: 1 }, duration_ms: 1 },
    });
    res.write(body);
    await release;
    let rest = '';
    for (let i = TOKENS_BEFORE; i < TOKENS_BEFORE + TOKENS_AFTER; i++) {
      rest += line({ type: 'stream_chunk', data: { text: token(i) } });
    }
    rest += line({ type: 'agent_completed', data: { status: 'succeeded', final_response: 'counted' } });
    res.end(rest);
  });
}

/** Frames of `client` until the run's agent_completed. */
async function untilCompleted(client: Client, runId: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.next(undefined, 20_000);
    frames.push(frame);
    if (frame.type === 'agent_completed' && frame.run_id === runId) return frames;
  }
}

async function get(gw: Harness, path: string, bearer: string | undefined) {
  const res = await fetch(`${gw.httpUrl}${path}`, {
    headers: bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('run snapshots and catch-up through the gateway (docs/protocol.md F)', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });

  async function setup(overrides: Record<string, unknown> = {}) {
    const release = deferred();
    const backend = await streamingBackend(release.promise);
    open.push(backend);
    const gw = await startGateway({
      defaultAgent: 'webhook',
      agentUrl: backend.url,
      agentSecret: 'a-secret',
      ...overrides,
    });
    open.push(gw);
    return { gw, release };
  }

  /** Starts the run from a first tab and waits until everything before the hold is stored. */
  async function runUntilHold(gw: Harness) {
    const first = await gw.connect('alice');
    first.send({ type: 'user_message', id: 'm1', data: { text: 'count for me', thread_id: 'th1' } });
    const ack = await first.next('ack');
    const runId = String(ack.data?.run_id);
    await first.next('tool_completed', 20_000);
    const seen = first.frames.filter((f) => typeof f.seq === 'number');
    return { first, runId, seen };
  }

  it('a tab opened mid-run gets one run_snapshot with every token so far, then exactly the rest', async () => {
    const { gw, release } = await setup();
    const { first, runId, seen } = await runUntilHold(gw);
    const late = await gw.connect('alice', { query: '?catch_up=snapshot' });
    const welcome = late.frames[0] as Frame;
    expect(welcome.data).toMatchObject({ resume: 'snapshot', seq: seen.at(-1)?.seq });
    const snapshotFrame = await late.next('run_snapshot');
    expect(late.frames).toHaveLength(2); // welcome, run_snapshot: nothing replayed
    const snapshot = snapshotFrame.data as Record<string, unknown>;
    expect(snapshotFrame.run_id).toBe(runId);
    expect(snapshot).toMatchObject({
      run_id: runId,
      thread_id: 'th1',
      agent: 'webhook',
      status: 'running',
      text: textOf(0, TOKENS_BEFORE),
      reasoning: 'Plan: count.',
      tools: [
        {
          execution_id: 'x1',
          tool_name: 'counter',
          tool_args: { upto: TOKENS_BEFORE },
          success: true,
          results: { n: 1 },
          duration_ms: 1,
        },
      ],
      last_seq: seen.at(-1)?.seq,
      truncated: false,
    });
    // What a replay would have cost this tab: every frame of the run so far.
    const replayBytes = seen.reduce((sum, f) => sum + Buffer.byteLength(JSON.stringify(f)), 0);
    expect(Buffer.byteLength(JSON.stringify(snapshotFrame))).toBeLessThan(replayBytes / 4);

    release.resolve();
    const rest = await untilCompleted(late, runId);
    const lastSeq = snapshot.last_seq as number;
    expect(rest.every((f) => typeof f.seq === 'number' && f.seq > lastSeq)).toBe(true);
    expect(rest.map((f) => f.seq)).toEqual(rest.map((_, i) => lastSeq + 1 + i));
    const later = rest.filter((f) => f.type === 'stream_chunk').map((f) => String(f.data?.text));
    expect((snapshot.text as string) + later.join('')).toBe(textOf(0, TOKENS_BEFORE + TOKENS_AFTER));
    // The first tab, live all along, saw the same events after the snapshot point.
    await untilCompleted(first, runId);
    expect(first.frames.filter((f) => typeof f.seq === 'number' && f.seq > lastSeq)).toEqual(rest);
  });

  it('a client whose since fell out of history gets the snapshot instead of a bare reset', async () => {
    const { gw, release } = await setup({ historySize: 100 });
    const { runId, seen } = await runUntilHold(gw);
    const epoch = String(seen[0]?.epoch);
    const back = await gw.connect('alice', { query: `?since=3&epoch=${epoch}&catch_up=snapshot` });
    expect(back.frames[0]?.data).toMatchObject({ resume: 'snapshot', seq: seen.at(-1)?.seq });
    expect(await back.next('run_snapshot')).toMatchObject({
      run_id: runId,
      data: { text: textOf(0, TOKENS_BEFORE), last_seq: seen.at(-1)?.seq },
    });
    // The same asked in the auth frame (which wins over the URL's).
    const framed = Client.open(`${gw.wsUrl}?catch_up=none`, { protocols: ['agentcast.v1'] });
    open.push({ close: async () => framed.ws.terminate() });
    await new Promise((resolve) => framed.ws.once('open', resolve));
    framed.send({ type: 'auth', token: await gw.token('alice'), since: 3, epoch, catch_up: 'snapshot' });
    expect((await framed.next('welcome')).data).toMatchObject({ resume: 'snapshot' });
    expect(await framed.next('run_snapshot')).toMatchObject({ run_id: runId });
    // Without catch-up the same resume is a reset, as §4 says.
    const bare = await gw.connect('alice', { query: `?since=3&epoch=${epoch}` });
    expect(bare.frames[0]?.data).toMatchObject({ resume: 'reset' });
    release.resolve();
  });

  it('the snapshot of an ended run over HTTP, for its user and a backend, and 404 for anyone else', async () => {
    const { gw, release } = await setup();
    const { first, runId } = await runUntilHold(gw);
    const alice = await gw.token('alice');
    expect((await get(gw, '/v1/runs?state=active', alice)).json.runs).toMatchObject([{ run_id: runId }]);
    release.resolve();
    await untilCompleted(first, runId);

    const mine = await get(gw, `/v1/runs/${encodeURIComponent(runId)}`, alice);
    expect(mine.status).toBe(200);
    expect(mine.json).toMatchObject({
      run_id: runId,
      status: 'succeeded',
      final_response: 'counted',
      text: textOf(0, TOKENS_BEFORE + TOKENS_AFTER),
    });
    expect(typeof mine.json.ended_at).toBe('string');
    const backend = await get(gw, `/v1/runs/${encodeURIComponent(runId)}?user_id=alice`, TEST_API_KEY);
    expect(backend.json).toEqual(mine.json);

    const bob = await gw.token('bob');
    expect(await get(gw, `/v1/runs/${encodeURIComponent(runId)}`, bob)).toMatchObject({
      status: 404,
      json: { error: { code: 'NOT_FOUND' } },
    });
    expect((await get(gw, '/v1/runs', bob)).json).toEqual({ runs: [] });
    expect((await get(gw, '/v1/runs?state=active', alice)).json).toEqual({ runs: [] });
    expect((await get(gw, '/v1/runs?thread_id=th1', alice)).json.runs).toMatchObject([{ run_id: runId }]);
    expect((await get(gw, '/v1/runs?thread_id=other', alice)).json).toEqual({ runs: [] });
  });

  it('refuses what it cannot serve, with the documented codes', async () => {
    const { gw, release } = await setup();
    release.resolve();
    const alice = await gw.token('alice');
    expect(await get(gw, '/v1/runs', undefined)).toMatchObject({
      status: 401,
      json: { error: { code: 'UNAUTHORIZED' } },
    });
    expect(await get(gw, '/v1/runs', 'not.a.jwt')).toMatchObject({ status: 401 });
    expect(await get(gw, '/v1/runs', await gw.token('alice', -10))).toMatchObject({
      status: 401,
      json: { error: { message: 'token expired' } },
    });
    expect(await get(gw, '/v1/runs', TEST_API_KEY)).toMatchObject({
      status: 400,
      json: { error: { code: 'INVALID_MESSAGE' } },
    });
    for (const query of ['state=done', 'limit=0', 'limit=101', 'limit=x']) {
      expect(await get(gw, `/v1/runs?${query}`, alice)).toMatchObject({
        status: 400,
        json: { error: { code: 'INVALID_MESSAGE' } },
      });
    }
    const post = await fetch(`${gw.httpUrl}/v1/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice}` },
    });
    expect(post.status).toBe(405);
    // run_snapshot is the gateway's own frame type: no event may carry it.
    expect(await gw.publish({ user_id: 'alice', type: 'run_snapshot', data: {} })).toMatchObject({
      status: 400,
    });
  });
});
