import {
  type AgentEvent,
  ClientError,
  ClientErrorCode,
  type LifecycleEvents,
  type Timers,
} from '@agentcast/client';
import { describe, expect, it } from 'vitest';
import { SharedClient } from '../../src/tabs/shared-client.js';
import { groupName, type TabMessage } from '../../src/tabs/tab-protocol.js';
import { EventFactory } from '../helpers/events.js';
import { FakeClient } from '../helpers/fake-client.js';
import { FakeBrowser, type FakeTab } from '../helpers/fake-tabs.js';

/** Timers the test fires by hand. */
class ManualTimers implements Timers {
  readonly #pending = new Map<number, () => void>();
  #next = 0;
  setTimeout(callback: () => void, _ms: number): unknown {
    this.#next += 1;
    this.#pending.set(this.#next, callback);
    return this.#next;
  }
  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  get size(): number {
    return this.#pending.size;
  }
  fireAll(): void {
    const callbacks = [...this.#pending.values()];
    this.#pending.clear();
    for (const c of callbacks) c();
  }
}

let clock = 1_000;

/** One tab running a SharedClient, with everything it delivered recorded. */
function startTab(
  browser: FakeBrowser,
  name: string,
  options: { historySize?: number; timers?: Timers } = {},
) {
  const tab = browser.tab(name);
  const clients: FakeClient[] = [];
  let ids = 0;
  const shared = new SharedClient({
    name: 'ws://gw/ws',
    locks: tab.locks,
    channel: tab.channel,
    connect: (resumeFrom) => {
      const client = new FakeClient(resumeFrom);
      clients.push(client);
      return client;
    },
    generateId: () => `${name}-${++ids}`,
    now: () => ++clock,
    historySize: options.historySize,
    timers: options.timers,
  });
  const delivered: AgentEvent[] = [];
  const byType: AgentEvent[] = [];
  const resets: Array<LifecycleEvents['reset']> = [];
  const states: string[] = [];
  const errors: ClientError[] = [];
  shared.on('*', (e) => delivered.push(e));
  shared.on('stream_chunk', (e) => byType.push(e));
  shared.onLifecycle('reset', (r) => resets.push(r));
  shared.onLifecycle('statechange', ({ state }) => states.push(state));
  shared.onLifecycle('error', (e) => errors.push(e));
  return {
    name,
    tab,
    shared,
    clients,
    delivered,
    byType,
    resets,
    states,
    errors,
    get client(): FakeClient {
      const c = clients.at(-1);
      if (c === undefined) throw new Error(`${name} has no client`);
      return c;
    },
    seqs: () => delivered.map((e) => `${e.epoch}:${e.seq}`),
  };
}

type Tab = ReturnType<typeof startTab>;

async function threeTabs(options: { historySize?: number; timers?: Timers } = {}) {
  const browser = new FakeBrowser();
  const a = startTab(browser, 'A', options);
  const b = startTab(browser, 'B', options);
  const c = startTab(browser, 'C', options);
  await browser.run();
  a.client.open('e1', 0);
  await browser.run();
  return { browser, a, b, c };
}

const range = (from: number, to: number, epoch = 'e1') =>
  Array.from({ length: to - from + 1 }, (_, i) => `${epoch}:${from + i}`);

function isEvent(seq: number) {
  return (_to: FakeTab, m: TabMessage) => m.t === 'event' && m.event.seq === seq;
}

describe('SharedClient: one socket for all tabs', () => {
  it('elects one leader, which alone creates a client; every tab follows its state', async () => {
    const { a, b, c } = await threeTabs();
    expect([a.shared.role, b.shared.role, c.shared.role]).toEqual(['leader', 'follower', 'follower']);
    expect([a.clients.length, b.clients.length, c.clients.length]).toEqual([1, 0, 0]);
    expect(a.client.resumeFrom).toBeUndefined();
    for (const t of [a, b, c]) expect(t.shared.state).toBe('open');
    expect(b.states).toEqual(['open']);
    expect(b.shared.leaderId).toBe(a.shared.id);
  });

  it('fans every event out: each tab delivers each once, in seq order, per type and to "*"', async () => {
    const { browser, a, b, c } = await threeTabs();
    const f = new EventFactory();
    const events = [...f.run('r1'), ...f.run('r2')];
    a.client.deliver(...events);
    await browser.run();
    for (const t of [a, b, c]) {
      expect(t.seqs(), t.name).toEqual(range(1, events.length));
      expect(t.byType.map((e) => e.data.text)).toEqual(['Hello ', 'world', 'Hello ', 'world']);
      expect(t.shared.lastSeq).toBe(events.length);
      expect(t.shared.epoch).toBe('e1');
    }
  });

  it('forwards a follower`s sendMessage with an idempotency id and returns the leader`s ack', async () => {
    const { browser, a, b } = await threeTabs();
    const sent = b.shared.sendMessage('What is 2+2?', { agent: 'demo', threadId: 't1' });
    await browser.run();
    expect(a.client.requests).toHaveLength(1);
    const request = a.client.requests[0]!;
    expect(request).toMatchObject({
      op: 'send',
      text: 'What is 2+2?',
      options: { agent: 'demo', threadId: 't1' },
    });
    const id = request.options?.id;
    expect(id).toMatch(/^B-/);
    a.client.answer(() => ({ id: id ?? '', runId: 'r1', duplicate: false }));
    await browser.run();
    await expect(sent).resolves.toEqual({ id, runId: 'r1', duplicate: false });
  });

  it('forwards cancel and a server error, rebuilt as a ClientError with its codes', async () => {
    const { browser, a, c } = await threeTabs();
    const cancelled = c.shared.cancel('r9');
    await browser.run();
    expect(a.client.requests[0]).toMatchObject({ op: 'cancel', runId: 'r9' });
    a.client.answer(
      () => new ClientError(ClientErrorCode.Server, 'NOT_FOUND: no such run', { serverCode: 'NOT_FOUND' }),
    );
    await browser.run();
    const error = await cancelled.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'AC_CLIENT_SERVER_ERROR', serverCode: 'NOT_FOUND' });
  });

