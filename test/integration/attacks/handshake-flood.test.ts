import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../../packages/server/src/protocol/close-codes.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';

/**
 * docs/protocol.md C: one address may hold at most max_handshakes_per_ip connections that have not got
 * past auth, and a connection that never got its welcome loses its socket right after its close frame.
 * The attacker here connects from 127.0.0.2, upgrades without a token, then never authenticates and
 * never answers a close frame; the legitimate user comes from 127.0.0.1.
 */

const ATTACKER = '127.0.0.2';

/** A peer that upgrades and then only listens: it reads everything, answers nothing. */
class SilentPeer {
  readonly socket: Socket;
  #received = Buffer.alloc(0);
  readonly ended: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
    });
    socket.on('error', () => undefined);
    this.ended = once(socket, 'close').then(() => undefined);
  }

  /** Connects from `localAddress`, sends an upgrade without a token, resolves with the answer's status. */
  static async upgrade(port: number, localAddress: string): Promise<{ peer: SilentPeer; status: number }> {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const peer = new SilentPeer(socket);
    await once(socket, 'connect');
    socket.write(
      [
        'GET /ws HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: agentcast.v1',
        '',
        '',
      ].join('\r\n'),
    );
    for (;;) {
      const head = peer.#received.toString('latin1');
      if (head.includes('\r\n\r\n')) return { peer, status: Number(head.split(' ')[1]) };
      await Promise.race([once(socket, 'data'), peer.ended]);
      if (socket.destroyed && !peer.#received.toString('latin1').includes('\r\n\r\n'))
        throw new Error('closed before answering the upgrade');
    }
  }

  /** The code of the close frame the server sent after the 101, if one arrived (unmasked, RFC 6455 §5.5.1). */
  closeCode(): number | undefined {
    const text = this.#received;
    const start = text.indexOf('\r\n\r\n') + 4;
    const frame = text.subarray(start);
    if (frame.length < 4 || ((frame[0] as number) & 0x0f) !== 0x8) return undefined;
    return frame.readUInt16BE(2);
  }
}

describe('one address flooding unauthenticated connections (issue 13, finding 4)', () => {
  let h: Harness | undefined;
  const peers: SilentPeer[] = [];

  afterEach(async () => {
    for (const p of peers.splice(0)) p.socket.destroy();
    await h?.close();
    h = undefined;
  });

  it('gets at most max_handshakes_per_ip sockets (429 for the rest) while a user from another address gets in', async () => {
    h = await startGateway({ maxConnections: 20, maxHandshakesPerIp: 5, authTimeoutMs: 60_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { peer, status } = await SilentPeer.upgrade(h.port, ATTACKER);
      peers.push(peer);
      statuses.push(status);
    }
    expect(statuses.filter((s) => s === 101)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    expect(
      await metricValue(h.gateway.metrics, 'agentcast_upgrade_rejections_total', {
        reason: 'too_many_handshakes',
      }),
    ).toBe(25);
    const user = await h.connect('legit');
    expect(user.frames[0]).toMatchObject({ type: 'welcome', data: { user_id: 'legit' } });
  });

  it('a peer that never authenticates is sent 4003 and loses its socket without its close reply; the address may then try again', async () => {
    h = await startGateway({ maxHandshakesPerIp: 2, authTimeoutMs: 200 });
    const first = await SilentPeer.upgrade(h.port, ATTACKER);
    const second = await SilentPeer.upgrade(h.port, ATTACKER);
    peers.push(first.peer, second.peer);
    expect([first.status, second.status]).toEqual([101, 101]);
    // ws would wait 30 s for a close reply that never comes; the test's 20 s timeout catches that.
    await Promise.all([first.peer.ended, second.peer.ended]);
    expect(first.peer.closeCode()).toBe(CloseCode.AuthTimeout);
    expect(second.peer.closeCode()).toBe(CloseCode.AuthTimeout);
    const again = await SilentPeer.upgrade(h.port, ATTACKER);
    peers.push(again.peer);
    expect(again.status).toBe(101);
  });

  it('a forged token closes 4001 and the socket goes at once; an authenticated connection no longer counts', async () => {
    h = await startGateway({ maxHandshakesPerIp: 1 });
    const forged = h.open('not-a-jwt');
    expect(await forged.closedWith()).toBe(CloseCode.Unauthorized);
    // The one handshake of 127.0.0.1 was given back by the close, and again by each welcome.
    const a = await h.connect('a');
    const b = await h.connect('b');
    expect([a.frames[0]?.type, b.frames[0]?.type]).toEqual(['welcome', 'welcome']);
  });
});
