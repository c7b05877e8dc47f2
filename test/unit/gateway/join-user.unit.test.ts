import type { ResumeOutcome } from '@agentcast/client';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  CatchUp,
  Engine,
  EventListener,
  HistoryQuery,
  HistoryResult,
  LogHead,
  Unsubscribe,
} from '../../../packages/server/src/engine/engine.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import type { CatchUpQuery } from '../../../packages/server/src/engine/run-snapshot.js';
import { type JoinContext, joinUser } from '../../../packages/server/src/gateway/join-user.js';
import type { Session } from '../../../packages/server/src/gateway/session.js';
import { UserHub } from '../../../packages/server/src/gateway/user-hub.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { FakeSession, type SentFrame } from '../../helpers/fake-session.js';
import { metricValue } from '../../helpers/metric-value.js';

/**
 * joinUser (docs/protocol.md §2, §4) without a socket: a FakeSession joins a real UserHub over a real
 * MemoryEngine; the engine's head and history reads go through a recorder that can reset a page or run
 * a step (a publish, a close) at an exact read. The socket-level tests are join-user.gaps.test.ts.
 */

type Read = 'head' | 'history' | 'catch_up';

/** The reads joinUser makes, recorded, with a hook before each and an optional reset from the n-th history read. */
class RecordedReads implements Pick<Engine, 'head' | 'history' | 'catchUp'> {
  readonly reads: Read[] = [];
  /** Runs before the read goes to the engine; `n` counts reads of that kind from 1. */
  before: ((read: Read, n: number) => Promise<void> | void) | undefined;
  resetFromHistoryRead = Number.POSITIVE_INFINITY;

  constructor(readonly inner: Engine) {}

  async head(userId: string): Promise<LogHead> {
    await this.#record('head');
    return this.inner.head(userId);
  }

  async history(userId: string, query: HistoryQuery): Promise<HistoryResult> {
    const n = await this.#record('history');
    const result = await this.inner.history(userId, query);
    return n >= this.resetFromHistoryRead ? { kind: 'reset', head: result.head, reason: 'expired' } : result;
  }

  async catchUp(userId: string, query: CatchUpQuery): Promise<CatchUp> {
    await this.#record('catch_up');
    return this.inner.catchUp(userId, query);
  }

  async #record(read: Read): Promise<number> {
    this.reads.push(read);
    const n = this.reads.filter((r) => r === read).length;
    await this.before?.(read, n);
    return n;
  }
}

/** A MemoryEngine whose subscribe fails. */
class FailingSubscribeEngine extends DelegatingEngine {
  override subscribe(_userId: string, _listener: EventListener): Promise<Unsubscribe> {
    return Promise.reject(new Error('subscribe failed'));
  }
}

const CONFIG = { serverId: 's_test', heartbeatMs: 25_000 } as const;

