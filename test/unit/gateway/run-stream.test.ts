import type { RunSnapshot } from '@agentcast/client';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import {
  type RunFollower,
  type RunStreamEnd,
  RunStreams,
} from '../../../packages/server/src/gateway/run-stream.js';
import type { NewEvent, StoredEvent } from '../../../packages/server/src/protocol/events.js';

const started = (runId: string): NewEvent => ({
  type: 'agent_started',
  run_id: runId,
  data: { agent_name: 'demo', task_description: 'task' },
});
const chunk = (runId: string, text: string): NewEvent => ({
  type: 'stream_chunk',
  run_id: runId,
  data: { text },
});
const completed = (runId: string): NewEvent => ({
  type: 'agent_completed',
  run_id: runId,
  data: { status: 'succeeded', final_response: null },
});

/** A sink that records what it was given and resolves once it ended. */
function recorder() {
  const snapshots: { snapshot: RunSnapshot; reason: string }[] = [];
  const events: StoredEvent[] = [];
  const ends: RunStreamEnd[] = [];
  let resolveEnd: (reason: RunStreamEnd) => void = () => undefined;
  const ended = new Promise<RunStreamEnd>((resolve) => {
    resolveEnd = resolve;
  });
  return {
    snapshots,
    events,
    ends,
    ended,
    /** The run's text as the sink's owner would rebuild it: snapshot text, then each later chunk. */
    text: () =>
      (snapshots.at(-1)?.snapshot.text ?? '') +
      events.map((e) => (e.type === 'stream_chunk' ? String(e.data.text) : '')).join(''),
    sink: {
      snapshot: (snapshot: RunSnapshot, reason: 'start' | 'reset') => snapshots.push({ snapshot, reason }),
      event: (event: StoredEvent) => events.push(event),
      end: (reason: RunStreamEnd) => {
        ends.push(reason);
        resolveEnd(reason);
      },
    },
  };
}

