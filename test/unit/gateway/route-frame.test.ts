import { afterEach, describe, expect, it } from 'vitest';
import { AgentRuntime } from '../../../packages/server/src/agents/agent-runtime.js';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import type { RunController, RunRefusal } from '../../../packages/server/src/gateway/connection-context.js';
import { type RouterContext, routeFrame } from '../../../packages/server/src/gateway/frame-router.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { ErrorCode } from '../../../packages/server/src/protocol/error-codes.js';
import type { ClientFrame } from '../../../packages/server/src/protocol/frames.js';
import { FakeSession, type SentFrame } from '../../helpers/fake-session.js';
import { captureLog } from '../../helpers/log-capture.js';

/**
 * routeFrame (docs/protocol.md §6) without a socket: a FakeSession stands for the connection, the run
 * controller is either a real AgentRuntime over a MemoryEngine (the refusals as the runtime gives them)
 * or a scripted one (exact arguments, failures). The socket-level tests are frame-router.test.ts.
 */

const NOW = Date.parse('2025-01-02T03:04:05.678Z');
const INTERNAL = { code: ErrorCode.Internal, message: 'internal error; nothing accepted before was lost' };

/** Resolves once the session has written `count` frames (handlers answer after an await). */
async function framesOf(session: FakeSession, count: number): Promise<SentFrame[]> {
  await expect.poll(() => session.frames.length, { interval: 5 }).toBe(count);
  return session.frames;
}

/** A run controller that records its calls and answers as scripted. */
function scriptedRuns(script: Partial<RunController> = {}) {
  const starts: Parameters<RunController['start']>[] = [];
  const cancels: Parameters<RunController['cancel']>[] = [];
  const answers: Parameters<RunController['answerApproval']>[] = [];
  const runs: RunController = {
    start(userId, message) {
      starts.push([userId, message]);
      return script.start?.(userId, message) ?? Promise.resolve({ ok: true, runId: 'r_1', duplicate: false });
    },
    cancel(userId, runId) {
      cancels.push([userId, runId]);
      return script.cancel?.(userId, runId) ?? { ok: true };
    },
    answerApproval(userId, approvalId, reply) {
      answers.push([userId, approvalId, reply]);
      return (
        script.answerApproval?.(userId, approvalId, reply) ??
        Promise.resolve({ ok: true, decision: reply.decision, duplicate: false })
      );
    },
  };
  return { runs, starts, cancels, answers };
}

/** An agent that runs until it is cancelled. */
const waitingAgent = defineAgent({
  name: 'waiter',
  async *run(_input, ctx) {
    yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  },
});

