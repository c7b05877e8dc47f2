import { describe, expect, it } from 'vitest';
import {
  type FanoutFloor,
  type PubSubConnection,
  RedisFanout,
} from '../../../packages/server/src/engine/redis-fanout.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { encodeEvent, type StoredEvent } from '../../../packages/server/src/protocol/events.js';

/** A pub/sub connection that answers at once and records what it was asked. */
class InstantConnection implements PubSubConnection {
  pings = 0;
  readonly unsubscribed: string[] = [];
  subscribe(): Promise<unknown> {
    return Promise.resolve('OK');
  }
  unsubscribe(...channels: string[]): Promise<unknown> {
    this.unsubscribed.push(...channels);
    return Promise.resolve('OK');
  }
  ping(): Promise<unknown> {
    this.pings += 1;
    return Promise.resolve('PONG');
  }
}

const keys = new RedisKeys('t:');

function ev(seq: number, epoch = 'e_a'): StoredEvent {
  return { type: 'x', seq, epoch, ts: '2026-01-01T00:00:00.000Z', data: { seq } };
}

/** A fan-out whose floor reads answer from `heads` (the user's head in Redis, as the engine reads it). */
function make(heads: Map<string, FanoutFloor>) {
  const connection = new InstantConnection();
  const reads: string[] = [];
  const fanout = new RedisFanout({
    connection,
    keys,
    logger: silentLogger(),
    readFloor: (userId) => {
      reads.push(userId);
      return Promise.resolve(heads.get(userId) ?? { epoch: '', seq: 0 });
    },
  });
  const publish = (event: StoredEvent) => fanout.onMessage(keys.channel('alice'), encodeEvent(event));
  return { connection, fanout, publish, reads };
}

function collector() {
  const seqs: number[] = [];
  return { seqs, listener: (event: StoredEvent) => seqs.push(event.seq) };
}

describe('RedisFanout with readFloor (Redis Cluster)', () => {
  it('does not hand a first listener events at or before the head read after SUBSCRIBE', async () => {
    const { fanout, publish, reads } = make(new Map([['alice', { epoch: 'e_a', seq: 2 }]]));
    const a = collector();
    await fanout.subscribe('alice', a.listener);
    expect(reads).toEqual(['alice']);
    // Frames of seqs 1 and 2 were still crossing the cluster bus when SUBSCRIBE was confirmed.
    for (const seq of [1, 2, 3, 4]) publish(ev(seq));
    expect(a.seqs).toEqual([3, 4]);
  });

  it('gives a joining listener its own floor instead of a PING barrier', async () => {
    const heads = new Map([['alice', { epoch: 'e_a', seq: 0 }]]);
    const { connection, fanout, publish } = make(heads);
    const first = collector();
    await fanout.subscribe('alice', first.listener);
    heads.set('alice', { epoch: 'e_a', seq: 5 });
    const joining = collector();
    await fanout.subscribe('alice', joining.listener);
    expect(connection.pings).toBe(0);
    for (const seq of [1, 2, 3, 4, 5, 6]) publish(ev(seq));
    expect(first.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(joining.seqs).toEqual([6]);
  });

  it('delivers every event of a new epoch: the floor holds only within its own', async () => {
    const { fanout, publish } = make(new Map([['alice', { epoch: 'e_old', seq: 9 }]]));
    const a = collector();
    await fanout.subscribe('alice', a.listener);
    publish(ev(1, 'e_new'));
    publish(ev(2, 'e_new'));
    expect(a.seqs).toEqual([1, 2]);
  });

  it('rejects, leaves the channel and keeps nothing when the floor cannot be read', async () => {
    const connection = new InstantConnection();
    const fanout = new RedisFanout({
      connection,
      keys,
      logger: silentLogger(),
      readFloor: () => Promise.reject(new Error('CLUSTERDOWN The cluster is down')),
    });
    await expect(fanout.subscribe('alice', () => undefined)).rejects.toThrow('CLUSTERDOWN');
    expect(fanout.userCount).toBe(0);
    expect(connection.unsubscribed).toEqual([keys.channel('alice')]);
  });
});
