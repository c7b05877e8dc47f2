import { createServer, request, type Server } from 'node:http';
import { type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  type AgentcastClient,
  type AgentEvent,
  type ConnectOptions,
  connect,
  type WebSocketConstructor,
} from '../../../packages/client/src/index.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';

const WAIT = { timeout: 15_000, interval: 10 } as const;
const FAST: Partial<ConnectOptions> = { heartbeat: false, backoff: { initialMs: 20, maxMs: 200 } };

/**
 * An HTTP proxy in front of a gateway that passes plain requests (the SSE stream, POSTs) and, while
 * `refuseUpgrades` is set, cuts every WebSocket upgrade the way a proxy that does not carry WebSockets
 * does: the socket is dropped, no 101. Loopback only.
 */
class UpgradeGate {
  refuseUpgrades = true;
  upgrades = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<UpgradeGate> {
    const server = createServer();
    const gate = new UpgradeGate(server);
    server.on('connection', (socket) => gate.#track(socket));
    server.on('request', (req, res) => {
      const upstream = request(
        { host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      // A client that goes away (an aborted stream) takes its upstream request with it.
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    server.on('upgrade', (req, socket: Socket, head: Buffer) => {
      gate.upgrades += 1;
      if (gate.refuseUpgrades) {
        socket.destroy();
        return;
      }
      const upstream = tcpConnect(targetPort, '127.0.0.1', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        upstream.write(head);
        socket.pipe(upstream).pipe(socket);
      });
      gate.#track(upstream);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return gate;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return address.port;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('the client SDK over Server-Sent Events (docs/protocol.md H, docs/client.md)', () => {
  let gateway: Harness | undefined;
  let gate: UpgradeGate | undefined;
  let client: AgentcastClient | undefined;

  afterEach(async () => {
    await client?.close();
    await gate?.close();
    await gateway?.close();
  });

  function open(
    port: number,
    options: Partial<ConnectOptions>,
  ): { client: AgentcastClient; events: AgentEvent[] } {
    const g = gateway as Harness;
    const events: AgentEvent[] = [];
    client = connect({
      url: `ws://127.0.0.1:${port}/ws`,
      getToken: () => g.token('u1'),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      ...FAST,
      ...options,
    });
    client.on('*', (event) => events.push(event));
    return { client, events };
  }

  function publish(from: number, to: number) {
    const events = [];
    for (let n = from; n <= to; n += 1) events.push({ user_id: 'u1', type: 'notification', data: { n } });
    return (gateway as Harness).publish({ events });
  }

  it("transport 'sse': events, sendMessage and cancel over fetch streaming and the user's HTTP routes", async () => {
    gateway = await startGateway({ demoDelayMs: 200 });
    const { client: c, events } = open(gateway.port, { transport: 'sse' });
    await vi.waitFor(() => expect(c.state).toBe('open'), WAIT);
    await publish(1, 3);
    await vi.waitFor(() => expect(events.map((e) => e.seq)).toEqual([1, 2, 3]), WAIT);
    const ack = await c.sendMessage('hello', { id: 'm1' });
    expect(ack.duplicate).toBe(false);
    expect((await c.sendMessage('hello', { id: 'm1' })).runId).toBe(ack.runId);
    await vi.waitFor(() => expect(events.some((e) => e.type === 'agent_started')).toBe(true), WAIT);
    await c.cancel(ack.runId);
    await vi.waitFor(() => {
      const done = events.filter((e) => e.type === 'agent_completed');
      expect(done.map((e) => (e.data as { status: string }).status)).toEqual(['cancelled']);
    }, WAIT);
    await expect(c.cancel('r_nobody')).rejects.toMatchObject({ serverCode: 'NOT_FOUND' });
  });

  it("transport 'auto': behind a proxy that refuses upgrades it ends up on SSE and gets everything; once upgrades pass it returns to WebSocket", async () => {
    gateway = await startGateway();
    gate = await UpgradeGate.start(gateway.port);
    const { client: c, events } = open(gate.port, { websocketRetryMs: 300 });
    await vi.waitFor(() => expect(c.state).toBe('open'), WAIT);
    expect(gate.upgrades).toBe(2);
    await publish(1, 20);
    await vi.waitFor(() => expect(events).toHaveLength(20), WAIT);
    // Upgrades pass again: the client leaves SSE for WebSocket on its own and resumes where it was.
    gate.refuseUpgrades = false;
    const upgradesBefore = gate.upgrades;
    await vi.waitFor(() => expect(gate?.upgrades).toBeGreaterThan(upgradesBefore), WAIT);
    await vi.waitFor(() => expect(c.state).toBe('open'), WAIT);
    await publish(21, 40);
    await vi.waitFor(() => expect(events).toHaveLength(40), WAIT);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // The SSE stream it left is gone: one session, the WebSocket.
    await vi.waitFor(() => expect(gateway?.gateway.stats().connections).toBe(1), WAIT);
  });
});