describe('joinUser', () => {
  let engine: Engine;
  afterEach(async () => {
    await engine.close();
  });

  function setup(options: { historySize?: number; engine?: Engine } = {}) {
    engine = options.engine ?? new MemoryEngine();
    const metrics = new Metrics();
    const hub = new UserHub<Session>({ engine, log: silentLogger(), metrics, now: Date.now });
    const reads = new RecordedReads(engine);
    const ctx: JoinContext = {
      engine: reads,
      hub,
      config: { ...CONFIG, historySize: options.historySize ?? 1000 },
      metrics,
    };
    const session = new FakeSession({ userId: 'u1', id: 'c_1' });
    const publish = async (count: number): Promise<void> => {
      for (let n = 0; n < count; n++) await engine.append('u1', { type: 'notification', data: { n } });
    };
    const delivered = () => metricValue(metrics, 'agentcast_events_delivered_total');
    return { ctx, hub, reads, session, publish, delivered };
  }

  function welcome(head: LogHead, resume: ResumeOutcome): SentFrame {
    return {
      type: 'welcome',
      data: {
        connection_id: 'c_1',
        user_id: 'u1',
        server_id: 's_test',
        epoch: head.epoch,
        seq: head.seq,
        heartbeat_ms: 25_000,
        resume,
      },
    };
  }

  const seqsAfterWelcome = (session: FakeSession) => session.frames.slice(1).map((f) => f.seq);

  describe('resume none', () => {
    it.each([
      ['no since', {}],
      ['an epoch without since', { epoch: 'e_whatever' }],
    ])('with %s: joins the hub, welcomes at the head and reads no history', async (_name, request) => {
      const { ctx, hub, reads, session, publish, delivered } = setup();
      await publish(3);
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, request);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 3, complete: true });
      expect(session.frames).toEqual([welcome(head, 'none')]);
      expect(reads.reads).toEqual(['head']);
      expect(hub.membersOf('u1')).toEqual([session]);
      expect(await delivered()).toBe(0);
    });
  });

  describe('resume ok', () => {
    it('welcomes with ok, then writes every event after since in order and counts them', async () => {
      const { ctx, session, publish, delivered } = setup();
      await publish(3);
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, { since: 1, epoch: head.epoch });
      expect(session.frames[0]).toEqual(welcome(head, 'ok'));
      expect(session.frames.slice(1)).toMatchObject([
        { type: 'notification', seq: 2, data: { n: 1 } },
        { type: 'notification', seq: 3, data: { n: 2 } },
      ]);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 3, complete: true });
      expect(await delivered()).toBe(2);
    });

    it('at the head: welcomes with ok and writes nothing else', async () => {
      const { ctx, session, publish } = setup();
      await publish(3);
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, { since: 3, epoch: head.epoch });
      expect(session.frames).toEqual([welcome(head, 'ok')]);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 3, complete: true });
    });

    it('since 0 of a user without events: ok at seq 0', async () => {
      const { ctx, session } = setup();
      const head = await engine.head('u1');
      expect(await joinUser(session, ctx, { since: 0 })).toEqual({
        epoch: head.epoch,
        lastSentSeq: 0,
        complete: true,
      });
      expect(session.frames).toEqual([welcome({ epoch: head.epoch, seq: 0 }, 'ok')]);
    });

    it('reads a history longer than history_size page by page and writes it whole, in order', async () => {
      const { ctx, reads, session, publish, delivered } = setup({ historySize: 2 });
      await publish(5);
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, { since: 0, epoch: head.epoch });
      expect(session.frames[0]).toEqual(welcome(head, 'ok'));
      expect(seqsAfterWelcome(session)).toEqual([1, 2, 3, 4, 5]);
      expect(reads.reads).toEqual(['history', 'history', 'history']);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 5, complete: true });
      expect(await delivered()).toBe(5);
    });

    it('subscribes before reading history: an event published meanwhile is delivered live and is in the replay', async () => {
      const { ctx, hub, reads, session, publish } = setup();
      await publish(3);
      const head = await engine.head('u1');
      reads.before = async () => {
        expect(hub.membersOf('u1')).toEqual([session]);
        await publish(1);
      };
      const position = await joinUser(session, ctx, { since: 1, epoch: head.epoch });
      expect(session.delivered.map((e) => e.seq)).toEqual([4]);
      expect(seqsAfterWelcome(session)).toEqual([2, 3, 4]);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 4, complete: true });
    });
  });

  describe('catch-up (docs/protocol.md F)', () => {
    const run = (runId: string, text: string) => [
      { type: 'agent_started', run_id: runId, data: { agent_name: 'demo', task_description: 't' } },
      { type: 'stream_chunk', run_id: runId, data: { text } },
    ];

    it('without since: welcomes with snapshot at the head, then one run_snapshot per active run', async () => {
      const { ctx, reads, session } = setup();
      for (const e of [...run('r1', 'one'), ...run('r2', 'two')]) await engine.append('u1', e);
      await engine.append('u1', {
        type: 'agent_completed',
        run_id: 'r1',
        data: { status: 'succeeded', final_response: 'one' },
      });
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, { catchUp: 'snapshot' });
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 5, complete: true });
      expect(reads.reads).toEqual(['catch_up']);
      expect(session.frames).toEqual([
        welcome(head, 'snapshot'),
        { type: 'run_snapshot', run_id: 'r2', data: await engine.runSnapshot('u1', 'r2') },
      ]);
      expect(session.frames[1]).toMatchObject({ data: { text: 'two', last_seq: 4, status: 'running' } });
    });

    it('an event stored between the subscription and the read is in the snapshot and not after it', async () => {
      const { ctx, hub, reads, session } = setup();
      for (const e of run('r1', 'a')) await engine.append('u1', e);
      reads.before = async () => {
        expect(hub.membersOf('u1')).toEqual([session]);
        await engine.append('u1', { type: 'stream_chunk', run_id: 'r1', data: { text: 'b' } });
      };
      const position = await joinUser(session, ctx, { catchUp: 'snapshot' });
      expect(session.delivered.map((e) => e.seq)).toEqual([3]); // held by the connection's buffer
      expect(position?.lastSentSeq).toBe(3); // so the buffer drops it
      expect(session.frames[1]).toMatchObject({ type: 'run_snapshot', data: { text: 'ab', last_seq: 3 } });
    });

    it('a since that would be reset gets the snapshots instead, with the runs after since', async () => {
      const { ctx, reads, session } = setup({ historySize: 2 });
      for (const e of run('r1', 'x')) await engine.append('u1', e);
      await engine.append('u1', {
        type: 'agent_completed',
        run_id: 'r1',
        data: { status: 'succeeded', final_response: 'x' },
      });
      const head = await engine.head('u1');
      reads.resetFromHistoryRead = 1;
      await joinUser(session, ctx, { since: 1, epoch: head.epoch, catchUp: 'snapshot' });
      expect(reads.reads).toEqual(['history', 'catch_up']);
      expect(session.frames).toEqual([
        welcome(head, 'snapshot'),
        { type: 'run_snapshot', run_id: 'r1', data: await engine.runSnapshot('u1', 'r1') },
      ]);
    });

    it('a since history can serve is replayed as without catch-up', async () => {
      const { ctx, reads, session, publish } = setup();
      await publish(3);
      const head = await engine.head('u1');
      await joinUser(session, ctx, { since: 2, epoch: head.epoch, catchUp: 'snapshot' });
      expect(reads.reads).toEqual(['history']);
      expect(session.frames[0]).toEqual(welcome(head, 'ok'));
      expect(seqsAfterWelcome(session)).toEqual([3]);
    });

    it('catch_up none is no catch-up', async () => {
      const { ctx, reads, session } = setup();
      const head = await engine.head('u1');
      await joinUser(session, ctx, { catchUp: 'none' });
      expect(reads.reads).toEqual(['head']);
      expect(session.frames).toEqual([welcome(head, 'none')]);
    });
  });

  describe('resume reset', () => {
    it.each([
      ['an epoch that is not the current one', (_epoch: string) => ({ since: 1, epoch: 'e_gone' })],
      ['a since beyond the head', (epoch: string) => ({ since: 9, epoch })],
      ['a since > 0 without an epoch', (_epoch: string) => ({ since: 1 })],
    ])('for %s: welcomes with reset at the head and replays nothing', async (_name, request) => {
      const { ctx, reads, session, publish, delivered } = setup();
      await publish(3);
      const head = await engine.head('u1');
      const position = await joinUser(session, ctx, request(head.epoch));
      expect(session.frames).toEqual([welcome(head, 'reset')]);
      expect(position).toEqual({ epoch: head.epoch, lastSentSeq: 3, complete: true });
      expect(reads.reads).toEqual(['history']);
      expect(await delivered()).toBe(0);
      expect(session.isClosed()).toBe(false);
    });

    it('closes with 1011 when the history resets between two pages, having written only the first page', async () => {
      const { ctx, reads, session, publish } = setup({ historySize: 2 });
      await publish(5);
      const head = await engine.head('u1');
      reads.resetFromHistoryRead = 2;
      expect(await joinUser(session, ctx, { since: 0, epoch: head.epoch })).toBeNull();
      expect(session.closedWith).toEqual({
        code: CloseCode.InternalError,
        reason: CloseReason.HistoryChanged,
      });
      expect(session.frames[0]).toEqual(welcome(head, 'ok'));
      expect(seqsAfterWelcome(session)).toEqual([1, 2]);
      expect(reads.reads).toEqual(['history', 'history']);
    });
  });

  describe('a connection that closes midway', () => {
    const goodbye = { code: CloseCode.ServiceRestart, reason: 'test' } as const;

    it('while subscribing: no welcome and no read', async () => {
      const { ctx, hub, reads, session, publish } = setup();
      await publish(3);
      const closing: JoinContext = {
        ...ctx,
        hub: {
          async join(member) {
            await hub.join(member);
            session.close(goodbye.code, goodbye.reason);
          },
        },
      };
      expect(await joinUser(session, closing, { since: 0 })).toBeNull();
      expect(session.frames).toEqual([]);
      expect(reads.reads).toEqual([]);
    });

    it.each([
      ['reading the head', {}, ['head']],
      ['reading the first history page', { since: 0 }, ['history']],
    ] as const)('while %s: no welcome and nothing more read', async (_name, request, expected) => {
      const { ctx, reads, session, publish } = setup();
      await publish(3);
      reads.before = () => session.close(goodbye.code, goodbye.reason);
      expect(await joinUser(session, ctx, request)).toBeNull();
      expect(session.frames).toEqual([]);
      expect(reads.reads).toEqual(expected);
      expect(session.closedWith).toEqual(goodbye);
    });

    it('while reading a later page: reads no page after it and keeps its own close', async () => {
      const { ctx, reads, session, publish } = setup({ historySize: 2 });
      await publish(5);
      const head = await engine.head('u1');
      reads.before = (_read, n) => {
        if (n === 2) session.close(goodbye.code, goodbye.reason);
      };
      await joinUser(session, ctx, { since: 0, epoch: head.epoch });
      expect(reads.reads).toEqual(['history', 'history']);
      expect(seqsAfterWelcome(session)).toEqual([1, 2]);
      expect(session.closedWith).toEqual(goodbye);
    });
  });

  it('rejects with the engine error when the subscription fails, having written nothing', async () => {
    const { ctx, hub, reads, session } = setup({ engine: new FailingSubscribeEngine(new MemoryEngine()) });
    await expect(joinUser(session, ctx, {})).rejects.toThrow('subscribe failed');
    expect(session.frames).toEqual([]);
    expect(reads.reads).toEqual([]);
    expect(hub.memberCount).toBe(0);
  });
});
