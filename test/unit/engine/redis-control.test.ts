import { describe, expect, it } from 'vitest';
import { RedisControl } from '../../../packages/server/src/engine/redis-control.js';
import type { PubSubConnection } from '../../../packages/server/src/engine/redis-fanout.js';
import { RedisKeys } from '../../../packages/server/src/engine/redis-keys.js';
import { captureLog } from '../../helpers/log-capture.js';

/** A pub/sub connection that records calls and refuses them while `down`. */
class FakeConnection implements PubSubConnection {
  readonly calls: string[][] = [];
  down = false;

  subscribe(...channels: string[]): Promise<unknown> {
    return this.#call('subscribe', channels);
  }
  unsubscribe(...channels: string[]): Promise<unknown> {
    return this.#call('unsubscribe', channels);
  }
  ping(): Promise<unknown> {
    return this.#call('ping', []);
  }
  #call(kind: string, channels: string[]): Promise<unknown> {
    this.calls.push([kind, ...channels]);
    return this.down ? Promise.reject(new Error("Stream isn't writeable")) : Promise.resolve('OK');
  }
}

const keys = new RedisKeys('t:');
const request = (user: string, run: string) => JSON.stringify({ type: 'cancel', user_id: user, run_id: run });

function make() {
  const connection = new FakeConnection();
  const { log: logger, lines: logs } = captureLog('info');
  return { connection, logs, control: new RedisControl({ connection, keys, logger }) };
}

describe('RedisControl', () => {
  it('subscribes one channel per node, whatever its listeners, and leaves it with the last', async () => {
    const { connection, control } = make();
    const got: string[] = [];
    const stopA = await control.listen('node-a', (u, r) => got.push(`1:${u}/${r}`));
    const stopB = await control.listen('node-a', (u, r) => got.push(`2:${u}/${r}`));
    expect(connection.calls).toEqual([['subscribe', 't:node:node-a']]);
    expect(control.nodeCount).toBe(1);
    expect(control.onMessage('t:node:node-a', request('alice', 'r1'))).toBe(true);
    expect(got).toEqual(['1:alice/r1', '2:alice/r1']);
    await stopA();
    await stopA();
    expect(connection.calls).toHaveLength(1);
    await stopB();
    expect(connection.calls).toEqual([
      ['subscribe', 't:node:node-a'],
      ['unsubscribe', 't:node:node-a'],
    ]);
    expect(control.nodeCount).toBe(0);
  });

  it('hands user disconnects on the shared channel to every disconnect listener, and nothing else', async () => {
    const { connection, control, logs } = make();
    const got: unknown[] = [];
    const stop = await control.listenDisconnects((request) => got.push(request));
    const cancels: string[] = [];
    await control.listen('node-a', (u, r) => cancels.push(`${u}/${r}`));
    expect(connection.calls[0]).toEqual(['subscribe', 't:users:disconnect']);
    const disconnect = { type: 'disconnect', user_id: 'alice', reason: 'bye', revoke_before: 1700 };
    expect(control.onMessage('t:users:disconnect', JSON.stringify(disconnect))).toBe(true);
    expect(
      control.onMessage('t:users:disconnect', JSON.stringify({ type: 'disconnect', user_id: 'bob' })),
    ).toBe(true);
    expect(got).toEqual([
      { userId: 'alice', reason: 'bye', revokeBefore: 1700 },
      { userId: 'bob', reason: undefined, revokeBefore: undefined },
    ]);
    // A disconnect on a node's channel is not a cancel, and a malformed one is reported, not delivered.
    expect(control.onMessage('t:node:node-a', JSON.stringify(disconnect))).toBe(true);
    expect(cancels).toEqual([]);
    for (const bad of [
      { ...disconnect, reason: 5 },
      { ...disconnect, revoke_before: '1' },
      { type: 'x', user_id: 'a' },
    ]) {
      control.onMessage('t:users:disconnect', JSON.stringify(bad));
    }
    expect(got).toHaveLength(2);
    expect(logs.filter((l) => l.msg === 'unreadable message on a node control channel')).toHaveLength(3);
    await stop();
    // Not held any more, the channel is still recognised as a control channel (never the fan-out's).
    expect(control.onMessage('t:users:disconnect', JSON.stringify(disconnect))).toBe(true);
  });

  it('leaves user channels to the fan-out, and drops a late message of a node it no longer holds', () => {
    const { control } = make();
    expect(control.onMessage(keys.channel('alice'), '{}')).toBe(false);
    expect(control.onMessage('t:node:gone', request('alice', 'r1'))).toBe(true);
  });

  it('logs an unreadable message and goes on', async () => {
    const { control, logs } = make();
    const got: string[] = [];
    await control.listen('node-a', (u, r) => got.push(`${u}/${r}`));
    for (const bad of ['nope', '[]', '{"type":"stop","user_id":"a","run_id":"r"}', '{"type":"cancel"}']) {
      expect(control.onMessage('t:node:node-a', bad)).toBe(true);
    }
    control.onMessage('t:node:node-a', request('alice', 'r1'));
    expect(got).toEqual(['alice/r1']);
    expect(logs.filter((l) => l.channel === 't:node:node-a')).toHaveLength(4);
  });

  it('keeps a listener whose channel could not be subscribed, and resolves once a reconnect subscribes it', async () => {
    const { connection, control } = make();
    connection.down = true;
    let resolved = false;
    const listening = control
      .listen('node-a', () => undefined)
      .then((stop) => {
        resolved = true;
        return stop;
      });
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    connection.down = false;
    await control.resubscribeAll();
    await listening;
    expect(resolved).toBe(true);
    expect(connection.calls).toEqual([
      ['subscribe', 't:node:node-a'],
      ['subscribe', 't:node:node-a'],
    ]);
  });

  it('keeps listening when a listener throws, and reports it', async () => {
    const { control, logs } = make();
    const got: string[] = [];
    await control.listen('node-a', () => {
      throw new Error('bug');
    });
    await control.listen('node-a', (u, r) => got.push(`${u}/${r}`));
    control.onMessage('t:node:node-a', request('alice', 'r1'));
    expect(got).toEqual(['alice/r1']);
    expect(logs.some((l) => l.msg === 'cancel listener threw' && l.run_id === 'r1')).toBe(true);
  });
});
