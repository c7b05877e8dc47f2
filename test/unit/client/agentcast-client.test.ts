import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientErrorCode } from '../../../packages/client/src/client-error.js';
import { CloseCode } from '../../../packages/server/src/protocol/close-codes.js';
import { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from '../../../packages/server/src/protocol/frames.js';
import { flush, NOW, startClient, TOKEN } from './client-harness.js';
import { makeJwt } from './fake-web-socket.js';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('AgentcastClient', () => {
  describe('connecting', () => {
    it('offers agentcast.v1 and the token as a bearer subprotocol, with no token in the URL', async () => {
      const { sockets, getToken } = await startClient();
      expect(getToken).toHaveBeenCalledTimes(1);
      expect(sockets.last.protocols).toEqual([SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}${TOKEN}`]);
      expect(sockets.last.url.href).toBe('wss://gw.test/ws?catch_up=snapshot');
    });

    it('is connecting until the welcome, then open', async () => {
      const h = await startClient();
      expect(h.client.state).toBe('connecting');
      h.sockets.last.open();
      expect(h.client.state).toBe('connecting');
      h.sockets.last.welcome({ epoch: 'e1', seq: 42 });
      expect(h.client.state).toBe('open');
      expect([h.client.epoch, h.client.lastSeq]).toEqual(['e1', 42]);
      expect(h.lifecycle.map(([name]) => name)).toEqual(['welcome', 'statechange']);
      expect(h.of('statechange')).toEqual([{ state: 'open', previous: 'connecting' }]);
      expect(h.of('welcome')[0]).toMatchObject({ epoch: 'e1', seq: 42, resume: 'none' });
    });

    it('sends the token in an auth frame instead when tokenTransport is "frame"', async () => {
      const { sockets } = await startClient({ tokenTransport: 'frame' });
      expect(sockets.last.protocols).toEqual([SUBPROTOCOL]);
      sockets.last.open();
      expect(sockets.last.sent).toEqual([{ type: 'auth', token: TOKEN, catch_up: 'snapshot' }]);
    });

    it('resumes from resumeFrom on the very first connection', async () => {
      const { sockets } = await startClient({ resumeFrom: { epoch: 'e7', seq: 12 } });
      expect(sockets.last.url.search).toBe('?catch_up=snapshot&since=12&epoch=e7');
    });

    it('drops a connection that sends no welcome within connectTimeoutMs and tries again', async () => {
      const h = await startClient({ connectTimeoutMs: 10_000 });
      h.sockets.last.open();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(h.sockets.last.closeCalls).toEqual([{ code: CloseCode.Normal, reason: undefined }]);
      expect(h.of('disconnect')).toEqual([
        { code: 1006, reason: 'no welcome within 10000 ms', retryInMs: 250 },
      ]);
      expect(h.client.state).toBe('connecting');
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.all).toHaveLength(2);
    });

    it('handles a WebSocket constructor that throws (a token a subprotocol cannot carry) as an auth refusal', async () => {
      const h = await startClient({
        WebSocket: class {
          constructor() {
            throw new SyntaxError('invalid subprotocol');
          }
        } as never,
      });
      expect(h.of('disconnect')).toEqual([
        { code: CloseCode.Unauthorized, reason: 'SyntaxError: invalid subprotocol', retryInMs: 250 },
      ]);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.getToken).toHaveBeenCalledTimes(2);
    });

    it('reports a failing getToken() and retries it with backoff', async () => {
      const getToken = vi.fn<() => Promise<string>>().mockRejectedValueOnce(new Error('offline'));
      getToken.mockResolvedValue(TOKEN);
      const h = await startClient({ getToken });
      expect(h.sockets.all).toHaveLength(0);
      expect(h.of('error')[0]).toMatchObject({
        code: ClientErrorCode.TokenUnavailable,
        cause: new Error('offline'),
      });
      expect(h.of('disconnect')).toEqual([{ code: 1006, reason: 'no token', retryInMs: 250 }]);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.all).toHaveLength(1);
    });
  });

  describe('events', () => {
    it('delivers each event to its type handlers and to "*", once, and tracks lastSeq', async () => {
      const h = await startClient();
      const thinking = vi.fn();
      const off = h.client.on('agent_thinking', thinking);
      h.sockets.last.welcome({ seq: 0 });
      h.sockets.last.event(1);
      h.sockets.last.event(2, 'agent_started');
      h.sockets.last.event(2, 'agent_started');
      h.sockets.last.event(1);
      off();
      h.sockets.last.event(3);
      expect(h.seqs()).toEqual([1, 2, 3]);
      expect(thinking).toHaveBeenCalledTimes(1);
      expect(thinking.mock.calls[0]?.[0]).toMatchObject({ type: 'agent_thinking', seq: 1, run_id: 'r1' });
      expect(h.client.lastSeq).toBe(3);
    });

    it('keeps delivering when an app handler throws, and reports the error', async () => {
      const h = await startClient();
      h.client.on('agent_thinking', () => {
        throw new Error('app bug');
      });
      h.sockets.last.welcome();
      h.sockets.last.event(1);
      h.sockets.last.event(2);
      expect(h.seqs()).toEqual([1, 2]);
      expect(h.listenerErrors).toEqual([new Error('app bug'), new Error('app bug')]);
    });

    it('surfaces a reset before the first event of a new epoch, then delivers it', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ epoch: 'e1', seq: 40 });
      h.sockets.last.event(41);
      h.sockets.last.event(1, 'agent_started', 'e2');
      expect(h.of('reset')).toEqual([
        { reason: 'epoch_changed', epoch: 'e2', seq: 0, previous: { epoch: 'e1', seq: 41 } },
      ]);
      expect(h.lifecycle.at(-1)?.[0]).toBe('reset');
      expect(h.seqs()).toEqual([41, 1]);
      expect(h.client.epoch).toBe('e2');
    });

    it('never delivers across a gap: it drops the connection and resumes from lastSeq', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ seq: 0 });
      h.sockets.last.event(1);
      h.sockets.last.event(3);
      expect(h.seqs()).toEqual([1]);
      expect(h.sockets.last.closeCalls).toHaveLength(1);
      expect(h.of('disconnect')).toEqual([
        { code: 1006, reason: 'seq gap: expected 2, got 3', retryInMs: 250 },
      ]);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.last.url.search).toBe('?catch_up=snapshot&since=1&epoch=e1');
      h.sockets.last.welcome({ seq: 3, resume: 'ok' });
      h.sockets.last.event(2);
      h.sockets.last.event(3);
      expect(h.seqs()).toEqual([1, 2, 3]);
    });

    it('reports frames it cannot read and keeps going', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      h.sockets.last.receive('not json');
      h.sockets.last.receive(new ArrayBuffer(4));
      h.sockets.last.receive({ type: 'presence' });
      h.sockets.last.receive({ type: 'pong', ts: 'now' });
      h.sockets.last.event(1);
      expect(h.of('error').map((e) => e.code)).toEqual([ClientErrorCode.BadFrame, ClientErrorCode.BadFrame]);
      expect(h.seqs()).toEqual([1]);
      expect(h.client.state).toBe('open');
    });
  });

  describe('runs (docs/protocol.md F)', () => {
    const snapshot = (runId: string, lastSeq: number, text: string) => ({
      type: 'run_snapshot',
      run_id: runId,
      data: {
        run_id: runId,
        status: 'running',
        started_at: '2026-01-01T00:00:00.000Z',
        text,
        reasoning: '',
        tools: [],
        approvals: [],
        last_seq: lastSeq,
        epoch: 'e1',
        truncated: false,
      },
    });
    const chunk = (text: string) => ({ data: { text } });

    it('keeps each run_snapshot in client.runs, then folds only the later events of it', async () => {
      const h = await startClient();
      const changes: string[] = [];
      h.client.onRun((run) => changes.push(`${run.run_id}:${run.text}`));
      h.sockets.last.welcome({ seq: 20, resume: 'snapshot' });
      h.sockets.last.receive(snapshot('r1', 20, 'Hello'));
      h.sockets.last.receive(snapshot('r2', 12, 'Other'));
      h.sockets.last.event(21, 'stream_chunk', 'e1', chunk(', world'));
      h.sockets.last.event(22, 'stream_chunk', 'e1', { run_id: 'r2', ...chunk('!') });
      expect(h.client.run('r1')?.text).toBe('Hello, world');
      expect(h.client.run('r2')).toMatchObject({ text: 'Other!', last_seq: 22 });
      expect([...h.client.runs.keys()]).toEqual(['r1', 'r2']);
      expect(changes).toEqual(['r1:Hello', 'r2:Other', 'r1:Hello, world', 'r2:Other!']);
      expect(h.of('reset')).toEqual([]);
      expect(h.seqs()).toEqual([21, 22]);
    });

    it('folds a run first seen live from its events alone, and updates it before onRun, after on()', async () => {
      const h = await startClient({ catchUp: 'none' });
      expect(h.sockets.last.url.search).toBe('');
      const order: string[] = [];
      h.client.on('stream_chunk', () => order.push(`event:${h.client.run('r1')?.text}`));
      h.client.onRun((run) => order.push(`run:${run.text}`));
      h.sockets.last.welcome({ seq: 0 });
      h.sockets.last.event(1, 'stream_chunk', 'e1', chunk('a'));
      h.sockets.last.event(2, 'stream_chunk', 'e1', chunk('b'));
      h.sockets.last.event(2, 'stream_chunk', 'e1', chunk('b'));
      expect(order).toEqual(['event:a', 'run:a', 'event:ab', 'run:ab']);
      expect(h.client.run('r1')).toMatchObject({ status: 'running', text: 'ab', last_seq: 2 });
      expect(h.client.run('nope')).toBeUndefined();
    });

    it('after a resume that history cannot serve, takes the snapshots instead of a reset', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ seq: 0, resume: 'snapshot' });
      h.sockets.last.event(1, 'stream_chunk', 'e1', chunk('a'));
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.last.url.search).toBe('?catch_up=snapshot&since=1&epoch=e1');
      h.sockets.last.welcome({ seq: 3000, resume: 'snapshot' });
      h.sockets.last.receive(snapshot('r1', 2999, 'a…everything'));
      h.sockets.last.event(3000, 'stream_chunk', 'e1', chunk(' more'));
      h.sockets.last.event(3001, 'stream_chunk', 'e1', chunk('.'));
      expect(h.of('reset')).toEqual([]);
      expect(h.of('welcome').map((w) => w.resume)).toEqual(['snapshot', 'snapshot']);
      expect(h.seqs()).toEqual([1, 3001]);
      expect(h.client.run('r1')?.text).toBe('a…everything.');
    });

    it('skips a run_snapshot it cannot read, and reports it', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ seq: 0, resume: 'snapshot' });
      h.sockets.last.receive({ type: 'run_snapshot', data: { run_id: 'r1' } });
      expect(h.client.runs.size).toBe(0);
      expect(h.of('error').map((e) => e.code)).toEqual(['AC_CLIENT_BAD_FRAME']);
    });
  });

  describe('reconnecting and resuming', () => {
    it('reconnects with backoff after the connection drops and resumes with since and epoch', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ epoch: 'e1', seq: 10 });
      h.sockets.last.event(11);
      h.sockets.last.serverClose(1006);
      expect(h.client.state).toBe('reconnecting');
      expect(h.of('disconnect')).toEqual([{ code: 1006, reason: '', retryInMs: 250 }]);
      await vi.advanceTimersByTimeAsync(249);
      expect(h.sockets.all).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(h.sockets.all).toHaveLength(2);
      expect(h.sockets.last.url.search).toBe('?catch_up=snapshot&since=11&epoch=e1');
      expect(h.sockets.last.protocols).toEqual([SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}${TOKEN}`]);
      expect(h.getToken).toHaveBeenCalledTimes(1);
    });

    it('passes since and epoch in the auth frame when tokenTransport is "frame"', async () => {
      const h = await startClient({ tokenTransport: 'frame' });
      h.sockets.last.welcome({ epoch: 'e1', seq: 10 });
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.last.url.search).toBe('');
      h.sockets.last.open();
      expect(h.sockets.last.sent).toEqual([
        { type: 'auth', token: TOKEN, since: 10, epoch: 'e1', catch_up: 'snapshot' },
      ]);
    });

    it('replays what was missed after resume "ok", dropping what was already seen', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ seq: 0 });
      h.sockets.last.event(1);
      h.sockets.last.event(2);
      h.sockets.last.serverClose(CloseCode.SlowConsumer);
      await vi.advanceTimersByTimeAsync(250);
      h.sockets.last.welcome({ seq: 5, resume: 'ok' });
      for (const seq of [2, 3, 4, 5, 6]) h.sockets.last.event(seq);
      expect(h.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
      expect(h.of('reset')).toEqual([]);
      expect(h.of('statechange').map((s) => s.state)).toEqual(['open', 'reconnecting', 'open']);
    });

    it('surfaces a reset and starts after the welcome seq on resume "reset"', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ epoch: 'e1', seq: 3 });
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(250);
      h.sockets.last.welcome({ epoch: 'e2', seq: 7, resume: 'reset' });
      expect(h.of('reset')).toEqual([
        { reason: 'resume_reset', epoch: 'e2', seq: 7, previous: { epoch: 'e1', seq: 3 } },
      ]);
      h.sockets.last.event(8, 'agent_started', 'e2');
      expect(h.seqs()).toEqual([8]);
      expect([h.client.epoch, h.client.lastSeq]).toEqual(['e2', 8]);
    });

    it('grows the delay while attempts fail, up to maxMs', async () => {
      // WebSocket only: with the default `auto`, two 1006 before a welcome switch to SSE.
      const h = await startClient({ transport: 'websocket', backoff: { initialMs: 100, maxMs: 1_000 } });
      const delays: (number | undefined)[] = [];
      for (let i = 0; i < 6; i++) {
        h.sockets.last.serverClose(1006);
        const retry = h.of('disconnect').at(-1)?.retryInMs;
        delays.push(retry);
        await vi.advanceTimersByTimeAsync(retry ?? 0);
      }
      expect(delays).toEqual([50, 100, 200, 400, 500, 500]);
    });

    it('starts the backoff over once a connection stayed open for resetAfterMs', async () => {
      const h = await startClient({ transport: 'websocket', backoff: { resetAfterMs: 5_000 } });
      for (const delay of [250, 500, 1_000]) {
        h.sockets.last.serverClose(1006);
        await vi.advanceTimersByTimeAsync(delay);
      }
      h.sockets.last.welcome();
      await vi.advanceTimersByTimeAsync(5_000);
      h.sockets.last.serverClose(1006);
      expect(h.of('disconnect').at(-1)?.retryInMs).toBe(250);
    });

    it('keeps backing off when connections close right after their welcome (a crash-looping server)', async () => {
      const h = await startClient({ backoff: { resetAfterMs: 5_000 } });
      for (const delay of [250, 500, 1_000]) {
        h.sockets.last.welcome();
        await vi.advanceTimersByTimeAsync(100);
        h.sockets.last.serverClose(CloseCode.InternalError);
        expect(h.of('disconnect').at(-1)?.retryInMs).toBe(delay);
        await vi.advanceTimersByTimeAsync(delay);
      }
    });

    it('reconnects almost at once after 1012 (server restart), with jitter', async () => {
      const h = await startClient({ random: () => 0.1, restartJitterMs: 1_000 });
      h.sockets.last.welcome({ seq: 4 });
      h.sockets.last.serverClose(CloseCode.ServiceRestart);
      expect(h.of('disconnect')).toEqual([{ code: 1012, reason: '', retryInMs: 100 }]);
      await vi.advanceTimersByTimeAsync(100);
      expect(h.sockets.last.url.search).toBe('?catch_up=snapshot&since=4&epoch=e1');
    });

    it('reconnect({ delayMs }) keeps the socket closed that long, then resumes (the demo outage)', async () => {
      const h = await startClient();
      h.sockets.last.welcome({ seq: 0 });
      h.sockets.last.event(1);
      h.client.reconnect({ delayMs: 5_000 });
      expect(h.sockets.all[0]?.closeCalls).toEqual([{ code: CloseCode.Normal, reason: undefined }]);
      expect(h.client.state).toBe('reconnecting');
      expect(h.of('disconnect')).toEqual([{ code: 1000, reason: 'reconnect requested', retryInMs: 5_000 }]);
      h.sockets.all[0]?.event(2); // late frames from the abandoned socket are ignored
      await vi.advanceTimersByTimeAsync(4_999);
      expect(h.sockets.all).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(h.sockets.last.url.search).toBe('?catch_up=snapshot&since=1&epoch=e1');
      h.sockets.last.welcome({ seq: 3, resume: 'ok' });
      h.sockets.last.event(2);
      h.sockets.last.event(3);
      expect(h.seqs()).toEqual([1, 2, 3]);
    });

    it('reconnect() while waiting to retry connects at once', async () => {
      const h = await startClient();
      h.sockets.last.serverClose(1006);
      h.client.reconnect();
      await flush();
      expect(h.sockets.all).toHaveLength(2);
      expect(h.client.state).toBe('connecting');
      await vi.advanceTimersByTimeAsync(10_000);
      expect(h.sockets.all).toHaveLength(2);
    });

    it('drops a token that arrives for an attempt that reconnect() replaced', async () => {
      let release: (token: string) => void = () => {};
      const getToken = vi.fn(() => new Promise<string>((resolve) => (release = resolve)));
      const h = await startClient({ getToken });
      h.client.reconnect();
      release(TOKEN); // answers the first attempt's getToken(), which reconnect() made stale
      await flush();
      // One socket, from the new attempt (which found the token cached), none from the stale one.
      expect(h.sockets.all).toHaveLength(1);
      expect(getToken).toHaveBeenCalledTimes(1);
    });
  });

  describe('auth refusals', () => {
    it.each([CloseCode.Unauthorized, CloseCode.TokenExpired, CloseCode.AuthTimeout])(
      'fetches a fresh token before reconnecting after %i',
      async (code) => {
        const fresh = makeJwt({ sub: 'u1', exp: NOW / 1000 + 7200 });
        const getToken = vi.fn<() => Promise<string>>().mockResolvedValueOnce(TOKEN).mockResolvedValue(fresh);
        const h = await startClient({ getToken });
        h.sockets.last.serverClose(code);
        await vi.advanceTimersByTimeAsync(250);
        expect(getToken).toHaveBeenCalledTimes(2);
        expect(h.sockets.last.protocols[1]).toBe(`bearer.${fresh}`);
      },
    );

    it('reconnects with the same token after 4009: the token is fine, another connection must close', async () => {
      const getToken = vi.fn<() => Promise<string>>().mockResolvedValue(TOKEN);
      const h = await startClient({ getToken });
      h.sockets.last.serverClose(CloseCode.TooManyConnections);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.all).toHaveLength(2);
      expect(getToken).toHaveBeenCalledTimes(1);
      expect(h.sockets.last.protocols[1]).toBe(`bearer.${TOKEN}`);
    });

    it('stops after maxAuthFailures refusals in a row, rejects pending requests and reports why', async () => {
      const h = await startClient({ maxAuthFailures: 3 });
      const pending = h.client.sendMessage('hello');
      const rejected = pending.catch((error: unknown) => error);
      for (const code of [CloseCode.Unauthorized, CloseCode.TokenExpired]) {
        h.sockets.last.serverClose(code);
        await vi.advanceTimersByTimeAsync(1_000);
      }
      h.sockets.last.serverClose(CloseCode.Unauthorized);
      expect(h.client.state).toBe('closed');
      const [error] = h.of('error');
      expect(error).toMatchObject({ code: ClientErrorCode.AuthFailed, closeCode: 4001 });
      expect(await rejected).toBe(error);
      expect(h.of('disconnect').at(-1)).toEqual({ code: 4001, reason: '', retryInMs: undefined });
      await vi.advanceTimersByTimeAsync(600_000);
      expect(h.sockets.all).toHaveLength(3);
      await expect(h.client.sendMessage('again')).rejects.toMatchObject({ code: ClientErrorCode.Closed });
    });

    it('restarts after reconnect() once stopped, with fresh counters', async () => {
      const h = await startClient({ maxAuthFailures: 1 });
      h.sockets.last.serverClose(CloseCode.Unauthorized);
      expect(h.client.state).toBe('closed');
      h.client.reconnect();
      expect(h.client.state).toBe('connecting');
      await flush();
      h.sockets.last.welcome();
      expect(h.client.state).toBe('open');
    });
  });

  describe('client bugs (4008, 1009)', () => {
    it.each([CloseCode.TooManyBadFrames, CloseCode.FrameTooLarge])(
      'stops after %i and says so',
      async (code) => {
        const h = await startClient();
        h.sockets.last.welcome();
        h.sockets.last.serverClose(code);
        expect(h.client.state).toBe('closed');
        expect(h.of('error')).toMatchObject([{ code: ClientErrorCode.Rejected, closeCode: code }]);
        await vi.advanceTimersByTimeAsync(600_000);
        expect(h.sockets.all).toHaveLength(1);
      },
    );

    it('refuses to send a message larger than maxFrameBytes instead of getting closed with 1009', async () => {
      const h = await startClient({ maxFrameBytes: 200 });
      h.sockets.last.welcome();
      await expect(h.client.sendMessage('x'.repeat(200))).rejects.toMatchObject({
        code: ClientErrorCode.TooLarge,
      });
      expect(h.sockets.last.sent).toEqual([]);
    });
  });

  describe('messages and cancels', () => {
    it('sends a user_message with its idempotency id and resolves with the ack', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const ack = h.client.sendMessage('hello', { agent: 'demo', threadId: 't1' });
      expect(h.sockets.last.sent).toEqual([
        { type: 'user_message', id: 'id-1', data: { text: 'hello', thread_id: 't1', agent: 'demo' } },
      ]);
      h.sockets.last.receive({ type: 'ack', id: 'id-1', data: { run_id: 'r1', duplicate: false } });
      await expect(ack).resolves.toEqual({ id: 'id-1', runId: 'r1', duplicate: false });
    });

    it('queues messages sent before the welcome and sends them after it', async () => {
      const h = await startClient();
      const ack = h.client.sendMessage('early', { id: 'm1' });
      h.sockets.last.open();
      expect(h.sockets.last.sent).toEqual([]);
      h.sockets.last.welcome();
      expect(h.sockets.last.sent).toEqual([{ type: 'user_message', id: 'm1', data: { text: 'early' } }]);
      h.sockets.last.receive({ type: 'ack', id: 'm1', data: { run_id: 'r1' } });
      await expect(ack).resolves.toMatchObject({ runId: 'r1' });
    });

    it('resends an unacked message after every reconnect until acked, then never again', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const ack = h.client.sendMessage('hello', { id: 'm1' });
      for (let i = 0; i < 2; i++) {
        h.sockets.last.serverClose(1006);
        await vi.advanceTimersByTimeAsync(1_000);
        h.sockets.last.welcome({ resume: 'ok' });
      }
      const perSocket = h.sockets.all.map((ws) => ws.sent.filter((f) => f.id === 'm1').length);
      expect(perSocket).toEqual([1, 1, 1]);
      h.sockets.last.receive({ type: 'ack', id: 'm1', data: { run_id: 'r1', duplicate: true } });
      await expect(ack).resolves.toEqual({ id: 'm1', runId: 'r1', duplicate: true });
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(1_000);
      h.sockets.last.welcome({ resume: 'ok' });
      expect(h.sockets.last.sent).toEqual([]);
    });

    it('returns the pending promise, without sending twice, when the same id is sent again', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const first = h.client.sendMessage('hello', { id: 'm1' });
      expect(h.client.sendMessage('hello', { id: 'm1' })).toBe(first);
      expect(h.sockets.last.sent).toHaveLength(1);
    });

    it('rejects after ackTimeoutMs and stops resending', async () => {
      const h = await startClient({ ackTimeoutMs: 10_000 });
      const ack = h.client.sendMessage('hello', { id: 'm1' });
      const settled = expect(ack).rejects.toMatchObject({ code: ClientErrorCode.AckTimeout });
      await vi.advanceTimersByTimeAsync(10_000);
      await settled;
      h.sockets.last.welcome();
      expect(h.sockets.last.sent).toEqual([]);
    });

    it('rejects the request an error frame names, and reports errors that name none', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const ack = h.client.sendMessage('hello', { id: 'm1' });
      h.sockets.last.receive({
        type: 'error',
        id: 'm1',
        data: { code: 'RATE_LIMITED', message: 'slow down' },
      });
      await expect(ack).rejects.toMatchObject({
        code: ClientErrorCode.Server,
        serverCode: 'RATE_LIMITED',
        message: 'RATE_LIMITED: slow down',
      });
      h.sockets.last.receive({ type: 'error', data: { code: 'INVALID_JSON', message: 'bad' } });
      h.sockets.last.receive({ type: 'error', id: 'unknown', data: { code: 'NOT_FOUND', message: 'x' } });
      expect(h.of('error').map((e) => e.serverCode)).toEqual(['INVALID_JSON', 'NOT_FOUND']);
    });

    it('rejects an empty message without sending it', async () => {
      const h = await startClient();
      await expect(h.client.sendMessage('')).rejects.toThrow(
        new TypeError('sendMessage(text): text must be a non-empty string'),
      );
    });

    it('cancels a run with an id and resolves with the ack', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const ack = h.client.cancel('r9');
      expect(h.sockets.last.sent).toEqual([{ type: 'cancel', id: 'id-1', data: { run_id: 'r9' } }]);
      h.sockets.last.receive({ type: 'ack', id: 'id-1', data: { run_id: 'r9' } });
      await expect(ack).resolves.toEqual({ id: 'id-1', runId: 'r9', duplicate: false });
    });

    it('does not resend when a welcome handler closed the client', async () => {
      const h = await startClient();
      void h.client.sendMessage('hello').catch(() => 'closed: expected');
      h.client.onLifecycle('welcome', () => void h.client.close());
      h.sockets.last.welcome();
      expect(h.sockets.last.sent).toEqual([]);
      expect(h.client.state).toBe('closed');
    });
  });

  describe('close()', () => {
    it('closes the socket, rejects pending requests and never reconnects', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const rejected = expect(h.client.sendMessage('hello')).rejects.toMatchObject({
        code: ClientErrorCode.Closed,
      });
      await h.client.close();
      await h.client.close();
      expect(h.client.state).toBe('closed');
      expect(h.sockets.last.closeCalls).toEqual([{ code: 1000, reason: undefined }]);
      await rejected;
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(600_000);
      expect(h.sockets.all).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);
      expect(() => h.client.reconnect()).toThrow(/reconnect\(\) after close\(\)/);
    });

    it('cancels a pending retry and a token fetch in flight', async () => {
      let release: (token: string) => void = () => {};
      const getToken = vi.fn(() => new Promise<string>((resolve) => (release = resolve)));
      const h = await startClient({ getToken });
      await h.client.close();
      release(TOKEN);
      await flush();
      expect(h.sockets.all).toHaveLength(0);
    });

    it('ignores a close event that arrives after close()', async () => {
      const h = await startClient();
      h.sockets.last.welcome();
      const ws = h.sockets.last;
      const onclose = ws.onclose;
      await h.client.close();
      onclose?.({ code: 1006, reason: '' });
      expect(h.of('disconnect')).toEqual([]);
    });
  });

  describe('heartbeat', () => {
    it('pings every intervalMs once open and reconnects when nothing answers within timeoutMs', async () => {
      const h = await startClient({ heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 } });
      h.sockets.last.welcome({ seq: 0 });
      await vi.advanceTimersByTimeAsync(25_000);
      expect(h.sockets.last.sent).toEqual([{ type: 'ping' }]);
      h.sockets.last.receive({ type: 'pong', ts: 'now' });
      await vi.advanceTimersByTimeAsync(25_000 + 10_000);
      expect(h.sockets.last.closeCalls).toHaveLength(1);
      expect(h.of('disconnect')).toEqual([
        { code: 1006, reason: 'no frame after ping (heartbeat timeout)', retryInMs: 250 },
      ]);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.all).toHaveLength(2);
    });

    it('does not ping before the welcome (any frame but auth would close with 4001)', async () => {
      const h = await startClient();
      h.sockets.last.open();
      await vi.advanceTimersByTimeAsync(14_000);
      expect(h.sockets.last.sent).toEqual([]);
    });

    it('sends no pings when heartbeat is false', async () => {
      const h = await startClient({ heartbeat: false });
      h.sockets.last.welcome();
      await vi.advanceTimersByTimeAsync(120_000);
      expect(h.sockets.last.sent).toEqual([]);
      expect(h.client.state).toBe('open');
    });
  });

  describe('token refresh', () => {
    const inSeconds = (s: number) => makeJwt({ sub: 'u1', exp: NOW / 1000 + s });

    it('sends a fresh token refreshBeforeExpiryMs before exp, and schedules the next one on auth_ok', async () => {
      const tokens = [inSeconds(120), inSeconds(240), inSeconds(360)];
      const queue = [...tokens];
      const getToken = vi.fn(async () => queue.shift() ?? 'none');
      const h = await startClient({ getToken, refreshBeforeExpiryMs: 30_000, heartbeat: false });
      h.sockets.last.welcome();
      await vi.advanceTimersByTimeAsync(89_999);
      expect(getToken).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(getToken).toHaveBeenCalledTimes(2);
      expect(h.sockets.last.sent).toEqual([{ type: 'auth', token: tokens[1] }]);
      h.sockets.last.receive({ type: 'auth_ok' });
      await vi.advanceTimersByTimeAsync(119_999); // next refresh: 240 - 30 - 90 = 120 s later
      expect(getToken).toHaveBeenCalledTimes(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(h.sockets.last.sent).toEqual([
        { type: 'auth', token: tokens[1] },
        { type: 'auth', token: tokens[2] },
      ]);
    });

    it('reuses the refreshed token when it reconnects', async () => {
      const fresh = inSeconds(3600);
      const getToken = vi
        .fn<() => Promise<string>>()
        .mockResolvedValueOnce(inSeconds(120))
        .mockResolvedValue(fresh);
      const h = await startClient({ getToken, heartbeat: false });
      h.sockets.last.welcome();
      await vi.advanceTimersByTimeAsync(90_000);
      h.sockets.last.serverClose(1006);
      await vi.advanceTimersByTimeAsync(250);
      expect(h.sockets.last.protocols[1]).toBe(`bearer.${fresh}`);
      expect(getToken).toHaveBeenCalledTimes(2);
    });

    it('reports a failed refresh and tries again 5 s later', async () => {
      const getToken = vi
        .fn<() => Promise<string>>()
        .mockResolvedValueOnce(inSeconds(120))
        .mockRejectedValueOnce(new Error('token endpoint down'))
        .mockResolvedValue(inSeconds(3600));
      const h = await startClient({ getToken, heartbeat: false });
      h.sockets.last.welcome();
      await vi.advanceTimersByTimeAsync(90_000);
      expect(h.of('error')).toMatchObject([
        { code: ClientErrorCode.TokenUnavailable, message: 'token refresh failed' },
      ]);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(h.sockets.last.sent).toMatchObject([{ type: 'auth' }]);
    });

    it('drops a refreshed token that arrives after its connection ended', async () => {
      let release: (token: string) => void = () => {};
      const getToken = vi
        .fn<() => Promise<string>>()
        .mockResolvedValueOnce(inSeconds(120))
        .mockImplementationOnce(() => new Promise<string>((resolve) => (release = resolve)))
        .mockImplementation(() => new Promise<string>(() => {}));
      const h = await startClient({ getToken, heartbeat: false });
      const first = h.sockets.last;
      first.welcome();
      await vi.advanceTimersByTimeAsync(90_000);
      first.serverClose(1006);
      release(inSeconds(3600));
      await flush();
      expect(first.sent).toEqual([]);
    });

    it('does not schedule a refresh for an opaque token', async () => {
      const h = await startClient({ getToken: async () => 'opaque', heartbeat: false });
      h.sockets.last.welcome();
      expect(vi.getTimerCount()).toBe(1); // the resetAfterMs timer only
    });
  });
});
