import { once } from 'node:events';
import WebSocket from 'ws';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import type { Config } from '../../packages/server/src/config/config.js';
import { loadConfig } from '../../packages/server/src/config/load-config.js';
import { createGateway, type Gateway, type GatewayDeps } from '../../packages/server/src/gateway/gateway.js';
import { silentLogger } from '../../packages/server/src/observability/logger.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256!';
export const TEST_API_KEY = 'test-api-key-0123456789';

/** A gateway on a free loopback port with the memory engine, and ways to talk to it. */
export interface Harness {
  readonly gateway: Gateway;
  readonly port: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  token(userId: string, ttlS?: number): Promise<string>;
  /** Opens a connection with `token` in the Authorization header; waits for nothing. */
  open(token: string, query?: string): Client;
  /** Opens an authenticated connection (token in the Authorization header) and waits for its welcome. */
  connect(userId: string, options?: { query?: string; headers?: Record<string, string> }): Promise<Client>;
  publish(body: unknown): Promise<{ status: number; json: unknown }>;
  close(): Promise<void>;
}

/** The configuration of a test gateway: env test, loopback, port 0, the test secret and API key. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({
    overrides: {
      env: 'test',
      port: 0,
      host: '127.0.0.1',
      jwtSecret: TEST_SECRET,
      apiKey: TEST_API_KEY,
      demoDelayMs: 0,
      // In-process tests drain at once; the delay itself is tested through the real process.
      drainDelayMs: 0,
      ...overrides,
    },
  });
}

export async function startGateway(
  overrides: Partial<Config> = {},
  deps: GatewayDeps = {},
): Promise<Harness> {
  const config = testConfig(overrides);
  const gateway = createGateway(config, { log: silentLogger(), ...deps });
  const { port } = await gateway.listen();
  const wsUrl = `ws://127.0.0.1:${port}/ws`;
  const httpUrl = `http://127.0.0.1:${port}`;
  const clients: Client[] = [];
  const harness: Harness = {
    gateway,
    port,
    wsUrl,
    httpUrl,
    token: (userId, ttlS = 3600) => signToken(config.jwtSecret ?? TEST_SECRET, userId, ttlS),
    open(token, query = '') {
      const client = Client.open(`${wsUrl}${query}`, { headers: { Authorization: `Bearer ${token}` } });
      clients.push(client);
      return client;
    },
    async connect(userId, options = {}) {
      const token = await harness.token(userId);
      const client = Client.open(`${wsUrl}${options.query ?? ''}`, {
        headers: { Authorization: `Bearer ${token}`, ...options.headers },
      });
      clients.push(client);
      await client.next('welcome');
      return client;
    },
    async publish(body) {
      const res = await fetch(`${httpUrl}/v1/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    },
    async close() {
      for (const c of clients) c.ws.terminate();
      await gateway.close();
    },
  };
  return harness;
}

/** A parsed server frame. */
export interface Frame {
  readonly type: string;
  readonly seq?: number;
  readonly epoch?: string;
  readonly id?: string | number;
  readonly run_id?: string;
  readonly data?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/**
 * A real `ws` client that queues every frame it receives, so a test can await the next frame of a type
 * without sleeping; timeouts name what was awaited.
 */
export class Client {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  #read = 0;
  #waiters: Array<() => void> = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      // The protocol sends only text frames; a binary one is recorded as such so assertions fail.
      this.frames.push(isBinary ? { type: 'BINARY_FRAME' } : (JSON.parse(data.toString()) as Frame));
      this.#wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.#wake();
        resolve(code);
      });
    });
    ws.on('error', () => undefined); // surfaced through `closed` and failed expectations
  }

  static open(url: string, options: WebSocket.ClientOptions & { protocols?: string[] } = {}): Client {
    return new Client(new WebSocket(url, options.protocols ?? [], options));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the next unread frame (of `type`, skipping others when given). */
  async next(type?: string, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#read < this.frames.length) {
        const frame = this.frames[this.#read++] as Frame;
        if (type === undefined || frame.type === type) return frame;
      }
      if (this.closeCode !== undefined)
        throw new Error(`waited for ${type ?? 'a frame'} but the socket closed with ${this.closeCode}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${type ?? 'a frame'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` events (frames with a seq) have arrived; returns all events so far. */
  async events(count: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = this.frames.filter((f) => typeof f.seq === 'number');
      if (events.length >= count) return events;
      if (this.closeCode !== undefined)
        throw new Error(`waited for ${count} events, have ${events.length}; closed with ${this.closeCode}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${count} events, have ${events.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await once(this.ws, 'open');
  }

  /** Waits for the close; its code and reason (docs/protocol.md, "Close reasons"). */
  async closure(timeoutMs = 5000): Promise<{ readonly code: number; readonly reason: string }> {
    const code = await this.closedWith(timeoutMs);
    return { code, reason: this.closeReason };
  }

  /** Waits for the close and returns its code. */
  async closedWith(timeoutMs = 5000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for close`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