  it('lets the leader send on its own client, and forwards its lifecycle to followers', async () => {
    const { browser, a, b } = await threeTabs();
    const sent = a.shared.sendMessage('hi');
    expect(a.client.requests[0]).toMatchObject({ op: 'send', text: 'hi' });
    a.client.answer((r) => ({ id: r.options?.id ?? '', runId: 'r1', duplicate: false }));
    await expect(sent).resolves.toMatchObject({ runId: 'r1' });
    const disconnects: Array<LifecycleEvents['disconnect']> = [];
    b.shared.onLifecycle('disconnect', (d) => disconnects.push(d));
    a.client.lifecycle('disconnect', { code: 1012, reason: 'restart', retryInMs: 100 });
    a.client.setState('reconnecting');
    a.client.lifecycle('error', new ClientError(ClientErrorCode.TokenUnavailable, 'getToken() failed'));
    await browser.run();
    expect(disconnects).toEqual([{ code: 1012, reason: 'restart', retryInMs: 100 }]);
    expect(b.shared.state).toBe('reconnecting');
    expect(b.errors.map((e) => e.code)).toEqual(['AC_CLIENT_TOKEN_UNAVAILABLE']);
  });

  it('moves the socket when the leader`s tab dies mid-run: nothing lost, nothing twice, requests resent', async () => {
    const { browser, a, b, c } = await threeTabs();
    const f = new EventFactory();
    const events = f.run('r1', ['a', 'b', 'c', 'd', 'e']); // 10 events
    a.client.deliver(...events.slice(0, 4));
    await browser.run();
    // Requests from both followers reach A, which dies before answering them.
    const fromB = b.shared.sendMessage('one');
    const fromC = c.shared.sendMessage('two');
    await browser.run();
    const ids = a.client.requests.map((r) => r.options?.id);
    expect(ids).toHaveLength(2);
    // A delivers 5 and 6, then dies; 6 never reaches B (its tab was busy, say), but reaches C.
    browser.drop = (to, m) => to === b.tab && m.t === 'event' && m.event.seq === 6;
    a.client.deliver(events[4]!, events[5]!);
    browser.crash(a.tab);
    await browser.run();
    browser.drop = undefined;

    expect(b.shared.role).toBe('leader');
    expect(c.shared.role).toBe('follower');
    expect(b.clients).toHaveLength(1);
    // B resumes from the last event it delivered; the server replays the rest.
    expect(b.client.resumeFrom).toEqual({ epoch: 'e1', seq: 5 });
    // B's own request now runs on its client; C's was resent to B; both with their first ids.
    expect(b.client.requests.map((r) => r.options?.id).sort()).toEqual([...ids].sort());
    b.client.answer((r) => ({ id: r.options?.id ?? '', runId: 'r1', duplicate: true }));
    b.client.answer((r) => ({ id: r.options?.id ?? '', runId: 'r2', duplicate: true }));
    await browser.run();
    await expect(fromB).resolves.toMatchObject({ duplicate: true });
    await expect(fromC).resolves.toMatchObject({ duplicate: true });

    b.client.open('e1', 10, 'ok');
    b.client.deliver(...events.slice(5)); // 6..10: C already has 6
    await browser.run();
    for (const t of [b, c]) {
      expect(t.seqs(), t.name).toEqual(range(1, 10));
      expect(t.resets).toEqual([]);
    }
    expect(c.shared.state).toBe('open');
    expect(c.shared.leaderId).toBe(b.shared.id);
  });

