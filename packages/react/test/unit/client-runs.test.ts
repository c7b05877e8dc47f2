import type { AgentEvent, RunSnapshot } from '@agentcast/client';
import { describe, expect, it } from 'vitest';
import { AgentcastStore } from '../../src/agentcast-store.js';
import { SharedClient } from '../../src/tabs/shared-client.js';
import { EventFactory } from '../helpers/events.js';
import { FakeClient, RunsClient } from '../helpers/fake-client.js';
import { FakeBrowser } from '../helpers/fake-tabs.js';

/**
 * `useRun` / `useRuns` read the client's runs (docs/client.md "Runs"): a run caught up mid-way by a
 * `run_snapshot` has its whole text, then every later event; per tab with SharedClient too.
 */

/** What a gateway would snapshot of run `r1` after `seq` events: the text so far and one finished tool. */
function snapshotOf(lastSeq: number, text: string): RunSnapshot {
  return {
    run_id: 'r1',
    agent: 'demo',
    task: 'q',
    status: 'running',
    started_at: new Date(0).toISOString(),
    text,
    reasoning: 'hm',
    tools: [
      {
        execution_id: 'r1-x1',
        tool_name: 'calculator',
        tool_args: { expression: '1+1' },
        success: true,
        results: 2,
        duration_ms: 5,
      },
    ],
    approvals: [],
    last_seq: lastSeq,
    epoch: 'e1',
    truncated: false,
  };
}

/** The events of run r1 after a snapshot at seq 20: two more chunks, then its end. */
function rest(): AgentEvent[] {
  const f = new EventFactory();
  for (let i = 0; i < 20; i++) f.event('notification', {});
  return [
    f.event('stream_chunk', { text: ' and' }, 'r1'),
    f.event('stream_chunk', { text: ' more' }, 'r1'),
    f.event('agent_completed', { status: 'succeeded', final_response: 'all of it' }, 'r1'),
  ];
}

function storeWith(client: FakeClient) {
  const store = new AgentcastStore({ connect: () => client });
  store.retain();
  client.open('e1', 20);
  return store;
}

