import { describe, expect, it } from 'vitest';
import { assembleRun, pendingRun, RunAccumulator } from '../../src/run-view.js';
import { EventFactory } from '../helpers/events.js';

describe('run assembly', () => {
  it('assembles the golden path: status, text in seq order, one paired tool call', () => {
    const f = new EventFactory();
    const events = f.run('r1', ['I found ', 'two sources. ', '1+1 = 2.']);
    const run = assembleRun('r1', events);
    expect(run.status).toBe('succeeded');
    expect(run.text).toBe('I found two sources. 1+1 = 2.');
    expect(run.finalResponse).toBe('I found two sources. 1+1 = 2.');
    expect(run.agent).toBe('demo');
    expect(run.error).toBeUndefined();
    expect(run.events.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(run.tools).toEqual([
      {
        executionId: 'r1-x1',
        name: 'calculator',
        args: { expression: '1+1' },
        open: false,
        success: true,
        result: 2,
        durationMs: 5,
      },
    ]);
  });

  it('is pending before any event and running until agent_completed', () => {
    const f = new EventFactory();
    const acc = new RunAccumulator('r1');
    expect(acc.view()).toMatchObject({ status: 'pending', events: [], text: '', tools: [] });
    const [started, thinking, executing] = f.run('r1');
    acc.add(started!);
    expect(acc.view().status).toBe('running');
    acc.add(thinking!);
    acc.add(executing!);
    expect(acc.view().tools).toEqual([
      { executionId: 'r1-x1', name: 'calculator', args: { expression: '1+1' }, open: true },
    ]);
  });

  it.each([
    ['failed', { code: 'AGENT_ERROR', message: 'boom' }],
    ['cancelled', { code: 'CANCELLED', message: 'cancelled by the user' }],
    ['timed_out', { code: 'TIMEOUT', message: 'too slow' }],
  ])('reports %s with its error and closes the open tool calls (protocol E)', (status, error) => {
    const f = new EventFactory();
    const run = assembleRun('r1', [
      f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r1'),
      f.event('tool_executing', { tool_name: 'web_search', tool_args: {}, execution_id: 'x1' }, 'r1'),
      f.event('agent_completed', { status, final_response: null, error }, 'r1'),
    ]);
    expect(run.status).toBe(status);
    expect(run.error).toEqual(error);
    expect(run.finalResponse).toBeNull();
    expect(run.tools).toEqual([{ executionId: 'x1', name: 'web_search', args: {}, open: false }]);
  });

  it('joins chunks in seq order and pairs tools by execution_id whatever the arrival order, each event once', () => {
    const f = new EventFactory();
    const events = f.run('r1', ['a', 'b', 'c', 'd']);
    const shuffled = [events[7], events[3], events[5], events[0], events[6], events[2], events[4], events[1]];
    const acc = new RunAccumulator('r1');
    for (const e of [...shuffled, ...events]) acc.add(e!);
    const run = acc.view();
    expect(run.text).toBe('abcd');
    expect(run.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(run.tools).toHaveLength(1);
    expect(run.tools[0]).toMatchObject({ name: 'calculator', args: { expression: '1+1' }, success: true });
    expect(run.status).toBe('succeeded');
  });

  it('keeps two calls of one tool apart by execution_id', () => {
    const f = new EventFactory();
    const run = assembleRun('r1', [
      f.event('tool_executing', { tool_name: 't', tool_args: { n: 1 }, execution_id: 'a' }, 'r1'),
      f.event('tool_executing', { tool_name: 't', tool_args: { n: 2 }, execution_id: 'b' }, 'r1'),
      f.event(
        'tool_completed',
        { tool_name: 't', execution_id: 'b', success: false, results: null, duration_ms: 1 },
        'r1',
      ),
    ]);
    expect(run.tools.map((t) => [t.executionId, t.args, t.open, t.success])).toEqual([
      ['a', { n: 1 }, true, undefined],
      ['b', { n: 2 }, false, false],
    ]);
  });

  it('ignores events of other runs and duplicates (same epoch + seq)', () => {
    const f = new EventFactory();
    const a = f.run('a');
    const b = f.run('b');
    const run = assembleRun('a', [...a, ...b, ...a]);
    expect(run.events).toHaveLength(a.length);
    const acc = new RunAccumulator('a');
    expect(acc.add(a[0]!)).toBe(true);
    expect(acc.add(a[0]!)).toBe(false);
  });

  it('returns the same snapshot until an event changes it, and frozen snapshots', () => {
    const f = new EventFactory();
    const [first, second] = f.run('r1');
    const acc = new RunAccumulator('r1');
    const empty = acc.view();
    expect(acc.view()).toBe(empty);
    acc.add(first!);
    const one = acc.view();
    expect(one).not.toBe(empty);
    expect(acc.view()).toBe(one);
    acc.add(first!);
    expect(acc.view()).toBe(one);
    acc.add(second!);
    expect(acc.view()).not.toBe(one);
    expect(one.events).toHaveLength(1);
    expect(Object.isFrozen(one)).toBe(true);
    expect(Object.isFrozen(one.events)).toBe(true);
    expect(pendingRun('x')).toEqual({ ...empty, runId: 'x' });
  });
});