  it('ignores events on the channel once leading: a late broadcast of the old leader is not delivered twice', async () => {
    const { browser, a, b } = await threeTabs();
    const f = new EventFactory();
    const events = f.run('r1');
    a.client.deliver(events[0]!);
    await browser.run();
    const ghost = browser.tab('ghost'); // the dead leader's last post, arriving late
    a.shared.close();
    await browser.run();
    expect(b.shared.role).toBe('leader');
    ghost.channel.post({ t: 'event', from: a.shared.id, event: events[1]! });
    await browser.run();
    expect(b.seqs()).toEqual(['e1:1']);
    b.client.open('e1', 1, 'ok');
    b.client.deliver(events[1]!, events[2]!);
    await browser.run();
    expect(b.seqs()).toEqual(range(1, 3));
  });

  it('fills a follower`s gap from the leader`s history', async () => {
    const { browser, a, b, c } = await threeTabs();
    const f = new EventFactory();
    const events = f.run('r1');
    browser.drop = (to, m) => to === c.tab && isEvent(3)(to, m);
    a.client.deliver(...events);
    await browser.run();
    const asked = c.tab.received.filter((m) => m.t === 'replayed');
    expect(asked).toHaveLength(1);
    for (const t of [a, b, c]) expect(t.seqs(), t.name).toEqual(range(1, events.length));
    expect(c.resets).toEqual([]);
  });

  it('resets a follower whose gap the leader`s history no longer covers, then goes on in order', async () => {
    const { browser, a, c } = await threeTabs({ historySize: 2 });
    const f = new EventFactory();
    const events = f.run('r1'); // 7 events
    // C loses 2..5 and learns of the gap only at 6.
    browser.drop = (to, m) => to === c.tab && m.t === 'event' && m.event.seq >= 2 && m.event.seq <= 5;
    a.client.deliver(...events);
    await browser.run();
    expect(c.resets).toEqual([
      { reason: 'missed_events', epoch: 'e1', seq: 5, previous: { epoch: 'e1', seq: 1 } },
    ]);
    expect(c.seqs()).toEqual(['e1:1', 'e1:6', 'e1:7']);
  });

  it('passes the leader`s resets on: every tab jumps, says so once, and goes on after it', async () => {
    const { browser, a, b, c } = await threeTabs();
    const f = new EventFactory();
    a.client.deliver(...f.run('r1').slice(0, 3));
    await browser.run();
    a.client.setState('reconnecting');
    a.client.open('e1', 50, 'reset'); // history expired while we were away
    const next = { ...f.event('notification', {}), seq: 51 };
    a.client.deliver(next);
    await browser.run();
    for (const t of [a, b, c]) {
      expect(t.resets, t.name).toEqual([
        { reason: 'resume_reset', epoch: 'e1', seq: 50, previous: { epoch: 'e1', seq: 3 } },
      ]);
      expect(t.seqs()).toEqual([...range(1, 3), 'e1:51']);
    }
  });

  it('follows a new epoch (the server lost the history) and drops late events of the old one', async () => {
    const { browser, a, b } = await threeTabs();
    const f = new EventFactory();
    const old = f.run('r1');
    a.client.deliver(...old.slice(0, 2));
    await browser.run();
    f.epoch = 'e2';
    const fresh = f.event('notification', { n: 1 });
    a.client.lifecycle('reset', {
      reason: 'epoch_changed',
      epoch: 'e2',
      seq: 0,
      previous: { epoch: 'e1', seq: 2 },
    });
    a.client.deliver(fresh);
    await browser.run();
    browser.tab('ghost').channel.post({ t: 'event', from: 'ghost', event: old[2]! });
    await browser.run();
    for (const t of [a, b]) {
      expect(t.seqs(), t.name).toEqual(['e1:1', 'e1:2', 'e2:1']);
      expect(t.resets.map((r) => [r.reason, r.epoch, r.seq])).toEqual([['epoch_changed', 'e2', 0]]);
    }
  });

