import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../../packages/client/src/agent-event.js';
import type { RunSnapshot } from '../../../packages/client/src/protocol/wire.js';
import { foldRunEvent, MAX_RUNS, type RunState, RunStates } from '../../../packages/client/src/run-state.js';
import {
  applySnapshotPatch,
  SnapshotState,
  snapshotFromRecord,
  snapshotPatch,
} from '../../../packages/server/src/engine/run-snapshot.js';
import type { NewEvent } from '../../../packages/server/src/protocol/events.js';

type RunEvent = AgentEvent & { readonly run_id: string };

const TS = (seq: number) => `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`;

function ev(seq: number, type: string, data: Record<string, unknown> = {}, epoch = 'e1'): RunEvent {
  return { type, seq, epoch, ts: TS(seq), run_id: 'r1', data };
}

const fold = (events: readonly RunEvent[], start?: RunState): RunState | undefined =>
  events.reduce<RunState | undefined>((run, e) => foldRunEvent(run, e), start);

/** The gateway's fold (packages/server/src/engine/run-snapshot.ts), the reference the client must match. */
function serverFold(events: readonly RunEvent[], maxBytes = 1 << 20): RunSnapshot {
  const first = events[0] as RunEvent;
  const state = new SnapshotState(first.ts, 0);
  for (const e of events) {
    const patch = snapshotPatch({ type: e.type, run_id: e.run_id, data: e.data } as NewEvent);
    applySnapshotPatch(state, patch, e.seq, e.epoch, e.ts, maxBytes);
  }
  return snapshotFromRecord(first.run_id, state.record);
}

const started = ev(1, 'agent_started', { agent_name: 'demo', task_description: 'Hi', thread_id: 't1' });

