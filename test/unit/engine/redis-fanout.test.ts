import { describe, expect, it } from 'vitest';
import { type PubSubConnection, RedisFanout } from '../../../packages/server/src/engine/redis-fanout.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { captureLog } from '../../helpers/log-capture.js';

/** A pub/sub connection that records calls; `hold` makes the next call of a kind wait for release. */
class FakeConnection implements PubSubConnection {
  readonly calls: string[][] = [];
  fail: { subscribe?: Error; unsubscribe?: Error; ping?: Error } = {};
  readonly #held = new Map<string, () => void>();
  readonly #holding = new Set<string>();

  hold(kind: 'subscribe' | 'ping'): void {
    this.#holding.add(kind);
  }

  release(kind: 'subscribe' | 'ping'): void {
    this.#held.get(kind)?.();
  }

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#call('subscribe', channels);
  }

  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.#call('unsubscribe', channels);
  }

  ping(): Promise<unknown> {
    return this.#call('ping', []);
  }

  #call(kind: 'subscribe' | 'unsubscribe' | 'ping', args: string[]): Promise<unknown> {
    this.calls.push([kind, ...args]);
    const error = this.fail[kind];
    if (error !== undefined) return Promise.reject(error);
    if (kind !== 'unsubscribe' && this.#holding.delete(kind)) {
      return new Promise((resolve) => this.#held.set(kind, () => resolve('OK')));
    }
    return Promise.resolve('OK');
  }
}

const keys = new RedisKeys('t:');
const channel = (user: string) => keys.channel(user);

function ev(seq: number, epoch = 'e_a'): StoredEvent {
  return { type: 'x', seq, epoch, ts: '2026-01-01T00:00:00.000Z', data: { seq } };
}

function make() {
  const connection = new FakeConnection();
  const { log: logger, lines: logs } = captureLog('info');
  const fanout = new RedisFanout({ connection, keys, logger });
  const publish = (user: string, event: StoredEvent) => fanout.onMessage(channel(user), encodeEvent(event));
  return { connection, fanout, logs, publish };
}

function collector() {
  const seqs: number[] = [];
  const frames: string[] = [];
  return {
    seqs,
    frames,
    listener: (event: StoredEvent, frame: string) => {
      seqs.push(event.seq);
      frames.push(frame);
    },
  };
}