  it('starts a tab that joins later at the leader`s position: no reset, only new events', async () => {
    const { browser, a } = await threeTabs();
    const f = new EventFactory();
    const events = f.run('r1');
    a.client.deliver(...events.slice(0, 3));
    await browser.run();
    const d = startTab(browser, 'D');
    await browser.run();
    expect(d.shared.role).toBe('follower');
    expect(d.shared.state).toBe('open');
    expect(d.shared.lastSeq).toBe(3);
    a.client.deliver(...events.slice(3));
    await browser.run();
    expect(d.seqs()).toEqual(range(4, events.length));
    expect(d.resets).toEqual([]);
  });

  it('hands the lock on when the leader closes, and a new leader after that resumes from its position', async () => {
    const { browser, a, b, c } = await threeTabs();
    const f = new EventFactory();
    a.client.deliver(...f.run('r1').slice(0, 2));
    await browser.run();
    await a.shared.close();
    await browser.run();
    expect(a.client.closed).toBe(true);
    expect(a.shared.state).toBe('closed');
    expect(b.shared.role).toBe('leader');
    expect(b.client.resumeFrom).toEqual({ epoch: 'e1', seq: 2 });
    expect(c.shared.leaderId).toBe(b.shared.id);
    await b.shared.close();
    await browser.run();
    expect(c.shared.role).toBe('leader');
    expect(c.client.resumeFrom).toEqual({ epoch: 'e1', seq: 2 });
    expect(b.client.closed).toBe(true);
    expect(c.clients).toHaveLength(1);
  });

  it('rejects a follower`s requests on close, and after the request timeout when no leader answers', async () => {
    const timers = new ManualTimers();
    const { browser, b, c } = await threeTabs({ timers });
    const lost = b.shared.sendMessage('hello');
    await browser.run();
    timers.fireAll();
    await expect(lost).rejects.toMatchObject({ code: 'AC_CLIENT_ACK_TIMEOUT' });
    const pending = c.shared.sendMessage('bye');
    await c.shared.close();
    await expect(pending).rejects.toMatchObject({ code: 'AC_CLIENT_CLOSED' });
    await expect(c.shared.sendMessage('again')).rejects.toMatchObject({ code: 'AC_CLIENT_CLOSED' });
    await expect(c.shared.sendMessage('')).rejects.toBeInstanceOf(TypeError);
    expect(timers.size).toBe(0);
  });

  it('ignores a late announcement of an earlier leader', async () => {
    const { browser, a, b } = await threeTabs();
    browser.tab('ghost').channel.post({
      t: 'leader',
      from: 'old-leader',
      term: 1,
      state: 'closed',
      position: undefined,
    });
    await browser.run();
    expect(b.shared.leaderId).toBe(a.shared.id);
    expect(b.shared.state).toBe('open');
  });

  it('names the lock and channel with the protocol version, so two app versions never mix', () => {
    expect(groupName('ws://gw/ws')).toBe('agentcast.v2:ws://gw/ws');
  });

  it('delivers in order to every tab across two failovers while events keep coming', async () => {
    const browser = new FakeBrowser();
    const tabs: Tab[] = ['A', 'B', 'C', 'D'].map((n) => startTab(browser, n));
    await browser.run();
    const f = new EventFactory();
    const events = Array.from({ length: 30 }, (_, i) => f.event('stream_chunk', { text: `${i} ` }, 'r1'));
    let next = 0;
    for (const leader of tabs.slice(0, 3)) {
      expect(leader.shared.role).toBe('leader');
      leader.client.open('e1', next, next === 0 ? 'none' : 'ok');
      // The new leader's client replays from its position: the server's view, so it restarts there.
      const from = leader.client.resumeFrom?.seq ?? 0;
      const upTo = Math.min(events.length, next + 10);
      leader.client.deliver(...events.slice(from, upTo));
      next = upTo;
      browser.crash(leader.tab);
      await browser.run();
    }
    const last = tabs[3]!;
    last.client.open('e1', next, 'ok');
    last.client.deliver(...events.slice(last.client.resumeFrom?.seq ?? 0));
    await browser.run();
    expect(last.seqs()).toEqual(range(1, 30));
    expect(last.delivered.map((e) => e.data.text).join('')).toBe(events.map((e) => e.data.text).join(''));
  });
});
