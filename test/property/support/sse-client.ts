import { EventEmitter } from 'node:events';
import { type ClientRequest, request } from 'node:http';
import type { Frame } from '../../helpers/gateway-harness.js';

/**
 * A Server-Sent Events connection with the surface of the harness's WebSocket `Client` that the delivery
 * property uses (docs/protocol.md H): `frames` holds every frame of the stream, `ws` emits 'message' and
 * 'close', `closeCode` is the STREAM_CLOSED frame's `close_code` (1006 when the stream just ended), and
 * `send` turns `user_message` and `cancel` frames into the user's HTTP routes, whose answers arrive in
 * `frames` as the `ack` or `error` a WebSocket would have sent.
 */
export class SseClient {
  readonly frames: Frame[] = [];
  readonly ws = new SseSocketEvents(this);
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  readonly #base: string;
  readonly #token: string;
  readonly #req: ClientRequest;
  #resolveClosed: (code: number) => void = () => undefined;
  #pending = '';

  constructor(baseUrl: string, token: string, query: string, headers: Record<string, string>) {
    this.#base = baseUrl;
    this.#token = token;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#req = request(
      `${baseUrl}/v1/events${query}`,
      { headers: { Authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.#parse(chunk));
        res.on('close', () => this.#closeWith(1006));
      },
    );
    this.#req.on('error', () => this.#closeWith(1006));
    this.#req.end();
  }

  send(frame: { type: string; id?: string; data: Record<string, string> }): void {
    const { id } = frame;
    const call =
      frame.type === 'user_message'
        ? this.#post('/v1/messages', { id, ...frame.data })
        : this.#post(`/v1/runs/${encodeURIComponent(frame.data.run_id as string)}/cancel`, undefined);
    void call.then(({ status, json }) => {
      if (status < 300) {
        const data = frame.type === 'cancel' ? { run_id: frame.data.run_id } : json;
        this.#push({ type: 'ack', id, data } as Frame);
      } else
        this.#push({ type: 'error', id, data: (json as { error: Record<string, unknown> }).error } as Frame);
    });
  }

  /** Waits for the end of the stream and returns its close code. */
  closedWith(): Promise<number> {
    return this.closed;
  }

  /** Drops the stream (the client went away). */
  drop(): void {
    this.#req.destroy();
  }

  async #post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.#base}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.#token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  #parse(chunk: string): void {
    this.#pending += chunk;
    for (let at = this.#pending.indexOf('\n\n'); at !== -1; at = this.#pending.indexOf('\n\n')) {
      const block = this.#pending.slice(0, at);
      this.#pending = this.#pending.slice(at + 2);
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data === undefined) continue;
      const frame = JSON.parse(data.slice(6)) as Frame;
      const closing = frame.type === 'error' && (frame.data as { code?: string }).code === 'STREAM_CLOSED';
      if (closing) this.#closeWith((frame.data as { close_code: number }).close_code);
      else this.#push(frame);
    }
  }

  #push(frame: Frame): void {
    this.frames.push(frame);
    this.ws.emit('message');
  }

  #closeWith(code: number): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.#req.destroy();
    this.ws.emit('close');
    this.#resolveClosed(code);
  }
}

/** The `ws` of an SseClient: its events, and close/terminate both drop the stream. */
class SseSocketEvents extends EventEmitter {
  readonly #client: SseClient;
  constructor(client: SseClient) {
    super();
    this.#client = client;
  }
  close(_code?: number): void {
    this.#client.drop();
  }
  terminate(): void {
    this.#client.drop();
  }
}