describe('routeFrame with a scripted run controller', () => {
  it('answers an approval frame with an ack naming the decision, or the refusal as an error frame (docs/protocol.md G)', async () => {
    const session = new FakeSession();
    const { runs, answers } = scriptedRuns({
      answerApproval: async (_u, approvalId) =>
        approvalId === 'a_2'
          ? { ok: false, code: ErrorCode.Conflict, message: 'approval a_2 was already resolved: approved' }
          : { ok: true, decision: 'denied', duplicate: true },
    });
    const ctx: RouterContext = { runs, now: () => NOW };
    routeFrame(
      session,
      { type: 'approval', id: 'q1', data: { approval_id: 'a_1', decision: 'deny', reason: 'no' } },
      ctx,
    );
    routeFrame(
      session,
      { type: 'approval', id: 'q2', data: { approval_id: 'a_2', decision: 'approve' } },
      ctx,
    );
    expect(await framesOf(session, 2)).toEqual([
      { type: 'ack', id: 'q1', data: { approval_id: 'a_1', decision: 'denied', duplicate: true } },
      {
        type: 'error',
        id: 'q2',
        data: { code: 'CONFLICT', message: 'approval a_2 was already resolved: approved' },
      },
    ]);
    expect(answers).toEqual([
      [session.userId, 'a_1', { decision: 'denied', reason: 'no', key: 'q1' }],
      [session.userId, 'a_2', { decision: 'approved', reason: undefined, key: 'q2' }],
    ]);
  });

  it('answers ping with pong, the same id and the clock as ISO time, before returning', () => {
    const session = new FakeSession();
    const ctx: RouterContext = { runs: scriptedRuns().runs, now: () => NOW };
    routeFrame(session, { type: 'ping', id: 'p1' }, ctx);
    routeFrame(session, { type: 'ping', id: 7 }, ctx);
    routeFrame(session, { type: 'ping' }, ctx);
    expect(session.frames).toEqual([
      { type: 'pong', id: 'p1', ts: '2025-01-02T03:04:05.678Z' },
      { type: 'pong', id: 7, ts: '2025-01-02T03:04:05.678Z' },
      { type: 'pong', ts: '2025-01-02T03:04:05.678Z' },
    ]);
  });

  it('hands an auth frame to the session as a token refresh and writes nothing itself', async () => {
    const session = new FakeSession();
    routeFrame(
      session,
      { type: 'auth', token: 'next.jwt', since: 3 },
      { runs: scriptedRuns().runs, now: () => NOW },
    );
    expect(session.refreshed).toEqual(['next.jwt']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(session.frames).toEqual([]);
    expect(session.isClosed()).toBe(false);
  });

  it("starts a run for the session's user with the message's id, text, thread and agent, and acks it", async () => {
    const session = new FakeSession({ userId: 'alice' });
    const { runs, starts } = scriptedRuns({
      start: async () => ({ ok: true, runId: 'r_42', duplicate: false }),
    });
    routeFrame(
      session,
      { type: 'user_message', id: 'm1', data: { text: 'hi', thread_id: 't9', agent: 'waiter' } },
      { runs, now: () => NOW },
    );
    expect(await framesOf(session, 1)).toEqual([
      { type: 'ack', id: 'm1', data: { run_id: 'r_42', duplicate: false } },
    ]);
    expect(starts).toEqual([['alice', { messageId: 'm1', text: 'hi', threadId: 't9', agent: 'waiter' }]]);
  });

  it('passes no thread and no agent when the message names none, and acks a duplicate as such', async () => {
    const session = new FakeSession();
    const { runs, starts } = scriptedRuns({
      start: async () => ({ ok: true, runId: 'r_1', duplicate: true }),
    });
    routeFrame(
      session,
      { type: 'user_message', id: 'm1', data: { text: 'again' } },
      { runs, now: () => NOW },
    );
    expect(await framesOf(session, 1)).toEqual([
      { type: 'ack', id: 'm1', data: { run_id: 'r_1', duplicate: true } },
    ]);
    expect(starts).toEqual([
      ['u1', { messageId: 'm1', text: 'again', threadId: undefined, agent: undefined }],
    ]);
  });

  it("cancels the session user's run and acks with the run id, under the frame id when there is one", async () => {
    const session = new FakeSession({ userId: 'alice' });
    const { runs, cancels } = scriptedRuns();
    routeFrame(session, { type: 'cancel', id: 'c1', data: { run_id: 'r_9' } }, { runs, now: () => NOW });
    routeFrame(session, { type: 'cancel', data: { run_id: 'r_8' } }, { runs, now: () => NOW });
    expect(await framesOf(session, 2)).toEqual([
      { type: 'ack', id: 'c1', data: { run_id: 'r_9' } },
      { type: 'ack', data: { run_id: 'r_8' } },
    ]);
    expect(cancels).toEqual([
      ['alice', 'r_9'],
      ['alice', 'r_8'],
    ]);
  });

  it.each([ErrorCode.NotFound, ErrorCode.RateLimited, ErrorCode.Unavailable])(
    'answers a start and a cancel refused with %s by an error frame with that code and message, under the frame id',
    async (code) => {
      const session = new FakeSession();
      const refusal: RunRefusal = { ok: false, code, message: `refused: ${code}` };
      const { runs } = scriptedRuns({ start: async () => refusal, cancel: () => refusal });
      routeFrame(session, { type: 'user_message', id: 'm1', data: { text: 'hi' } }, { runs, now: () => NOW });
      routeFrame(session, { type: 'cancel', id: 'c1', data: { run_id: 'r_1' } }, { runs, now: () => NOW });
      const frames = await framesOf(session, 2);
      expect(frames).toContainEqual({ type: 'error', id: 'm1', data: { code, message: `refused: ${code}` } });
      expect(frames).toContainEqual({ type: 'error', id: 'c1', data: { code, message: `refused: ${code}` } });
      expect(session.isClosed()).toBe(false);
    },
  );

  const failures: readonly [string, ClientFrame, Partial<RunController> | undefined, string | undefined][] = [
    [
      'a start that rejects',
      { type: 'user_message', id: 'm1', data: { text: 'hi' } },
      { start: () => Promise.reject(new Error('start exploded')) },
      'm1',
    ],
    [
      'a start that throws before returning',
      { type: 'user_message', id: 'm1', data: { text: 'hi' } },
      {
        start: () => {
          throw new Error('start exploded');
        },
      },
      'm1',
    ],
    [
      'a cancel that rejects',
      { type: 'cancel', id: 'c1', data: { run_id: 'r_1' } },
      { cancel: () => Promise.reject(new Error('cancel exploded')) },
      'c1',
    ],
    [
      'a cancel that throws before returning',
      { type: 'cancel', id: 'c1', data: { run_id: 'r_1' } },
      {
        cancel: () => {
          throw new Error('cancel exploded');
        },
      },
      'c1',
    ],
    ['a token refresh that rejects', { type: 'auth', token: 'next.jwt' }, undefined, undefined],
  ];

  it.each(failures)(
    'turns %s into INTERNAL under the frame id, logs it, never throws and keeps answering',
    async (_name, frame, script, id) => {
      const { log, lines } = captureLog();
      const session = new FakeSession({ log });
      session.onRefresh = () => Promise.reject(new Error('refresh exploded'));
      const ctx: RouterContext = { runs: scriptedRuns(script).runs, now: () => NOW };
      expect(() => routeFrame(session, frame, ctx)).not.toThrow();
      const [error] = await framesOf(session, 1);
      expect(error).toEqual(
        id === undefined ? { type: 'error', data: INTERNAL } : { type: 'error', id, data: INTERNAL },
      );
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 50,
          msg: 'frame handler failed',
          err: expect.objectContaining({ message: expect.stringMatching(/exploded$/) }),
        }),
      );
      expect(session.isClosed()).toBe(false);
      routeFrame(session, { type: 'ping', id: 'after' }, ctx);
      expect(session.frames[1]).toMatchObject({ type: 'pong', id: 'after' });
    },
  );
});

