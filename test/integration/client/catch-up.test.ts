import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type AgentcastClient,
  type ConnectOptions,
  connect,
  type RunState,
  type WebSocketConstructor,
} from '../../../packages/client/src/index.js';
import { deferred } from '../../helpers/deferred.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { line, useWebhookFixture } from '../agents/local-backend.js';

/**
 * Catch-up through the real gateway and the SDK (docs/protocol.md F, docs/client.md "Runs"): a webhook
 * backend streams thousands of tokens and a tool call, then holds; a client that connects mid-run gets
 * the whole run so far in one `run_snapshot`, then exactly the rest, and `client.run(id)` ends equal to
 * the whole answer. Every wait resolves on an SDK callback; the timeouts only end a broken test.
 */

const SECRET = 'catch-up-webhook-secret';
const BEFORE = 3_000; // tokens streamed before the backend holds
const AFTER = 500; // tokens streamed after it lets go
const WAIT_MS = 15_000;

const token = (i: number) => `t${i} `;
const textOf = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => token(from + i)).join('');
const WHOLE = textOf(0, BEFORE + AFTER);

/** A raw frame as the client's socket received it, and its size on the wire. */
interface RawFrame {
  readonly type: string;
  readonly seq?: number;
  readonly run_id?: string;
  readonly data: Record<string, unknown>;
  readonly bytes: number;
}

/** `ws`, recording every frame each socket receives, before the SDK reads it. */
function recordingWebSocket(frames: RawFrame[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      this.on('message', (data: Buffer) => {
        frames.push({ ...(JSON.parse(data.toString()) as Omit<RawFrame, 'bytes'>), bytes: data.length });
      });
    }
  } as unknown as WebSocketConstructor;
}

/** Resolves once `check()` holds, re-checked on every run change, state change and event of `client`. */
function until(client: AgentcastClient, what: string, check: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (error?: Error) => {
      for (const off of offs) off();
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    const test = () => {
      if (check()) done();
    };
    offs.push(client.onRun(test), client.onLifecycle('statechange', test), client.on('*', test));
    test();
  });
}

