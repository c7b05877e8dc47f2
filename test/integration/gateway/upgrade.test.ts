import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rejectUpgrade } from '../../../packages/server/src/gateway/upgrade-rejection.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';

/**
 * The upgrade path below the checks: rejectUpgrade on a real socket pair (the exact bytes, and a socket
 * that does not outlive its answer), and the UpgradeHandler's bookkeeping through a real gateway (the
 * refusal metric, and handshakes that ws refuses after our checks passed).
 */

/** Rejects when `promise` has not settled within `ms`, naming what was awaited. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A raw TCP client that records everything it receives and when the server ended its side. */
interface RawClient {
  readonly socket: Socket;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the server has sent FIN (or the socket closed). */
  readonly ended: Promise<void>;
  /** Resolves with the status of the first response, as soon as its head has arrived. */
  status(): Promise<number>;
}

async function rawClient(port: number): Promise<RawClient> {
  // Half-open allowed: the client never ends its side by itself, like a peer that just stops talking.
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let wake = (): void => undefined;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    wake();
  });
  socket.on('error', () => undefined); // a reset after the answer shows in `ended`
  const ended = new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  const text = (): string => Buffer.concat(chunks).toString('latin1');
  return {
    socket,
    text,
    ended,
    async status() {
      let closed = false;
      void ended.then(() => {
        closed = true;
        wake();
      });
      // Each pass waits for new data or the end: at most one pass per chunk received.
      for (;;) {
        const head = /^HTTP\/1\.1 (\d{3}) /.exec(text());
        if (head !== null && text().includes('\r\n\r\n')) return Number(head[1]);
        if (closed) throw new Error(`the server closed without a response head: ${JSON.stringify(text())}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}

function upgradeRequest(headers: Record<string, string> = {}, path = '/ws'): string {
  const all: Record<string, string> = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

describe('rejectUpgrade', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A connected pair; the server side allows half-open sockets, like node:http's server does. */
  async function socketPair(): Promise<{ serverSide: Socket; client: RawClient }> {
    server = createServer({ allowHalfOpen: true });
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = await rawClient(port);
    const [serverSide] = await accepted;
    sockets.push(serverSide, client.socket);
    return { serverSide, client };
  }

  it('writes one complete HTTP/1.1 answer with the documented code and the extra headers', async () => {
    const { serverSide, client } = await socketPair();
    rejectUpgrade(serverSide, {
      status: 429,
      reason: 'ip_blocked',
      message: 'too many origin violations from this address; retry later',
      headers: { 'Retry-After': '120' },
    });
    await within(client.ended, 2000, 'the end of the answer');
    const body =
      '{"error":{"code":"RATE_LIMITED","message":"too many origin violations from this address; retry later"}}';
    expect(client.text()).toBe(
      'HTTP/1.1 429 Too Many Requests\r\n' +
        'Connection: close\r\n' +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Retry-After: 120\r\n' +
        '\r\n' +
        body,
    );
  });

  it('destroys its side once the answer is flushed, even while the peer keeps its own side open', async () => {
    const { serverSide, client } = await socketPair();
    const closed = once(serverSide, 'close');
    rejectUpgrade(serverSide, { status: 400, reason: 'bad_path', message: 'the WebSocket endpoint is /ws' });
    await within(client.ended, 2000, 'the answer');
    // The client never ends its side: only rejectUpgrade's destroy frees the server's socket.
    expect(client.socket.writableEnded).toBe(false);
    await within(closed, 2000, "the server side's close");
    expect(serverSide.destroyed).toBe(true);
  });

  it('leaves a socket that is already destroyed alone', async () => {
    const { serverSide } = await socketPair();
    serverSide.destroy();
    rejectUpgrade(serverSide, { status: 503, reason: 'at_capacity', message: 'full' });
    expect(serverSide.writableEnded).toBe(false);
    expect(serverSide.listenerCount('finish')).toBe(0);
  });
});

describe('UpgradeHandler', () => {
  let h: Harness | undefined;
  const clients: RawClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await h?.close();
    h = undefined;
  });

  async function client(): Promise<RawClient> {
    const c = await rawClient((h as Harness).port);
    clients.push(c);
    return c;
  }

  it('answers a path other than /ws with 400 and counts it as bad_path', async () => {
    h = await startGateway();
    const c = await client();
    c.socket.write(upgradeRequest({}, '/socket'));
    expect(await within(c.status(), 2000, 'the answer')).toBe(400);
    await within(c.ended, 2000, 'the end of the answer');
    expect(c.text()).toContain('{"error":{"code":"BAD_REQUEST","message":"the WebSocket endpoint is /ws"}}');
    const rejections = 'agentcast_upgrade_rejections_total';
    expect(await metricValue(h.gateway.metrics, rejections, { reason: 'bad_path' })).toBe(1);
  });

  it('frees the slot of a handshake that ws refused once its socket closes', async () => {
    h = await startGateway({ maxConnections: 1 });
    for (let i = 0; i < 3; i++) {
      // Passes our checks (path, origin, subprotocol, resume query) but has no Sec-WebSocket-Key.
      const refused = await client();
      refused.socket.write(upgradeRequest({ 'Sec-WebSocket-Key': '' }));
      expect(await within(refused.status(), 2000, 'the refusal')).toBe(400);
      expect(refused.text()).toContain('Missing or invalid Sec-WebSocket-Key header');
      await within(refused.ended, 2000, 'the end of the refusal');
      const closed = once(refused.socket, 'close');
      refused.socket.end();
      await within(closed, 2000, 'the close of the refused socket');
    }
    const good = await client();
    good.socket.write(upgradeRequest());
    expect(await within(good.status(), 2000, 'the handshake')).toBe(101);
  });

  it('gives back the slot of a finished handshake once, however the connection later ends', async () => {
    h = await startGateway({ maxConnections: 1 });
    const g = h;
    const first = await g.connect('u1');
    first.ws.terminate();
    await first.closedWith();
    // Each pass is one request to the API: bounded, and no sleeping.
    const connections = async (): Promise<number> => {
      const res = await fetch(`${g.httpUrl}/v1/stats`, {
        headers: { Authorization: `Bearer ${TEST_API_KEY}` },
      });
      return ((await res.json()) as { connections: number }).connections;
    };
    for (let i = 0; (await connections()) !== 0; i++) {
      if (i === 100) throw new Error('the terminated connection never left the registry');
    }
    await g.connect('u2');
    const over = await client();
    over.socket.write(upgradeRequest());
    expect(await within(over.status(), 2000, 'the answer past max_connections')).toBe(503);
  });

  it('counts a handshake still being refused by ws against max_connections until its socket closes', async () => {
    h = await startGateway({ maxConnections: 1 });
    const refused = await client();
    const next = await client();
    // Both sockets are accepted before either request is sent (the server accepts in order).
    expect((await fetch(`${h.httpUrl}/healthz`)).status).toBe(200);
    // Sent in one tick: the server reads both in one turn of its loop, the refused handshake first,
    // so the second upgrade is checked while the first still holds its slot.
    refused.socket.write(upgradeRequest({ 'Sec-WebSocket-Key': '' }));
    next.socket.write(upgradeRequest());
    expect(await within(refused.status(), 2000, 'the refusal')).toBe(400);
    expect(await within(next.status(), 2000, 'the second answer')).toBe(503);
    expect(next.text()).toContain('this node is at max_connections; retry later');
  });
});
