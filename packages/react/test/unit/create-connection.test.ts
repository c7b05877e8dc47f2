import { AgentcastClient, type WebSocketLike } from '@agentcast/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createConnection } from '../../src/create-connection.js';
import { SharedClient } from '../../src/tabs/shared-client.js';

class NoSocket implements WebSocketLike {
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  send(): void {}
  close(): void {}
}

const options = {
  url: 'ws://127.0.0.1:9/ws',
  getToken: () => new Promise<string>(() => undefined),
  WebSocket: NoSocket,
};

/** A lock manager that never grants: the tab stays a follower and opens nothing. */
const locks = { request: vi.fn(() => new Promise(() => undefined)) };

describe('createConnection', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    locks.request.mockClear();
  });

  it('gives a client of its own without shareAcrossTabs', async () => {
    vi.stubGlobal('navigator', { locks });
    const client = createConnection(options, false, undefined);
    expect(client).toBeInstanceOf(AgentcastClient);
    expect(locks.request).not.toHaveBeenCalled();
    await client.close();
  });

  it.each([
    ['Web Locks are missing', undefined, true],
    ['BroadcastChannel is missing', { locks }, false],
  ])('falls back to a client per tab when %s', async (_, navigator, hasChannel) => {
    vi.stubGlobal('navigator', navigator);
    if (!hasChannel) vi.stubGlobal('BroadcastChannel', undefined);
    const client = createConnection(options, true, undefined);
    expect(client).toBeInstanceOf(AgentcastClient);
    await client.close();
  });

  it('shares across tabs where both exist, named after the URL or the given name, resuming where told', async () => {
    vi.stubGlobal('navigator', { locks });
    const channels: string[] = [];
    vi.stubGlobal(
      'BroadcastChannel',
      class {
        onmessage = null;
        constructor(name: string) {
          channels.push(name);
        }
        postMessage(): void {}
        close(): void {}
      },
    );
    const a = createConnection(options, true, { epoch: 'e1', seq: 4 });
    const b = createConnection(options, { name: 'user-42' }, undefined);
    expect(a).toBeInstanceOf(SharedClient);
    expect(b).toBeInstanceOf(SharedClient);
    expect(channels).toEqual(['agentcast.v2:ws://127.0.0.1:9/ws', 'agentcast.v2:user-42']);
    expect(locks.request.mock.calls.map((c) => (c as unknown[])[0])).toEqual(channels);
    expect([a.epoch, a.lastSeq]).toEqual(['e1', 4]);
    await Promise.all([a.close(), b.close()]);
  });
});