describe('routeFrame with the agent runtime', () => {
  let engine: MemoryEngine;
  let runtime: AgentRuntime;
  afterEach(async () => {
    await runtime.close();
    await engine.close();
  });

  function start(options: { maxRunsPerUser?: number } = {}): RouterContext {
    engine = new MemoryEngine();
    runtime = new AgentRuntime({
      engine,
      agents: [waitingAgent],
      defaultAgent: 'waiter',
      log: silentLogger(),
      ...options,
    });
    return { runs: runtime, now: () => NOW };
  }

  async function startRun(session: FakeSession, ctx: RouterContext, id: string): Promise<string> {
    const before = session.frames.length;
    routeFrame(session, { type: 'user_message', id, data: { text: 'hi' } }, ctx);
    const ack = (await framesOf(session, before + 1))[before] as SentFrame;
    expect(ack).toMatchObject({ type: 'ack', id, data: { duplicate: false } });
    return String((ack.data as { run_id: string }).run_id);
  }

  it('acks a repeated message id with the first run id and duplicate: true', async () => {
    const ctx = start();
    const session = new FakeSession();
    const runId = await startRun(session, ctx, 'm1');
    routeFrame(session, { type: 'user_message', id: 'm1', data: { text: 'hi' } }, ctx);
    expect((await framesOf(session, 2))[1]).toEqual({
      type: 'ack',
      id: 'm1',
      data: { run_id: runId, duplicate: true },
    });
    expect(runtime.activeRuns()).toBe(1);
  });

  it('refuses an unknown agent with NOT_FOUND', async () => {
    const ctx = start();
    const session = new FakeSession();
    routeFrame(session, { type: 'user_message', id: 'm1', data: { text: 'hi', agent: 'nobody' } }, ctx);
    expect(await framesOf(session, 1)).toEqual([
      { type: 'error', id: 'm1', data: { code: ErrorCode.NotFound, message: 'no agent named "nobody"' } },
    ]);
  });

  it('refuses a run over max_runs_per_user with RATE_LIMITED', async () => {
    const ctx = start({ maxRunsPerUser: 1 });
    const session = new FakeSession();
    await startRun(session, ctx, 'm1');
    routeFrame(session, { type: 'user_message', id: 'm2', data: { text: 'hi' } }, ctx);
    expect((await framesOf(session, 2))[1]).toMatchObject({
      type: 'error',
      id: 'm2',
      data: { code: ErrorCode.RateLimited },
    });
  });

  it('refuses a run while the runtime drains with UNAVAILABLE', async () => {
    const ctx = start();
    const session = new FakeSession();
    void runtime.drain(0);
    routeFrame(session, { type: 'user_message', id: 'm1', data: { text: 'hi' } }, ctx);
    expect(await framesOf(session, 1)).toEqual([
      {
        type: 'error',
        id: 'm1',
        data: { code: ErrorCode.Unavailable, message: 'the gateway is shutting down; retry on another node' },
      },
    ]);
  });

  it("cancels the user's own run, and refuses another user's run or an unknown one with NOT_FOUND", async () => {
    const ctx = start();
    const alice = new FakeSession({ userId: 'alice' });
    const mallory = new FakeSession({ userId: 'mallory' });
    const runId = await startRun(alice, ctx, 'm1');

    routeFrame(mallory, { type: 'cancel', id: 'x1', data: { run_id: runId } }, ctx);
    routeFrame(mallory, { type: 'cancel', id: 'x2', data: { run_id: 'r_unknown' } }, ctx);
    expect(await framesOf(mallory, 2)).toEqual([
      {
        type: 'error',
        id: 'x1',
        data: { code: ErrorCode.NotFound, message: `no active run ${runId} for this user` },
      },
      {
        type: 'error',
        id: 'x2',
        data: { code: ErrorCode.NotFound, message: 'no active run r_unknown for this user' },
      },
    ]);
    expect(runtime.activeRuns()).toBe(1);

    routeFrame(alice, { type: 'cancel', id: 'c1', data: { run_id: runId } }, ctx);
    expect((await framesOf(alice, 2))[1]).toEqual({ type: 'ack', id: 'c1', data: { run_id: runId } });
    await expect.poll(() => runtime.activeRuns()).toBe(0);
  });
});