describe('AgentcastStore over the client runs', () => {
  it('useRun: a run caught up by its snapshot has the whole text, then the later events', () => {
    const client = new RunsClient();
    const store = storeWith(client);
    let heard = 0;
    store.subscribeRun('r1', () => {
      heard += 1;
    });
    expect(store.run('r1').status).toBe('pending');

    client.snapshot(snapshotOf(20, 'Lots of text so far'));
    expect(heard).toBe(1);
    const caughtUp = store.run('r1');
    expect(caughtUp).toMatchObject({
      runId: 'r1',
      status: 'running',
      text: 'Lots of text so far',
      agent: 'demo',
      events: [],
      tools: [
        { executionId: 'r1-x1', name: 'calculator', args: { expression: '1+1' }, open: false, success: true },
      ],
    });
    expect(store.run('r1')).toBe(caughtUp); // the same object until the run changes

    const later = rest();
    client.deliver(...later);
    const ended = store.run('r1');
    expect(ended).toMatchObject({
      status: 'succeeded',
      text: 'Lots of text so far and more',
      finalResponse: 'all of it',
    });
    expect(ended.events).toEqual(later);
    expect(heard).toBeGreaterThanOrEqual(4);
  });

  it('shows a running tool call as open until its tool_completed, and closes it when the run ends', () => {
    const client = new RunsClient();
    const store = storeWith(client);
    const f = new EventFactory();
    client.deliver(
      f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r2'),
      f.event('tool_executing', { tool_name: 't', tool_args: {}, execution_id: 'x' }, 'r2'),
    );
    expect(store.run('r2').tools).toEqual([{ executionId: 'x', name: 't', args: {}, open: true }]);
    client.deliver(
      f.event(
        'agent_completed',
        { status: 'cancelled', final_response: null, error: { code: 'C', message: 'm' } },
        'r2',
      ),
    );
    expect(store.run('r2')).toMatchObject({
      status: 'cancelled',
      tools: [{ executionId: 'x', open: false }],
      error: { code: 'C', message: 'm' },
      finalResponse: null,
    });
  });

  it('useRuns: the client runs, least recently active first; the array changes only with a run', () => {
    const client = new RunsClient();
    const store = storeWith(client);
    let heard = 0;
    store.subscribeRuns(() => {
      heard += 1;
    });
    const empty = store.getRuns();
    expect(empty).toEqual([]);
    expect(store.getRuns()).toBe(empty);
    client.snapshot(snapshotOf(20, 'so far'));
    const f = new EventFactory();
    client.deliver(f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r2'));
    const two = store.getRuns();
    expect(two.map((r) => [r.run_id, r.text])).toEqual([
      ['r1', 'so far'],
      ['r2', ''],
    ]);
    expect(store.getRuns()).toBe(two);
    expect(heard).toBe(2);
    client.deliver(f.event('notification', {})); // no run: nothing changes
    expect(store.getRuns()).toBe(two);
  });

  it('falls back to folding events when the client keeps no runs', () => {
    const client = new FakeClient();
    const store = storeWith(client);
    client.deliver(...new EventFactory().run('r1'));
    expect(store.run('r1')).toMatchObject({ status: 'succeeded', text: 'Hello world' });
    expect(store.getRuns()).toEqual([]);
  });
});

describe('SharedClient runs', () => {
  function tab(browser: FakeBrowser, name: string) {
    const clients: RunsClient[] = [];
    let ids = 0;
    let clock = name === 'A' ? 1_000 : 2_000;
    const shared = new SharedClient({
      name: 'ws://gw/ws',
      locks: browser.tab(name).locks,
      channel: browser.tab(name).channel,
      connect: (resumeFrom) => {
        const client = new RunsClient(resumeFrom);
        clients.push(client);
        return client;
      },
      generateId: () => `${name}-${++ids}`,
      now: () => ++clock,
    });
    const changes: string[] = [];
    shared.onRun((run) => changes.push(`${run.run_id}:${run.text}`));
    return { shared, clients, changes };
  }

  it('every tab folds the events; the leader forwards the runs its client took from snapshots', async () => {
    const browser = new FakeBrowser();
    const a = tab(browser, 'A');
    const b = tab(browser, 'B');
    await browser.run();
    const leader = a.clients[0] as RunsClient;
    leader.open('e1', 20, 'none');
    leader.snapshot(snapshotOf(20, 'so far'));
    await browser.run();
    leader.deliver(...rest());
    await browser.run();
    for (const t of [a, b]) {
      expect(t.shared.run('r1')).toMatchObject({
        text: 'so far and more',
        status: 'succeeded',
        last_seq: 23,
      });
      expect(t.changes).toEqual(['r1:so far', 'r1:so far and', 'r1:so far and more', 'r1:so far and more']);
    }
    expect(b.shared.run('r1')).toEqual(leader.run('r1'));
  });

  it('a tab opened mid-run gets every run so far from the leader, then the rest', async () => {
    const browser = new FakeBrowser();
    const a = tab(browser, 'A');
    await browser.run();
    const leader = a.clients[0] as RunsClient;
    leader.open('e1', 20, 'none');
    leader.snapshot(snapshotOf(20, 'so far'));
    await browser.run();

    const late = tab(browser, 'B');
    await browser.run();
    expect(late.shared.role).toBe('follower');
    expect(late.shared.run('r1')?.text).toBe('so far');
    leader.deliver(...rest());
    await browser.run();
    expect(late.shared.run('r1')).toEqual(leader.run('r1'));
    expect([...late.shared.runs.keys()]).toEqual(['r1']);
  });

  it('after a resume answered with snapshots, no tab reports a reset, and every tab has the runs', async () => {
    const browser = new FakeBrowser();
    const a = tab(browser, 'A');
    const b = tab(browser, 'B');
    const resets: unknown[] = [];
    for (const t of [a, b]) t.shared.onLifecycle('reset', (r) => resets.push(r));
    await browser.run();
    const leader = a.clients[0] as RunsClient;
    leader.open('e1', 0, 'none');
    const f = new EventFactory();
    leader.deliver(f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r1'));
    await browser.run();
    // The socket comes back after the run outgrew the history: welcome "snapshot" at seq 20.
    leader.open('e1', 20, 'snapshot');
    leader.snapshot(snapshotOf(20, 'so far'));
    leader.deliver(...rest());
    await browser.run();
    expect(resets).toEqual([]);
    for (const t of [a, b]) {
      expect(t.shared.run('r1')?.text).toBe('so far and more');
      expect(t.shared.lastSeq).toBe(23);
    }
  });
});