describe('foldRunEvent (docs/protocol.md F, the fold table)', () => {
  it('starts a run first seen by its events at the first event: running, started_at its ts, first_seq its seq', () => {
    const run = foldRunEvent(undefined, ev(7, 'stream_chunk', { text: 'a' }));
    expect(run).toEqual({
      run_id: 'r1',
      status: 'running',
      started_at: TS(7),
      text: 'a',
      reasoning: '',
      tools: [],
      approvals: [],
      first_seq: 7,
      last_seq: 7,
      epoch: 'e1',
      truncated: false,
    });
    // An event of another epoch: the run's start is no longer a seq of its epoch (as the gateway folds it).
    expect(foldRunEvent(run, ev(1, 'stream_chunk', { text: 'b' }, 'e2'))).not.toHaveProperty('first_seq');
  });

  it('takes agent, task and thread_id from agent_started (thread_id only when a string)', () => {
    expect(foldRunEvent(undefined, started)).toMatchObject({ agent: 'demo', task: 'Hi', thread_id: 't1' });
    const noThread = foldRunEvent(
      undefined,
      ev(1, 'agent_started', { agent_name: 'a', task_description: 't', thread_id: 3 }),
    );
    expect(noThread).not.toHaveProperty('thread_id');
  });

  it('concatenates stream_chunk text and agent_thinking reasoning in order', () => {
    const run = fold([
      started,
      ev(2, 'agent_thinking', { reasoning: 'Plan: ' }),
      ev(3, 'stream_chunk', { text: '6 * 7' }),
      ev(4, 'agent_thinking', { reasoning: 'add' }),
      ev(5, 'stream_chunk', { text: ' = 42' }),
    ]);
    expect(run).toMatchObject({ text: '6 * 7 = 42', reasoning: 'Plan: add', last_seq: 5 });
  });

  it('adds a tool per tool_executing and completes it with its tool_completed, in start order', () => {
    const run = fold([
      started,
      ev(2, 'tool_executing', { execution_id: 'x1', tool_name: 'calc', tool_args: { e: '6*7' } }),
      ev(3, 'tool_executing', { execution_id: 'x2', tool_name: 'web', tool_args: {} }),
      ev(4, 'tool_completed', {
        execution_id: 'x1',
        tool_name: 'calc',
        success: true,
        results: { value: 42 },
        duration_ms: 3,
      }),
    ]);
    expect(run?.tools).toEqual([
      {
        execution_id: 'x1',
        tool_name: 'calc',
        tool_args: { e: '6*7' },
        success: true,
        results: { value: 42 },
        duration_ms: 3,
      },
      { execution_id: 'x2', tool_name: 'web', tool_args: {} },
    ]);
  });

  it('keeps the first tool_executing of an execution_id, and adds a lone tool_completed with args {}', () => {
    const run = fold([
      ev(1, 'tool_executing', { execution_id: 'x1', tool_name: 'a', tool_args: { n: 1 } }),
      ev(2, 'tool_executing', { execution_id: 'x1', tool_name: 'b', tool_args: { n: 2 } }),
      ev(3, 'tool_completed', {
        execution_id: 'x9',
        tool_name: 'c',
        success: false,
        results: null,
        duration_ms: 0,
      }),
    ]);
    expect(run?.tools).toEqual([
      { execution_id: 'x1', tool_name: 'a', tool_args: { n: 1 } },
      { execution_id: 'x9', tool_name: 'c', tool_args: {}, success: false, results: null, duration_ms: 0 },
    ]);
  });

  it('ends the run with agent_completed: status, ended_at, final_response and error', () => {
    const failed = fold([
      started,
      ev(2, 'agent_completed', {
        status: 'failed',
        final_response: null,
        error: { code: 'AGENT_ERROR', message: 'boom' },
      }),
    ]);
    expect(failed).toMatchObject({
      status: 'failed',
      ended_at: TS(2),
      final_response: null,
      error: { code: 'AGENT_ERROR', message: 'boom' },
    });
    const ok = fold([started, ev(2, 'agent_completed', { status: 'succeeded', final_response: '42' })]);
    expect(ok).toMatchObject({ status: 'succeeded', final_response: '42' });
    expect(ok).not.toHaveProperty('error');
  });

  it('moves only last_seq for other types and for an agent_completed with an unknown status', () => {
    const run = fold([
      started,
      ev(2, 'notification', { text: 'x' }),
      ev(3, 'agent_completed', { status: 'odd' }),
    ]);
    expect(run).toMatchObject({ status: 'running', text: '', last_seq: 3 });
    expect(run).not.toHaveProperty('ended_at');
    expect(run).not.toHaveProperty('final_response');
  });

  it('ignores an event with seq <= last_seq of the same epoch, returning the same object', () => {
    const run = fold([started, ev(2, 'stream_chunk', { text: 'a' })]) as RunState;
    expect(foldRunEvent(run, ev(2, 'stream_chunk', { text: 'a' }))).toBe(run);
    expect(foldRunEvent(run, ev(1, 'stream_chunk', { text: 'b' }))).toBe(run);
  });

  it('folds an event of another epoch whatever its seq (seqs of two epochs are unrelated)', () => {
    const run = fold([started, ev(9, 'stream_chunk', { text: 'a' })]) as RunState;
    expect(foldRunEvent(run, ev(1, 'stream_chunk', { text: 'b' }, 'e2'))).toMatchObject({
      text: 'ab',
      last_seq: 1,
      epoch: 'e2',
    });
  });

  it('never changes the run it is given', () => {
    const run = fold([
      started,
      ev(2, 'tool_executing', { execution_id: 'x', tool_name: 't', tool_args: {} }),
    ]);
    const frozen = structuredClone(run);
    fold(
      [
        ev(3, 'stream_chunk', { text: 'z' }),
        ev(4, 'tool_completed', {
          execution_id: 'x',
          tool_name: 't',
          success: true,
          results: 1,
          duration_ms: 1,
        }),
      ],
      run,
    );
    expect(run).toEqual(frozen);
  });

  it('waits while an approval is pending and keeps every question with its answer (docs/protocol.md G)', () => {
    const asked = {
      approval_id: 'a1',
      tool_name: 'pay',
      tool_args: { amount: 5 },
      message: 'Pay 5?',
      expires_at: '2026-01-01T00:05:00.000Z',
    };
    const waiting = fold([started, ev(2, 'approval_requested', asked)]);
    expect(waiting).toMatchObject({ status: 'waiting', approvals: [asked] });
    const answered = fold(
      [ev(3, 'approval_resolved', { approval_id: 'a1', decision: 'denied', reason: 'no', by: 'user' })],
      waiting,
    );
    expect(answered).toMatchObject({
      status: 'running',
      approvals: [{ ...asked, decision: 'denied', reason: 'no', by: 'user' }],
    });
    // An answer to a question never asked changes only the status and last_seq.
    const stray = fold(
      [ev(4, 'approval_resolved', { approval_id: 'zz', decision: 'expired', by: 'timeout' })],
      answered,
    );
    expect(stray?.approvals).toBe(answered?.approvals);
  });

  it('never changes the status of an ended run (an answer stored after the end)', () => {
    const ended = fold([started, ev(2, 'agent_completed', { status: 'cancelled', final_response: null })]);
    const after = fold(
      [ev(3, 'approval_resolved', { approval_id: 'a1', decision: 'cancelled', by: 'run' })],
      ended,
    );
    expect(after).toMatchObject({ status: 'cancelled', ended_at: TS(2), last_seq: 3 });
    expect(after).toEqual(
      serverFold([
        started,
        ev(2, 'agent_completed', { status: 'cancelled', final_response: null }),
        ev(3, 'approval_resolved', { approval_id: 'a1', decision: 'cancelled', by: 'run' }),
      ]),
    );
  });

  it('keeps text, reasoning and tools of a truncated snapshot, and status, ended_at, last_seq exact', () => {
    const snapshot: RunSnapshot = { ...(fold([started]) as RunState), text: 'ab', truncated: true };
    const run = fold(
      [
        ev(2, 'stream_chunk', { text: 'c' }),
        ev(3, 'agent_thinking', { reasoning: 'r' }),
        ev(4, 'tool_executing', { execution_id: 'x', tool_name: 't', tool_args: {} }),
        ev(5, 'agent_completed', { status: 'succeeded', final_response: 'abc' }),
      ],
      snapshot,
    );
    expect(run).toMatchObject({ text: 'ab', reasoning: '', tools: [], status: 'succeeded', last_seq: 5 });
    expect(run).toMatchObject({ ended_at: TS(5), truncated: true });
    expect(run).not.toHaveProperty('final_response');
  });
});