describe('RedisFanout', () => {
  describe('a lost frame (onGap)', () => {
    function withGaps() {
      const connection = new FakeConnection();
      const { log: logger } = captureLog('info');
      const gaps: Array<{ userId: string; epoch: string; seq: number }> = [];
      const fanout = new RedisFanout({ connection, keys, logger, onGap: (from) => gaps.push(from) });
      const publish = (user: string, event: StoredEvent) =>
        fanout.onMessage(channel(user), encodeEvent(event));
      return { fanout, gaps, publish };
    }

    it('holds the user at a skipped seq, asks for what is missing once, and delivers it in order', async () => {
      const { fanout, gaps, publish } = withGaps();
      const a = collector();
      const b = collector();
      await fanout.subscribe('alice', a.listener);
      await fanout.subscribe('bob', b.listener);
      publish('alice', ev(1));
      publish('alice', ev(4));
      publish('alice', ev(5));
      publish('bob', ev(1));
      publish('bob', ev(2));
      expect(gaps).toEqual([{ userId: 'alice', epoch: 'e_a', seq: 1 }]);
      expect(a.seqs).toEqual([1]);
      // Other users are not held.
      expect(b.seqs).toEqual([1, 2]);
      // The engine read 2..4 back from history: the held 4 is not delivered twice, 5 follows.
      for (const seq of [2, 3, 4]) fanout.deliver('alice', ev(seq), encodeEvent(ev(seq)));
      fanout.endCatchUp('alice');
      expect(a.seqs).toEqual([1, 2, 3, 4, 5]);
    });

    it('lets the gap flow when nothing fills it, and sees none across an epoch or before the first event', async () => {
      const { fanout, gaps, publish } = withGaps();
      const a = collector();
      await fanout.subscribe('alice', a.listener);
      publish('alice', ev(7));
      publish('alice', ev(8));
      publish('alice', ev(1, 'e_b'));
      expect(gaps).toEqual([]);
      publish('alice', ev(3, 'e_b'));
      expect(gaps).toEqual([{ userId: 'alice', epoch: 'e_b', seq: 1 }]);
      fanout.endCatchUp('alice');
      expect(a.seqs).toEqual([7, 8, 1, 3]);
    });
  });

  describe('#resubscribeAll and #endCatchUp', () => {
    it('holds live events after a reconnect until the catch-up is merged, so a missed seq is not overtaken', async () => {
      const { fanout, publish } = make();
      const a = collector();
      const fresh = collector();
      await fanout.subscribe('alice', a.listener);
      await fanout.subscribe('bob', fresh.listener);
      publish('alice', ev(1));
      await fanout.resubscribeAll(); // the subscriber came back; alice may have missed seq 2
      publish('alice', ev(3)); // live, but seq 2 is still being read back
      publish('bob', ev(1)); // bob had no events yet: nothing to catch up, nothing held
      expect(a.seqs).toEqual([1]);
      expect(fresh.seqs).toEqual([1]);
      fanout.deliver('alice', ev(2), encodeEvent(ev(2))); // the catch-up read
      fanout.endCatchUp('alice');
      expect(a.seqs).toEqual([1, 2, 3]);
      publish('alice', ev(4));
      expect(a.seqs).toEqual([1, 2, 3, 4]);
      fanout.endCatchUp('alice'); // idempotent
      expect(a.seqs).toEqual([1, 2, 3, 4]);
    });

    it('releases held events in order and drops the ones the catch-up already delivered', async () => {
      const { fanout, publish } = make();
      const a = collector();
      await fanout.subscribe('alice', a.listener);
      publish('alice', ev(1));
      await fanout.resubscribeAll();
      publish('alice', ev(2));
      publish('alice', ev(3));
      for (const seq of [2, 3]) fanout.deliver('alice', ev(seq), encodeEvent(ev(seq)));
      fanout.endCatchUp('alice');
      expect(a.seqs).toEqual([1, 2, 3]);
    });

    it('forgets a held user that unsubscribes during the catch-up', async () => {
      const { fanout, publish } = make();
      const a = collector();
      const stop = await fanout.subscribe('alice', a.listener);
      publish('alice', ev(1));
      await fanout.resubscribeAll();
      publish('alice', ev(2));
      await stop();
      fanout.endCatchUp('alice');
      expect(a.seqs).toEqual([1]);
    });
  });

  it('subscribes a user’s channel on the first listener and leaves it with the last', async () => {
    const { connection, fanout } = make();
    const first = await fanout.subscribe('alice', () => undefined);
    const second = await fanout.subscribe('alice', () => undefined);
    expect(fanout.userCount).toBe(1);
    await first();
    await first();
    expect(connection.calls).toEqual([['subscribe', channel('alice')], ['ping']]);
    await second();
    expect(connection.calls.at(-1)).toEqual(['unsubscribe', channel('alice')]);
    expect(fanout.userCount).toBe(0);
  });

  it('delivers each frame to every live listener of its user, parsed once, frame untouched', async () => {
    const { fanout, publish } = make();
    const a = collector();
    const b = collector();
    const other = collector();
    await fanout.subscribe('alice', a.listener);
    await fanout.subscribe('alice', b.listener);
    await fanout.subscribe('bob', other.listener);
    publish('alice', ev(1));
    publish('alice', ev(2));
    expect(a.seqs).toEqual([1, 2]);
    expect(b.seqs).toEqual([1, 2]);
    expect(other.seqs).toEqual([]);
    expect(a.frames[0]).toBe(encodeEvent(ev(1)));
  });

  it('lets several first listeners share one pending SUBSCRIBE, delivering only once it is confirmed', async () => {
    const { connection, fanout, publish } = make();
    connection.hold('subscribe');
    const a = collector();
    const b = collector();
    const subscribing = [fanout.subscribe('alice', a.listener), fanout.subscribe('alice', b.listener)];
    publish('alice', ev(1));
    connection.release('subscribe');
    await Promise.all(subscribing);
    expect(connection.calls.filter(([kind]) => kind === 'subscribe')).toHaveLength(1);
    publish('alice', ev(2));
    expect(a.seqs).toEqual([2]);
    expect(b.seqs).toEqual([2]);
  });

  it('does not hand a joining listener frames that arrive before its PING barrier returns', async () => {
    const { connection, fanout, publish } = make();
    const first = collector();
    const joining = collector();
    await fanout.subscribe('alice', first.listener);
    connection.hold('ping');
    const joined = fanout.subscribe('alice', joining.listener);
    await Promise.resolve();
    publish('alice', ev(1)); // appended before subscribe() was called, still in flight
    connection.release('ping');
    await joined;
    publish('alice', ev(2));
    expect(first.seqs).toEqual([1, 2]);
    expect(joining.seqs).toEqual([2]);
  });

  it('rejects when SUBSCRIBE fails, keeps nothing, and tries again on the next subscribe', async () => {
    const { connection, fanout } = make();
    connection.fail.subscribe = new Error('Connection is closed.');
    await expect(fanout.subscribe('alice', () => undefined)).rejects.toThrow('Connection is closed.');
    expect(fanout.userCount).toBe(0);
    connection.fail = {};
    await fanout.subscribe('alice', () => undefined);
    expect(connection.calls.filter(([kind]) => kind === 'subscribe')).toHaveLength(2);
    expect(fanout.userCount).toBe(1);
  });

  it('rejects a joining listener whose PING fails, keeping the others', async () => {
    const { connection, fanout, publish } = make();
    const first = collector();
    await fanout.subscribe('alice', first.listener);
    connection.fail.ping = new Error('Command timed out');
    await expect(fanout.subscribe('alice', () => undefined)).rejects.toThrow('Command timed out');
    publish('alice', ev(1));
    expect(first.seqs).toEqual([1]);
    expect(fanout.userCount).toBe(1);
  });

  it('resolves the last unsubscribe even when UNSUBSCRIBE fails (the connection is gone)', async () => {
    const { connection, fanout } = make();
    const stop = await fanout.subscribe('alice', () => undefined);
    connection.fail.unsubscribe = new Error('Connection is closed.');
    await expect(stop()).resolves.toBeUndefined();
    expect(fanout.userCount).toBe(0);
  });

  it('drops duplicates and older seqs of the same epoch, and follows a new epoch', async () => {
    const { fanout, publish } = make();
    const a = collector();
    await fanout.subscribe('alice', a.listener);
    for (const event of [ev(1), ev(2), ev(2), ev(1), ev(4), ev(3), ev(1, 'e_b'), ev(2, 'e_b')]) {
      publish('alice', event);
    }
    expect(a.seqs).toEqual([1, 2, 4, 1, 2]);
    expect(fanout.positions()).toEqual([{ userId: 'alice', epoch: 'e_b', seq: 2 }]);
  });

  it('ignores frames of channels it does not hold and logs unreadable ones', async () => {
    const { fanout, logs } = make();
    const a = collector();
    await fanout.subscribe('alice', a.listener);
    fanout.onMessage(channel('bob'), encodeEvent(ev(1)));
    fanout.onMessage(channel('alice'), 'not json');
    fanout.deliver('bob', ev(1), encodeEvent(ev(1)));
    expect(a.seqs).toEqual([]);
    expect(logs).toEqual([expect.objectContaining({ level: 50, channel: channel('alice') })]);
  });

  it('keeps delivering when a listener throws', async () => {
    const { fanout, publish, logs } = make();
    const after = collector();
    await fanout.subscribe('alice', () => {
      throw new Error('bug');
    });
    await fanout.subscribe('alice', after.listener);
    publish('alice', ev(1));
    expect(after.seqs).toEqual([1]);
    expect(logs).toEqual([
      expect.objectContaining({
        level: 50,
        user_id: 'alice',
        seq: 1,
        err: expect.objectContaining({ message: 'bug' }),
      }),
    ]);
  });

  it('re-subscribes every held user in chunks, and only them', async () => {
    const { connection, fanout } = make();
    const stops = [];
    for (let i = 0; i < 502; i += 1) stops.push(await fanout.subscribe(`u${i}`, () => undefined));
    await stops[0]?.();
    connection.calls.length = 0;
    await fanout.resubscribeAll();
    expect(connection.calls.map((call) => call.length - 1)).toEqual([500, 1]);
    expect(connection.calls.flat()).not.toContain(channel('u0'));
    expect(connection.calls[1]).toEqual(['subscribe', channel('u501')]);
  });

  it('reports positions only of users that received events', async () => {
    const { fanout, publish } = make();
    await fanout.subscribe('alice', () => undefined);
    await fanout.subscribe('bob', () => undefined);
    publish('bob', ev(3));
    expect(fanout.positions()).toEqual([{ userId: 'bob', epoch: 'e_a', seq: 3 }]);
  });

  it('forgets everything on clear: no delivery, unsubscribe becomes a no-op', async () => {
    const { connection, fanout, publish } = make();
    const a = collector();
    const stop = await fanout.subscribe('alice', a.listener);
    fanout.clear();
    publish('alice', ev(1));
    await stop();
    expect(a.seqs).toEqual([]);
    expect(fanout.userCount).toBe(0);
    expect(connection.calls.map(([kind]) => kind)).toEqual(['subscribe']);
  });
});
