import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  HttpSocketLimit,
  type LimitedSocket,
} from '../../../packages/server/src/gateway/http-socket-limit.js';
import { captureLog } from '../../helpers/log-capture.js';

/** A socket that records what the limit wrote and whether it was destroyed. */
class FakeSocket extends EventEmitter {
  written = '';
  destroyed = false;
  constructor(readonly remoteAddress: string | undefined) {
    super();
  }
  end(chunk?: string): this {
    this.written += chunk ?? '';
    setImmediate(() => this.emit('finish')); // like a socket: flushed later

    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close');
    }
    return this;
  }
}

function make(maxSockets: number, maxPerIp: number, exempt: readonly string[] = []) {
  const { log, lines } = captureLog('info');
  const limit = new HttpSocketLimit({
    maxSockets,
    maxPerIp,
    exempt: (a) => exempt.includes(a),
    log,
    now: () => 0,
  });
  const admit = (address: string | undefined) => {
    const socket = new FakeSocket(address);
    return { socket, refusal: limit.admit(socket as unknown as LimitedSocket) };
  };
  return { limit, admit, lines };
}

describe('HttpSocketLimit', () => {
  it('refuses an address over its cap with a 503 and closes it; other addresses are served', async () => {
    const { limit, admit, lines } = make(100, 2);
    expect(admit('10.0.0.1').refusal).toBeUndefined();
    expect(admit('10.0.0.1').refusal).toBeUndefined();
    const third = admit('10.0.0.1');
    expect(third.refusal).toBe('per_ip');
    expect(third.socket.written).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(third.socket.written).toContain('Connection: close');
    expect(third.socket.written).toContain('Retry-After: 1');
    expect(third.socket.written).toContain('"code":"UNAVAILABLE"');
    await new Promise((resolve) => setImmediate(resolve));
    expect(third.socket.destroyed).toBe(true);
    expect(admit('10.0.0.2').refusal).toBeUndefined();
    expect(limit.size).toBe(3);
    expect(limit.heldBy('10.0.0.1')).toBe(2);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, reason: 'per_ip' }));
  });

  it('counts one address whatever its spelling (IPv4-mapped IPv6 is IPv4)', () => {
    const { admit, limit } = make(100, 1);
    expect(admit('1.2.3.4').refusal).toBeUndefined();
    expect(admit('::ffff:1.2.3.4').refusal).toBe('per_ip');
    expect(limit.heldBy('::ffff:102:304')).toBe(1);
  });

  it('refuses any address once the node holds --max-http-sockets, even an exempt one', () => {
    const { admit } = make(2, 10, ['10.9.9.9']);
    admit('10.0.0.1');
    admit('10.0.0.2');
    expect(admit('10.0.0.3').refusal).toBe('total');
    expect(admit('10.9.9.9').refusal).toBe('total');
  });

  it('exempts trusted proxies from the per-address cap', () => {
    const { admit } = make(100, 1, ['10.9.9.9']);
    for (let i = 0; i < 5; i += 1) expect(admit('10.9.9.9').refusal).toBeUndefined();
  });

  it('frees a place when a socket closes or is released (upgraded), once', () => {
    const { admit, limit } = make(100, 1);
    const first = admit('10.0.0.1');
    first.socket.destroy();
    expect(limit.heldBy('10.0.0.1')).toBe(0);
    const second = admit('10.0.0.1');
    limit.release(second.socket as unknown as LimitedSocket);
    limit.release(second.socket as unknown as LimitedSocket);
    second.socket.destroy(); // an upgraded socket that closes later is not counted twice
    expect(limit.size).toBe(0);
    expect(admit('10.0.0.1').refusal).toBeUndefined();
    expect(admit('10.0.0.1').refusal).toBe('per_ip');
  });

  it('counts a socket without an address under one key', () => {
    const { admit } = make(100, 1);
    expect(admit(undefined).refusal).toBeUndefined();
    expect(admit(undefined).refusal).toBe('per_ip');
  });
});
