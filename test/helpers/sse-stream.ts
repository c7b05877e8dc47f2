import { request } from 'node:http';
import type { Frame } from './gateway-harness.js';

/** One dispatched SSE message, as the raw bytes said it: its `id:` (if any) and its `data:` text. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly data: string;
  readonly frame: Frame;
}

/**
 * A raw Server-Sent Events reader over node:http (no SSE library): it keeps every byte of the body and
 * parses it by the WHATWG rules the gateway relies on (one `data:` line per message, `:` comments,
 * `id:` and `retry:` fields), so a test can assert the exact wire. Await messages, never sleep.
 */
export class SseStream {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The body as received so far (for a non-200 answer, the whole JSON body once ended). */
  raw = '';
  readonly messages: SseMessage[] = [];
  comments = 0;
  retry: number | undefined;
  ended = false;
  readonly #destroy: () => void;
  readonly #res: import('node:http').IncomingMessage;
  #read = 0;
  #pending = '';
  #waiters: Array<() => void> = [];

  private constructor(res: import('node:http').IncomingMessage, destroy: () => void) {
    this.status = res.statusCode ?? 0;
    this.headers = res.headers;
    this.#destroy = destroy;
    this.#res = res;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.raw += chunk;
      if (this.status === 200) this.#parse(chunk);
      this.#wake();
    });
    const end = (): void => {
      this.ended = true;
      this.#wake();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  }

  /** Opens `GET url` with `headers`; resolves once the status and headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        resolve(new SseStream(res, () => req.destroy()));
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** The JSON body of a refused request, once it ended. */
  async json(): Promise<unknown> {
    await this.#until(() => this.ended, 'the end of the body', 5000);
    return JSON.parse(this.raw);
  }

  /** The next unread message (of frame `type` when given, skipping others). */
  async next(type?: string, timeoutMs = 5000): Promise<SseMessage> {
    let found: SseMessage | undefined;
    await this.#until(
      () => {
        while (this.#read < this.messages.length) {
          const message = this.messages[this.#read++] as SseMessage;
          if (type === undefined || message.frame.type === type) {
            found = message;
            return true;
          }
        }
        return false;
      },
      type ?? 'a message',
      timeoutMs,
    );
    return found as SseMessage;
  }

  /** Waits until `count` events (messages whose frame has a seq) arrived; returns them. */
  async events(count: number, timeoutMs = 10_000): Promise<SseMessage[]> {
    const events = (): SseMessage[] => this.messages.filter((m) => typeof m.frame.seq === 'number');
    await this.#until(() => events().length >= count, `${count} events`, timeoutMs);
    return events();
  }

  /** Waits until `count` comment lines arrived. */
  async commentsReach(count: number, timeoutMs = 5000): Promise<void> {
    await this.#until(() => this.comments >= count, `${count} comment lines`, timeoutMs);
  }

  /** Waits until the server ended the body. */
  async end(timeoutMs = 5000): Promise<void> {
    await this.#until(() => this.ended, 'the end of the stream', timeoutMs);
  }

  close(): void {
    this.#destroy();
  }

  /** Stops reading: the kernel's buffers fill and the server's writes queue up (a slow consumer). */
  pause(): void {
    this.#res.pause();
  }

  resume(): void {
    this.#res.resume();
  }

  #parse(chunk: string): void {
    this.#pending += chunk;
    for (let at = this.#pending.indexOf('\n\n'); at !== -1; at = this.#pending.indexOf('\n\n')) {
      const block = this.#pending.slice(0, at);
      this.#pending = this.#pending.slice(at + 2);
      let id: string | undefined;
      let data: string | undefined;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments += 1;
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: '))
          data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`;
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
        else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`);
      }
      if (data !== undefined) this.messages.push({ id, data, frame: JSON.parse(data) as Frame });
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.ended)
        throw new Error(`waited for ${what} but the stream ended; body so far: ${this.raw.slice(-300)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