/** Random well-formed runs: golden-path events after an agent_started, maybe ended, seqs 1..n. */
const runEvents = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 6 }).map((text) => ['stream_chunk', { text }] as const),
      fc.string({ maxLength: 6 }).map((reasoning) => ['agent_thinking', { reasoning }] as const),
      fc
        .record({ id: fc.constantFrom('x1', 'x2', 'x3'), name: fc.constantFrom('a', 'b'), n: fc.nat(9) })
        .map(
          ({ id, name, n }) =>
            ['tool_executing', { execution_id: id, tool_name: name, tool_args: { n } }] as const,
        ),
      fc
        .record({ id: fc.constantFrom('x1', 'x2', 'x4'), ok: fc.boolean(), ms: fc.nat(50) })
        .map(
          ({ id, ok, ms }) =>
            [
              'tool_completed',
              { execution_id: id, tool_name: 'z', success: ok, results: ok ? { ms } : null, duration_ms: ms },
            ] as const,
        ),
      fc.constant(['notification', { note: 1 }] as const),
      fc.record({ id: fc.constantFrom('a1', 'a2'), n: fc.nat(9) }).map(
        ({ id, n }) =>
          [
            'approval_requested',
            {
              approval_id: id,
              tool_name: 'pay',
              tool_args: { n },
              message: `ok ${n}?`,
              expires_at: '2026-01-01T00:05:00.000Z',
            },
          ] as const,
      ),
      fc
        .record({
          id: fc.constantFrom('a1', 'a2', 'a3'),
          decision: fc.constantFrom('approved', 'denied', 'expired', 'cancelled'),
          reason: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
          by: fc.constantFrom('user', 'timeout', 'run'),
        })
        .map(
          ({ id, decision, reason, by }) =>
            [
              'approval_resolved',
              { approval_id: id, decision, by, ...(reason === undefined ? {} : { reason }) },
            ] as const,
        ),
    ),
    { maxLength: 30 },
  )
  .chain((middle) =>
    fc
      .option(
        fc.constantFrom(
          ['agent_completed', { status: 'succeeded', final_response: 'done' }] as const,
          [
            'agent_completed',
            { status: 'cancelled', final_response: null, error: { code: 'CANCELLED', message: 'x' } },
          ] as const,
        ),
      )
      .map((end) => {
        const types = [
          ['agent_started', { agent_name: 'demo', task_description: 'q', thread_id: 't' }] as const,
          ...middle,
          ...(end === null ? [] : [end]),
        ];
        return types.map(([type, data], i) => ev(i + 1, type, { ...data }));
      }),
  );

