import type { AgentEvent, StreamPosition, Timers } from '@agentcast/client';
import { describe, expect, it } from 'vitest';
import { AgentcastStore } from '../../src/agentcast-store.js';
import { EventFactory } from '../helpers/events.js';
import { FakeClient } from '../helpers/fake-client.js';

/** Timers run by hand: the deferred close happens exactly when the test says. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let next = 0;
  const timers: Timers = {
    setTimeout: (callback) => {
      next += 1;
      pending.set(next, callback);
      return next;
    },
    clearTimeout: (handle) => {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    get pending() {
      return pending.size;
    },
    runAll() {
      const callbacks = [...pending.values()];
      pending.clear();
      for (const c of callbacks) c();
    },
  };
}

function setup(options: { maxEvents?: number; maxRuns?: number } = {}) {
  const clock = manualTimers();
  const clients: FakeClient[] = [];
  const connects: Array<StreamPosition | undefined> = [];
  const store = new AgentcastStore({
    connect: (resumeFrom) => {
      connects.push(resumeFrom);
      const client = new FakeClient(resumeFrom);
      clients.push(client);
      return client;
    },
    timers: clock.timers,
    ...options,
  });
  return {
    store,
    clock,
    clients,
    connects,
    get client(): FakeClient {
      const c = clients.at(-1);
      if (c === undefined) throw new Error('no client');
      return c;
    },
  };
}

/** Counts how often a listener is called. */
function counter() {
  const c = {
    calls: 0,
    listener: () => {
      c.calls += 1;
    },
  };
  return c;
}

describe('AgentcastStore lifecycle', () => {
  it('creates nothing until retained, then one client for a StrictMode mount → unmount → mount', () => {
    const { store, clock, clients } = setup();
    expect(clients).toHaveLength(0);
    expect(store.getStatus()).toMatchObject({ state: 'connecting', client: undefined, role: undefined });
    const release1 = store.retain();
    release1();
    const release2 = store.retain();
    clock.runAll();
    expect(clients).toHaveLength(1);
    expect(clients[0]!.closed).toBe(false);
    expect(store.getStatus()).toMatchObject({ client: clients[0], role: 'solo' });
    release2();
    release2(); // twice is harmless
    expect(clients[0]!.closed).toBe(false); // deferred by one macrotask
    clock.runAll();
    expect(clients[0]!.closed).toBe(true);
    expect(store.getStatus()).toMatchObject({ state: 'closed', client: undefined });
  });

  it('keeps the client while any reference is held', () => {
    const { store, clock, clients } = setup();
    const a = store.retain();
    const b = store.retain();
    a();
    clock.runAll();
    expect(clients[0]!.closed).toBe(false);
    b();
    clock.runAll();
    expect(clients[0]!.closed).toBe(true);
  });

  it('reopens after a real close resuming from the last event it delivered', () => {
    const { store, clock, clients, connects } = setup();
    const release = store.retain();
    const f = new EventFactory();
    clients[0]!.open('e1', 0);
    clients[0]!.deliver(...f.run('r1').slice(0, 3));
    release();
    clock.runAll();
    store.retain();
    expect(clients).toHaveLength(2);
    expect(connects).toEqual([undefined, { epoch: 'e1', seq: 3 }]);
  });

  it('re-renders useAgentcast only on state changes, and reads lastSeq live', () => {
    const { store, clients } = setup();
    store.retain();
    const client = clients[0]!;
    const status = counter();
    store.subscribeStatus(status.listener);
    client.open('e1', 0);
    expect(status.calls).toBe(1);
    const snapshot = store.getStatus();
    expect(snapshot.state).toBe('open');
    client.deliver(...new EventFactory().run('r1'));
    expect(status.calls).toBe(1);
    expect(store.getStatus()).toBe(snapshot);
    expect(snapshot.lastSeq).toBe(7);
    expect(snapshot.epoch).toBe('e1');
  });
});