describe('catch-up through the gateway (docs/protocol.md F)', () => {
  const { backend } = useWebhookFixture();
  const clients: AgentcastClient[] = [];
  let h: Harness | undefined;
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    await h?.close();
    h = undefined;
  });

  /** A backend that streams BEFORE tokens and a tool call, holds until `release`, then ends the answer. */
  async function holdingBackend(release: Promise<void>) {
    return backend(async (_request, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let batch = '';
      for (let i = 0; i < BEFORE; i++) batch += line({ type: 'stream_chunk', data: { text: token(i) } });
      batch += line({
        type: 'tool_executing',
        data: { tool_name: 'calculator', tool_args: { expression: '6 * 7' }, execution_id: 'x1' },
      });
      batch += line({
        type: 'tool_completed',
        data: {
          tool_name: 'calculator',
          execution_id: 'x1',
          success: true,
          results: { value: 42 },
          duration_ms: 3,
        },
      });
      res.write(batch);
      await release;
      batch = '';
      for (let i = BEFORE; i < BEFORE + AFTER; i++)
        batch += line({ type: 'stream_chunk', data: { text: token(i) } });
      res.end(
        `${batch}${line({ type: 'agent_completed', data: { status: 'succeeded', final_response: WHOLE } })}`,
      );
    });
  }

  async function client(user: string, frames: RawFrame[], options: Partial<ConnectOptions> = {}) {
    const jwt = await (h as Harness).token(user);
    const c = connect({
      url: (h as Harness).wsUrl,
      getToken: () => jwt,
      WebSocket: recordingWebSocket(frames),
      heartbeat: false,
      backoff: { initialMs: 20, maxMs: 200 },
      ...options,
    });
    clients.push(c);
    return c;
  }

  it('a client opened mid-run gets one run_snapshot with every token so far, then exactly the rest', async () => {
    const release = deferred();
    const b = await holdingBackend(release.promise);
    h = await startGateway({ agentUrl: b.url, agentSecret: SECRET, defaultAgent: 'webhook' });

    // The first tab starts the run and sees it live, event by event.
    const firstFrames: RawFrame[] = [];
    const first = await client('u1', firstFrames);
    await until(first, 'the first welcome', () => first.state === 'open');
    const { runId } = await first.sendMessage('count');
    const toolDone = () => first.run(runId)?.tools[0]?.success === true;
    await until(first, 'the tool call, after every token before the hold', toolDone);
    expect(first.run(runId)?.text).toBe(textOf(0, BEFORE));

    // A second tab opens while the backend holds.
    const lateFrames: RawFrame[] = [];
    const late = await client('u1', lateFrames);
    await until(late, 'the run snapshot', () => late.run(runId) !== undefined);
    const welcome = lateFrames[0];
    expect(welcome).toMatchObject({ type: 'welcome', data: { resume: 'snapshot' } });
    const snapshots = lateFrames.filter((f) => f.type === 'run_snapshot');
    expect(snapshots).toHaveLength(1);
    const snapshot = snapshots[0] as RawFrame;
    expect(snapshot).toMatchObject({
      run_id: runId,
      data: {
        run_id: runId,
        status: 'running',
        agent: 'webhook',
        task: 'count',
        text: textOf(0, BEFORE),
        tools: [
          {
            execution_id: 'x1',
            tool_name: 'calculator',
            tool_args: { expression: '6 * 7' },
            success: true,
            results: { value: 42 },
            duration_ms: 3,
          },
        ],
        last_seq: welcome?.data.seq,
        truncated: false,
      },
    });
    expect(late.run(runId)?.text).toBe(textOf(0, BEFORE));

    release.resolve();
    const ended = (c: AgentcastClient) => () => c.run(runId)?.status === 'succeeded';
    await until(late, 'the end of the run on the late tab', ended(late));
    await until(first, 'the end of the run on the first tab', ended(first));

    // Exactly the rest: every later event once, none the snapshot holds.
    const lastSeq = snapshot.data.last_seq as number;
    const events = lateFrames.filter((f) => f.seq !== undefined);
    expect(events.every((f) => (f.seq as number) > lastSeq)).toBe(true);
    expect(events.map((f) => f.seq)).toEqual(events.map((_, i) => lastSeq + 1 + i));
    expect(events.filter((f) => f.type === 'stream_chunk').map((f) => f.data.text)).toEqual(
      Array.from({ length: AFTER }, (_, i) => token(BEFORE + i)),
    );
    expect(events.at(-1)?.type).toBe('agent_completed');
    expect(events).toHaveLength(AFTER + 1);

    const finalRun = late.run(runId) as RunState;
    expect(finalRun.text).toBe(WHOLE);
    expect(finalRun).toEqual(first.run(runId));
    expect(finalRun).toMatchObject({ final_response: WHOLE, status: 'succeeded' });

    // What the catch-up cost against a replay of the same events (the first tab's frames of the run).
    const replayed = firstFrames.filter((f) => f.run_id === runId && f.seq !== undefined && f.seq <= lastSeq);
    const replayBytes = replayed.reduce((n, f) => n + f.bytes, 0);
    console.log(
      `catch-up of ${BEFORE} tokens + a tool call: 1 run_snapshot frame, ${snapshot.bytes} bytes; ` +
        `a replay: ${replayed.length} frames, ${replayBytes} bytes`,
    );
    expect(snapshot.bytes * 4).toBeLessThan(replayBytes);
  });

  it('a client whose resume point fell out of history gets the run from its snapshot, with no reset', async () => {
    const release = deferred();
    const b = await holdingBackend(release.promise);
    h = await startGateway({
      agentUrl: b.url,
      agentSecret: SECRET,
      defaultAgent: 'webhook',
      historySize: 100,
    });

    const watcherFrames: RawFrame[] = [];
    const watcher = await client('u2', watcherFrames);
    await until(watcher, 'the welcome', () => watcher.state === 'open');
    const resets: unknown[] = [];
    watcher.onLifecycle('reset', (r) => resets.push(r));

    // It goes offline right after the run starts, and the run outgrows the history meanwhile.
    const frames: RawFrame[] = [];
    const sender = await client('u2', frames, { catchUp: 'none' });
    await until(sender, 'the sender welcome', () => sender.state === 'open');
    const started = new Promise<string>((resolve) => {
      const off = watcher.on('agent_started', (ev) => {
        off();
        watcher.reconnect({ delayMs: 60_000 });
        resolve(ev.run_id as string);
      });
    });
    const { runId } = await sender.sendMessage('count');
    expect(await started).toBe(runId);
    await until(sender, 'the hold', () => sender.run(runId)?.tools[0]?.success === true);
    const stale = watcher.lastSeq;
    expect(sender.lastSeq - stale).toBeGreaterThan(100);

    watcher.reconnect();
    await until(watcher, 'the resumed run', () => watcher.run(runId)?.text === textOf(0, BEFORE));
    const welcomes = watcherFrames.filter((f) => f.type === 'welcome');
    expect(welcomes.map((f) => f.data.resume)).toEqual(['snapshot', 'snapshot']);
    expect(resets).toEqual([]);

    release.resolve();
    await until(watcher, 'the end of the run', () => watcher.run(runId)?.status === 'succeeded');
    expect(watcher.run(runId)?.text).toBe(WHOLE);
    expect(watcher.run(runId)).toEqual(sender.run(runId));
  });
});