describe('foldRunEvent against the gateway', () => {
  it('folds every run exactly as the gateway folds its snapshot', () => {
    fc.assert(
      fc.property(runEvents, (events) => {
        expect(fold(events)).toEqual(serverFold(events));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot at any seq + the later events = the whole run (catch-up has neither gap nor duplicate)', () => {
    fc.assert(
      fc.property(runEvents, fc.nat(), (events, cut) => {
        const k = 1 + (cut % events.length);
        const caughtUp = fold(events, serverFold(events.slice(0, k)));
        expect(caughtUp).toEqual(serverFold(events));
        // Events the snapshot already holds, delivered again, change nothing.
        expect(fold(events, caughtUp)).toBe(caughtUp);
      }),
      { numRuns: 300 },
    );
  });

  it('after a truncated snapshot, stays as the gateway does; after a whole one, keeps every later event', () => {
    fc.assert(
      fc.property(runEvents, fc.integer({ min: 1, max: 200 }), fc.nat(), (events, maxBytes, cut) => {
        const k = 1 + (cut % events.length);
        const snapshot = serverFold(events.slice(0, k), maxBytes);
        // The client has no byte bound of its own: only a snapshot the gateway truncated stops its folding.
        const expected = snapshot.truncated ? serverFold(events, maxBytes) : serverFold(events);
        expect(fold(events, snapshot)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('RunStates', () => {
  const snap = (runId: string, lastSeq: number, text = ''): RunSnapshot => ({
    ...(fold([started]) as RunState),
    run_id: runId,
    text,
    last_seq: lastSeq,
  });

  it('folds events of runs, ignores events without run_id, and says what changed', () => {
    const runs = new RunStates(MAX_RUNS);
    expect(runs.event({ ...ev(1, 'notification'), run_id: undefined } as AgentEvent)).toBeUndefined();
    const first = runs.event(started);
    expect(first).toMatchObject({ run_id: 'r1', agent: 'demo' });
    expect(runs.event(started)).toBeUndefined(); // already folded
    expect(runs.map.get('r1')).toBe(first);
  });

  it('replaces a run with its snapshot, then folds only the events after last_seq', () => {
    const runs = new RunStates(MAX_RUNS);
    runs.event(started);
    const taken = runs.snapshot(snap('r1', 5, 'hello'));
    expect(runs.map.get('r1')).toBe(taken);
    expect(runs.event(ev(5, 'stream_chunk', { text: 'dup' }))).toBeUndefined();
    expect(runs.event(ev(6, 'stream_chunk', { text: '!' }))?.text).toBe('hello!');
  });

  it('keeps the most recently active runs, forgetting the least recently active first', () => {
    const runs = new RunStates(3);
    for (const id of ['a', 'b', 'c']) runs.snapshot(snap(id, 1));
    runs.event({ ...ev(2, 'stream_chunk', { text: 'x' }), run_id: 'a' }); // a is now the most recent
    runs.snapshot(snap('d', 3));
    expect([...runs.map.keys()]).toEqual(['c', 'a', 'd']);
  });

  it('keeps 50 runs by default (docs/client.md)', () => {
    expect(MAX_RUNS).toBe(50);
  });
});