describe('AgentcastStore selectors', () => {
  it('notifies a run`s subscribers for its events only, with a new snapshot per change', () => {
    const { store, clients } = setup();
    store.retain();
    const client = clients[0]!;
    const a = counter();
    const b = counter();
    store.subscribeRun('a', a.listener);
    store.subscribeRun('b', b.listener);
    const before = store.run('b');
    expect(before.status).toBe('pending');
    expect(store.run('b')).toBe(before);
    const f = new EventFactory();
    client.deliver(...f.run('a'));
    expect(a.calls).toBe(7);
    expect(b.calls).toBe(0);
    expect(store.run('b')).toBe(before);
    const run = store.run('a');
    expect(run).toMatchObject({ status: 'succeeded', text: 'Hello world' });
    expect(store.run('a')).toBe(run);
  });

  it('notifies an events view only for matching events; its array keeps identity otherwise', () => {
    const { store, clients } = setup();
    store.retain();
    const client = clients[0]!;
    const chunks = store.events('stream_chunk');
    expect(store.events('stream_chunk')).toBe(chunks); // shared per type
    expect(store.events(['b', 'a'])).toBe(store.events(['a', 'b']));
    const heard = counter();
    const unsubscribe = chunks.subscribe(heard.listener);
    const empty = chunks.getSnapshot();
    const f = new EventFactory();
    const events = f.run('r1');
    client.deliver(...events.slice(0, 4)); // no chunk
    expect(heard.calls).toBe(0);
    expect(chunks.getSnapshot()).toBe(empty);
    client.deliver(events[4]!);
    expect(heard.calls).toBe(1);
    const one = chunks.getSnapshot();
    expect(one.map((e) => e.data.text)).toEqual(['Hello ']);
    expect(chunks.getSnapshot()).toBe(one);
    unsubscribe();
    client.deliver(...events.slice(5));
    expect(heard.calls).toBe(1);
  });

  it('gives a view created late every earlier event, and a predicate view its own events', () => {
    const { store, clients } = setup();
    store.retain();
    const f = new EventFactory();
    clients[0]!.deliver(...f.run('r1'), ...f.run('r2'));
    expect(store.events().getSnapshot()).toHaveLength(14);
    const r2 = store.events((e: AgentEvent) => e.run_id === 'r2');
    expect(r2.getSnapshot().map((e) => e.seq)).toEqual([8, 9, 10, 11, 12, 13, 14]);
  });

  it('keeps at most maxEvents events and forgets unwatched runs beyond maxRuns', () => {
    const { store, clients } = setup({ maxEvents: 4, maxRuns: 2 });
    store.retain();
    store.subscribeRun('r1', () => undefined);
    const f = new EventFactory();
    clients[0]!.deliver(...f.run('r1'), ...f.run('r2'), ...f.run('r3'));
    expect(
      store
        .events()
        .getSnapshot()
        .map((e) => e.seq),
    ).toEqual([18, 19, 20, 21]);
    expect(store.run('r1').status).toBe('succeeded'); // watched: kept
    expect(store.run('r2').status).toBe('pending'); // oldest unwatched: forgotten
    expect(store.run('r3').status).toBe('succeeded');
  });
});

describe('AgentcastStore requests', () => {
  it('holds a message sent before the client exists, and sends it once it does', async () => {
    const { store, clients } = setup();
    const sent = store.sendMessage('early', { agent: 'demo' });
    expect(clients).toHaveLength(0);
    store.retain();
    expect(clients[0]!.requests[0]).toMatchObject({ op: 'send', text: 'early', options: { agent: 'demo' } });
    clients[0]!.answer(() => ({ id: 'm1', runId: 'r1', duplicate: false }));
    await expect(sent).resolves.toEqual({ id: 'm1', runId: 'r1', duplicate: false });
    const cancelled = store.cancel('r1');
    clients[0]!.answer(() => ({ id: 'c1', runId: 'r1', duplicate: false }));
    await expect(cancelled).resolves.toMatchObject({ runId: 'r1' });
  });

  it('refuses requests once the provider is gone', async () => {
    const { store, clock } = setup();
    store.retain()();
    clock.runAll();
    await expect(store.sendMessage('late')).rejects.toMatchObject({ code: 'AC_CLIENT_CLOSED' });
  });
});
