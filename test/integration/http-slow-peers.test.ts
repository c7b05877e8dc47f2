import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../packages/server/src/config/config.js';
import { type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';
import { type GatewayProcess, spawnGateway } from '../helpers/gateway-process.js';
import { type RawPeer, rawPeer, within } from '../helpers/raw-peer.js';

// Issue 13, finding 5: slow HTTP peers were unlimited. Raw TCP peers (node:net) against the real gateway on
// port 0, loopback only; other 127.x source addresses stand for other clients. Every loop is bounded in
// count, every wait in time; nothing sleeps.

const publishHead = (headers: Record<string, string | number>) =>
  `POST /v1/publish HTTP/1.1\r\nHost: gw\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

describe('slow HTTP peers (issue 13)', () => {
  let h: Harness | undefined;
  const peers: RawPeer[] = [];

  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.destroy();
    await h?.close();
    h = undefined;
  });

  async function gateway(overrides: Partial<Config>): Promise<Harness> {
    h = await startGateway(overrides);
    return h;
  }

  async function peer(port: number, from?: string): Promise<RawPeer> {
    const p = await rawPeer(port, from);
    peers.push(p);
    return p;
  }

  it('cuts a peer that drips header bytes within --http-headers-timeout-ms, answering 408', async () => {
    const g = await gateway({ httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 2000 });
    const slow = await peer(g.port);
    const start = Date.now();
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n');
    // One more header line every 50 ms: activity must not extend the deadline (at most 100 lines = 5 s).
    slow.drip('X-Drip: a\r\n', 50, 100);
    const { at } = await within(slow.closed, 3000, 'the dripping peer closed by the server');
    expect(at - start).toBeGreaterThanOrEqual(250);
    expect(at - start).toBeLessThan(1500); // 300 ms + one check interval, with room for a loaded machine
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('cuts a request whose body trickles past --http-request-timeout-ms, and stores nothing', async () => {
    const g = await gateway({ httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 600 });
    const slow = await peer(g.port);
    const start = Date.now();
    slow.socket.write(
      publishHead({
        Authorization: `Bearer ${TEST_API_KEY}`,
        'Content-Type': 'application/json',
        'Content-Length': 1000,
      }),
    );
    slow.drip(' ', 50, 100);
    const { at } = await within(slow.closed, 3000, 'the trickling peer closed by the server');
    expect(at - start).toBeLessThan(2000);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect((await g.gateway.engine.head('u1')).seq).toBe(0);
  });

  it('answers an unauthorized publish with a trickling body 401 with Connection: close, and closes the socket', async () => {
    const g = await gateway({}); // default timeouts: the close must come from the 401, not a timeout
    const slow = await peer(g.port);
    slow.socket.write(publishHead({ 'Content-Type': 'application/json', 'Content-Length': 100_000 }));
    slow.socket.write('{"user_id":"u1"');
    slow.drip('x', 50, 200);
    const head = await slow.receivedText('\r\n\r\n', 3000);
    expect(head).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    await within(slow.closed, 2000, 'the socket of the refused publish closed by the server');
  });

  it('answers a chunked unauthorized publish and a wrong key the same way', async () => {
    const g = await gateway({});
    const variants: Record<string, string | number>[] = [
      { 'Transfer-Encoding': 'chunked' },
      { Authorization: 'Bearer wrong-key-0123456789', 'Content-Length': 50_000 },
    ];
    for (const headers of variants) {
      const slow = await peer(g.port);
      slow.socket.write(publishHead(headers));
      slow.drip(headers['Transfer-Encoding'] ? '1\r\nx\r\n' : 'x', 50, 200);
      const head = await slow.receivedText('\r\n\r\n', 3000);
      expect(head).toMatch(/^HTTP\/1\.1 401 /);
      expect(head).toMatch(/\r\nConnection: close\r\n/i);
      await within(slow.closed, 2000, `the refused publish (${Object.keys(headers).join(', ')}) closed`);
    }
  });

  it('answers 413 with Connection: close and closes, without reading the oversized body', async () => {
    const g = await gateway({ maxPublishBytes: 1024 });
    const slow = await peer(g.port);
    slow.socket.write(publishHead({ Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Length': 10_000_000 }));
    slow.drip('x'.repeat(100), 50, 200);
    const head = await slow.receivedText('\r\n\r\n', 3000);
    expect(head).toMatch(/^HTTP\/1\.1 413 /);
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    await within(slow.closed, 2000, 'the socket of the 413 closed by the server');
  });

  it('answers 400 (invalid JSON) with Connection: close', async () => {
    const g = await gateway({});
    const p = await peer(g.port);
    p.socket.write(`${publishHead({ Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Length': 3 })}{x}`);
    const head = await p.receivedText('\r\n\r\n', 3000);
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/\r\nConnection: close\r\n/i);
    await within(p.closed, 2000, 'the socket of the 400 closed by the server');
  });

  it('closes an idle keep-alive socket after --http-keep-alive-timeout-ms', async () => {
    const g = await gateway({ httpKeepAliveTimeoutMs: 200 });
    const p = await peer(g.port);
    p.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    const head = await p.receivedText('{"status":"ok"}', 3000);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(/\r\nConnection: keep-alive\r\n/i);
    await within(p.closed, 2000, 'the idle keep-alive socket closed by the server');
  });

  it('holds at most --max-http-sockets-per-ip plain sockets from one address; /healthz from another still answers', async () => {
    const g = await gateway({ maxHttpSocketsPerIp: 20 });
    // 60 slow peers from 127.0.0.2, each holding a half-sent request.
    const slow = await Promise.all(Array.from({ length: 60 }, () => peer(g.port, '127.0.0.2')));
    for (const s of slow) if (!s.socket.destroyed) s.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n');
    // The 40 over the cap are refused at once: 503, then closed.
    let refused = 0;
    await within(
      new Promise<void>((resolve) => {
        for (const s of slow) {
          void s.closed.then(() => {
            refused += 1;
            if (refused === 40) resolve();
          });
        }
      }),
      3000,
      '40 sockets over the per-IP cap closed',
    );
    const answered = slow.filter((s) => s.received() !== '');
    expect(answered.length).toBeGreaterThan(0);
    for (const s of answered) expect(s.received()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(slow.filter((s) => !s.socket.destroyed)).toHaveLength(20);

    // Another address is served while they hold their 20.
    const res = await fetch(`${g.httpUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    expect(res.status).toBe(200);
    // One more from the capped address is refused; once the slow peers go, it is served again.
    const extra = await peer(g.port, '127.0.0.2');
    await within(extra.closed, 2000, 'a 21st socket from the capped address refused');
    const leaving = slow.filter((s) => !s.socket.destroyed);
    for (const s of leaving) s.socket.destroy();
    await Promise.all(leaving.map((s) => s.closed));
    // The server hears those closes a moment after the peers do: a few attempts, each awaited, at most 20.
    let served = '';
    for (let attempt = 0; attempt < 20 && served === ''; attempt += 1) {
      const again = await peer(g.port, '127.0.0.2');
      if (!again.socket.destroyed)
        again.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
      await within(again.closed, 3000, 'a socket from the formerly capped address answered');
      if (again.received().startsWith('HTTP/1.1 200 ')) served = again.received();
    }
    expect(served).toContain('{"status":"ok"}');
  });

  it('holds at most --max-http-sockets plain sockets in all', async () => {
    const g = await gateway({ maxHttpSockets: 30, maxHttpSocketsPerIp: 20 });
    const first = await Promise.all(Array.from({ length: 20 }, () => peer(g.port, '127.0.0.2')));
    const second = await Promise.all(Array.from({ length: 20 }, () => peer(g.port, '127.0.0.3')));
    const all = [...first, ...second];
    for (const s of all) if (!s.socket.destroyed) s.socket.write('GET /healthz HTTP/1.1\r\n');
    let closed = 0;
    await within(
      new Promise<void>((resolve) => {
        for (const s of all) {
          void s.closed.then(() => {
            closed += 1;
            if (closed === 10) resolve();
          });
        }
      }),
      3000,
      '10 sockets over the global cap closed',
    );
    expect(first.filter((s) => !s.socket.destroyed)).toHaveLength(20);
    expect(second.filter((s) => !s.socket.destroyed)).toHaveLength(10);
  });

  it('leaves WebSocket connections alone: they count neither against the HTTP socket caps nor the request timeout', async () => {
    const g = await gateway({ maxHttpSocketsPerIp: 2, httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 300 });
    const clients = [];
    for (let i = 0; i < 5; i += 1) clients.push(await g.connect(`u${i}`));
    // A dripping peer opened after them is cut once the request timeout has passed for them too.
    const slow = await peer(g.port);
    slow.socket.write('GET /healthz HTTP/1.1\r\n');
    slow.drip('X-Drip: a\r\n', 50, 100);
    await within(slow.closed, 3000, 'the dripping peer cut');
    for (const [i, c] of clients.entries()) {
      c.send({ type: 'ping', id: `p${i}` });
      expect(await c.next('pong')).toMatchObject({ id: `p${i}` });
    }
  });
});

// The reported outage itself: 1,100 slow sockets took /healthz down because the process ran out of file
// descriptors. Scaled down: a gateway process whose descriptor limit is 256, and 300 slow peers from one
// address. Needs dist/ (npm run build) and prlimit (util-linux).
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

describe.skipIf(!hasPrlimit)('a gateway process with few file descriptors (issue 13)', () => {
  let gw: GatewayProcess | undefined;
  const peers: RawPeer[] = [];
  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.destroy();
    gw?.child.kill('SIGKILL');
    if (gw !== undefined) await gw.exited;
    gw = undefined;
  });

  it('still answers /healthz while 300 slow peers from one address try to hold sockets', async () => {
    gw = await spawnGateway([
      '--port',
      '0',
      '--env',
      'test',
      '--jwt-secret',
      'x'.repeat(40),
      '--max-http-sockets-per-ip',
      '64',
    ]);
    const limited = spawnSync('prlimit', ['--pid', String(gw.child.pid), '--nofile=256:256']);
    expect(limited.status).toBe(0);
    const port = gw.port;
    const opened = await Promise.all(
      Array.from({ length: 300 }, () => rawPeer(port, '127.0.0.2').catch(() => undefined)),
    );
    for (const p of opened) {
      if (p === undefined) continue;
      peers.push(p);
      if (!p.socket.destroyed) p.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n');
    }
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    expect(res.status).toBe(200);
    expect(peers.filter((p) => !p.socket.destroyed).length).toBeLessThanOrEqual(64);
  });
});