describe('RunStreams: one run of a user, exactly once, from its start or after a position', () => {
  let engine: MemoryEngine;
  let streams: RunStreams;
  const followers: RunFollower[] = [];

  const setup = (historySize = 1000) => {
    engine = new MemoryEngine();
    streams = new RunStreams({ engine, historySize });
  };
  const subscribe = async (userId: string) => {
    const follower = await streams.subscribe(userId);
    followers.push(follower);
    return follower;
  };

  afterEach(async () => {
    for (const f of followers.splice(0)) f.close();
    await engine?.close();
  });

  it('a run just started (pending) is given event by event, only its own, and ends after agent_completed', async () => {
    setup();
    const follower = await subscribe('u1');
    const rec = recorder();
    const follow = await follower.follow('r1', { kind: 'start' }, rec.sink, { pending: true });
    expect(follow.ok).toBe(true);
    await engine.append('u1', started('r1'));
    await engine.append('u1', started('r2'));
    await engine.append('u1', chunk('r1', 'a'));
    await engine.append('u1', chunk('r2', 'x'));
    await engine.append('u1', chunk('r1', 'b'));
    await engine.append('u1', completed('r1'));
    await engine.append('u1', chunk('r2', 'y'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots).toEqual([]);
    expect(rec.events.map((e) => e.type)).toEqual([
      'agent_started',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(rec.text()).toBe('ab');
    expect(rec.ends).toEqual(['ended']);
    expect(streams.size).toBe(0);
  });

  it('mid-run: the snapshot so far, then only the later events', async () => {
    setup();
    await engine.append('u1', started('r1'));
    await engine.append('u1', chunk('r1', 'Hello, '));
    const rec = recorder();
    const follow = await (await subscribe('u1')).follow('r1', { kind: 'start' }, rec.sink);
    expect(follow.ok).toBe(true);
    await engine.append('u1', chunk('r1', 'world'));
    await engine.append('u1', completed('r1'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots.map((s) => [s.reason, s.snapshot.text])).toEqual([['start', 'Hello, ']]);
    expect(rec.text()).toBe('Hello, world');
  });

  it('a run already over: its terminal snapshot, then the end, and nothing held', async () => {
    setup();
    await engine.append('u1', started('r1'));
    await engine.append('u1', chunk('r1', 'done'));
    await engine.append('u1', completed('r1'));
    const rec = recorder();
    await (await subscribe('u1')).follow('r1', { kind: 'start' }, rec.sink);
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots[0]?.snapshot.status).toBe('succeeded');
    expect(rec.events).toEqual([]);
    expect(streams.size).toBe(0);
  });

  it("an unknown run and another user's run are NOT_FOUND, and leave the stream", async () => {
    setup();
    await engine.append('u2', started('r9'));
    for (const from of [{ kind: 'start' } as const, { kind: 'after', epoch: 'e', seq: 0 } as const]) {
      for (const runId of ['nope', 'r9']) {
        const rec = recorder();
        expect(await (await subscribe('u1')).follow(runId, from, rec.sink)).toEqual({
          ok: false,
          code: 'NOT_FOUND',
        });
        expect(rec.ends).toEqual([]);
      }
    }
    expect(streams.size).toBe(0);
  });

  it('a follower follows one run: a second follow is refused', async () => {
    setup();
    await engine.append('u1', started('r1'));
    const follower = await subscribe('u1');
    expect((await follower.follow('r1', { kind: 'start' }, recorder().sink)).ok).toBe(true);
    expect(await follower.follow('r1', { kind: 'start' }, recorder().sink)).toEqual({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('after a position: the run’s events after it from history, then live', async () => {
    setup();
    const first = await engine.append('u1', started('r1'));
    await engine.append('u1', chunk('r1', 'a'));
    await engine.append('u1', chunk('r2', 'other'));
    await engine.append('u1', chunk('r1', 'b'));
    const rec = recorder();
    const from = { kind: 'after', epoch: first.epoch, seq: first.seq } as const;
    await (await subscribe('u1')).follow('r1', from, rec.sink);
    await engine.append('u1', chunk('r1', 'c'));
    await engine.append('u1', completed('r1'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots).toEqual([]);
    expect(rec.text()).toBe('abc');
    expect(rec.events.every((e) => e.run_id === 'r1' && e.seq > first.seq)).toBe(true);
  });

  it('after a position of another epoch: the snapshot, marked reset, then live', async () => {
    setup();
    await engine.append('u1', started('r1'));
    await engine.append('u1', chunk('r1', 'a'));
    const rec = recorder();
    await (await subscribe('u1')).follow('r1', { kind: 'after', epoch: 'e_gone', seq: 1 }, rec.sink);
    await engine.append('u1', chunk('r1', 'b'));
    await engine.append('u1', completed('r1'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots.map((s) => s.reason)).toEqual(['reset']);
    expect(rec.text()).toBe('ab');
  });

  it('from the first event: every event of the run from history, however late, then live; NOT_FOUND unknown', async () => {
    setup();
    const first = await engine.append('u1', started('r1'));
    await engine.append('u1', chunk('r2', 'other'));
    await engine.append('u1', chunk('r1', 'a'));
    expect((await engine.runSnapshot('u1', 'r1'))?.first_seq).toBe(first.seq);
    const rec = recorder();
    await (await subscribe('u1')).follow('r1', { kind: 'first' }, rec.sink);
    await engine.append('u1', chunk('r1', 'b'));
    await engine.append('u1', completed('r1'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots).toEqual([]);
    expect(rec.events.map((e) => e.type)).toEqual([
      'agent_started',
      'stream_chunk',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(rec.events[0]?.seq).toBe(first.seq);
    expect(await (await subscribe('u1')).follow('nope', { kind: 'first' }, recorder().sink)).toEqual({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('from the first event once history lost it (or a snapshot without first_seq): the snapshot, marked reset', async () => {
    engine = new MemoryEngine({ historySize: 2 });
    streams = new RunStreams({ engine, historySize: 2 });
    await engine.append('u1', started('r1'));
    for (const text of ['a', 'b', 'c']) await engine.append('u1', chunk('r1', text));
    const rec = recorder();
    await (await subscribe('u1')).follow('r1', { kind: 'first' }, rec.sink);
    await engine.append('u1', completed('r1'));
    expect(await rec.ended).toBe('ended');
    expect(rec.snapshots.map((s) => s.reason)).toEqual(['reset']);
    expect(rec.text()).toBe('abc');
    // A snapshot stored before first_seq existed (or whose run spans epochs) cannot be read from its start.
    const old = new RunStreams({
      engine: {
        subscribe: (u, l) => engine.subscribe(u, l),
        head: (u) => engine.head(u),
        history: (u, q) => engine.history(u, q),
        runSnapshots: (u, q) => engine.runSnapshots(u, q),
        runSnapshot: async (u, r) => {
          const { first_seq: _, ...snapshot } = (await engine.runSnapshot(u, r)) as RunSnapshot;
          return snapshot;
        },
      },
      historySize: 1000,
    });
    const again = recorder();
    const follower = await old.subscribe('u1');
    followers.push(follower);
    await follower.follow('r1', { kind: 'first' }, again.sink);
    expect(await again.ended).toBe('ended');
    expect(again.snapshots.map((s) => s.reason)).toEqual(['reset']);
  });

  it('after the run’s end: ended at once, nothing given', async () => {
    setup();
    await engine.append('u1', started('r1'));
    const last = await engine.append('u1', completed('r1'));
    const rec = recorder();
    await (await subscribe('u1')).follow('r1', { kind: 'after', epoch: last.epoch, seq: last.seq }, rec.sink);
    expect(await rec.ended).toBe('ended');
    expect(rec.events).toEqual([]);
  });

  it('close() ends with closed once; closeAll() ends every follow', async () => {
    setup();
    await engine.append('u1', started('r1'));
    const a = recorder();
    const b = recorder();
    const follow = await (await subscribe('u1')).follow('r1', { kind: 'start' }, a.sink);
    await (await subscribe('u1')).follow('r1', { kind: 'start' }, b.sink);
    if (!follow.ok) throw new Error('expected ok');
    follow.close();
    follow.close();
    expect(a.ends).toEqual(['closed']);
    streams.closeAll();
    expect(b.ends).toEqual(['closed']);
    expect(streams.size).toBe(0);
    await engine.append('u1', chunk('r1', 'late'));
    expect(a.events.length + b.events.length).toBe(0);
  });

  it('more live events than history_size held while reading: lost, so the client resumes', async () => {
    setup(2);
    await engine.append('u1', started('r1'));
    const follower = await subscribe('u1');
    for (let i = 0; i < 3; i++) await engine.append('u1', chunk('r1', String(i)));
    const rec = recorder();
    await follower.follow('r1', { kind: 'start' }, rec.sink);
    expect(await rec.ended).toBe('lost');
  });

  it('the engine failing during the read: UNAVAILABLE', async () => {
    setup();
    const follower = await subscribe('u1');
    engine.runSnapshot = () => Promise.reject(new Error('down'));
    expect(await follower.follow('r1', { kind: 'start' }, recorder().sink)).toEqual({
      ok: false,
      code: 'UNAVAILABLE',
    });
    expect(streams.size).toBe(0);
  });

  it('activeRunOfThread: the running run of a thread, none once it ended', async () => {
    setup();
    await engine.append('u1', {
      ...started('r1'),
      data: { agent_name: 'demo', task_description: 't', thread_id: 't1' },
    });
    expect((await streams.activeRunOfThread('u1', 't1'))?.run_id).toBe('r1');
    expect(await streams.activeRunOfThread('u2', 't1')).toBeUndefined();
    await engine.append('u1', completed('r1'));
    expect(await streams.activeRunOfThread('u1', 't1')).toBeUndefined();
  });

  it('property: whenever the follow starts, snapshot text + later chunks = the whole answer, once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.string({ minLength: 1, maxLength: 3 })), { maxLength: 12 }),
        fc.nat(14),
        fc.boolean(),
        async (steps, followAt, byPosition) => {
          setup();
          const run = recorder();
          let expected = '';
          let follower: RunFollower | undefined;
          let position = { epoch: '', seq: 0 };
          const all: NewEvent[] = [
            started('r1'),
            ...steps.map(([mine, text]) => chunk(mine ? 'r1' : 'r2', text)),
            completed('r1'),
          ];
          for (const [i, event] of all.entries()) {
            if (i === followAt) {
              follower = await streams.subscribe('u1');
              const from =
                byPosition && i > 0
                  ? ({ kind: 'after', ...position } as const)
                  : ({ kind: 'start' } as const);
              await follower.follow('r1', from, run.sink, { pending: true });
              if (byPosition && i > 0) expected = '';
            }
            const stored = await engine.append('u1', event);
            if (event.type === 'stream_chunk' && event.run_id === 'r1') expected += String(event.data.text);
            if (follower === undefined) position = { epoch: stored.epoch, seq: stored.seq };
          }
          if (follower === undefined) {
            follower = await streams.subscribe('u1');
            await follower.follow('r1', { kind: 'start' }, run.sink);
          }
          expect(await run.ended).toBe('ended');
          expect(run.text()).toBe(expected);
          const seqs = run.events.map((e) => e.seq);
          expect(new Set(seqs).size).toBe(seqs.length);
          await engine.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
