import type { WebSocketConstructor, WebSocketLike } from '../../../packages/client/src/web-socket-like.js';

type Frame = Record<string, unknown>;

/**
 * An in-memory WebSocket for the client's state-machine tests. The test plays the server: `open()`,
 * `receive()`, `welcome()`, `serverClose()`; `sent` holds what the client sent, parsed.
 */
export class FakeWebSocket implements WebSocketLike {
  readonly url: URL;
  readonly protocols: string[];
  readonly sentText: string[] = [];
  /** close() calls made by the client. */
  readonly closeCalls: { code: number | undefined; reason: string | undefined }[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  #open = false;

  constructor(url: string, protocols: string[]) {
    this.url = new URL(url);
    this.protocols = protocols;
  }

  get sent(): Frame[] {
    return this.sentText.map((text) => JSON.parse(text) as Frame);
  }

  send(data: string): void {
    if (!this.#open) throw new Error('InvalidStateError: send() before open');
    this.sentText.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
  }

  /** The handshake completed. */
  open(): void {
    this.#open = true;
    this.onopen?.({});
  }

  /** The server sends a frame (an object is JSON-encoded). */
  receive(frame: Frame | string | ArrayBuffer): void {
    this.onmessage?.({
      data: typeof frame === 'object' && !(frame instanceof ArrayBuffer) ? JSON.stringify(frame) : frame,
    });
  }

  /** Opens (if needed) and sends a welcome frame. */
  welcome(data: { epoch?: string; seq?: number; resume?: 'none' | 'ok' | 'reset' | 'snapshot' } = {}): void {
    if (!this.#open) this.open();
    this.receive({
      type: 'welcome',
      data: {
        connection_id: 'c_1',
        user_id: 'u1',
        server_id: 'node-a',
        epoch: data.epoch ?? 'e1',
        seq: data.seq ?? 0,
        heartbeat_ms: 25_000,
        resume: data.resume ?? 'none',
      },
    });
  }

  /** The server sends an event frame. */
  event(seq: number, type = 'agent_thinking', epoch = 'e1', extra: Frame = {}): void {
    this.receive({
      type,
      seq,
      epoch,
      ts: '2026-01-01T00:00:00.000Z',
      run_id: 'r1',
      data: { reasoning: `#${seq}` },
      ...extra,
    });
  }

  /** The connection ends with `code` (server close or network loss). */
  serverClose(code: number, reason = ''): void {
    this.#open = false;
    this.onclose?.({ code, reason });
  }
}

/** A WebSocket constructor that records every socket it creates. */
export class FakeSockets {
  readonly all: FakeWebSocket[] = [];
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const all = this.all;
    this.WebSocket = class extends FakeWebSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        all.push(this);
      }
    };
  }

  /** The most recent socket; fails the test if there is none. */
  get last(): FakeWebSocket {
    const ws = this.all.at(-1);
    if (ws === undefined) throw new Error('no socket was created');
    return ws;
  }
}

/** A JWT-shaped token (unsigned: the client never verifies) with the given claims. */
export function makeJwt(claims: Frame): string {
  const part = (obj: Frame) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.sig`;
}
