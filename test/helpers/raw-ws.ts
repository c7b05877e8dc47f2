import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A server frame as read off the wire: a text message, or the close frame with its code. */
export type RawFrame = { readonly text: string } | { readonly close: number };

/** A masked text frame. */
function textFrame(text: string): Buffer {
  return maskedFrame(0x1, Buffer.from(text, 'utf8'));
}

/** One masked client frame (RFC 6455 §5.2, §5.3): FIN set, `opcode`, `payload`. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
  else if (payload.length <= 0xffff) {
    header = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([header, mask, masked]);
}

/**
 * A WebSocket client on a bare TCP socket, for what a `ws` client cannot do: stop reading altogether
 * (`pause()`: the kernel buffers fill and the server's writes back up, as with a stalled phone), or
 * write several frames in one TCP segment (`sendTexts`), as an attacker pipelining frames behind `auth`
 * would. It decodes every frame the server sent. Server frames are unmasked (RFC 6455 §5.1); only the
 * opcodes the gateway sends are decoded.
 */
export class RawWsReader {
  readonly socket: Socket;
  readonly frames: RawFrame[] = [];
  #buffer = Buffer.alloc(0);
  /** Set until the 101 answer was read; called with it. */
  #upgraded: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
  }

  /**
   * Connects, sends the upgrade with `headers`, and resolves after the 101 answer. `early` text frames
   * go out in the same TCP write as the upgrade request, before any answer.
   */
  static async open(
    port: number,
    path: string,
    headers: Record<string, string>,
    early: readonly string[] = [],
  ): Promise<RawWsReader> {
    const socket = connect({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    const key = randomBytes(16).toString('base64');
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    const reader = new RawWsReader(socket);
    // The server ends a slow reader with a reset at worst; that shows as 'close', which tests await.
    socket.on('error', () => undefined);
    // One listener from the start, so no byte is emitted while nobody listens.
    socket.on('data', (chunk: Buffer) => reader.#onData(chunk));
    socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), ...early.map(textFrame)]));
    await new Promise<void>((resolve, reject) => {
      reader.#upgraded = resolve;
      socket.once('close', () => reject(new Error('socket closed before the upgrade')));
    });
    return reader;
  }

  /** Texts of the messages read so far, parsed as JSON. */
  messages(): Record<string, unknown>[] {
    return this.frames.flatMap((f) => ('text' in f ? [JSON.parse(f.text) as Record<string, unknown>] : []));
  }

  /** The close code, once the close frame was read. */
  closeCode(): number | undefined {
    for (const f of this.frames) if ('close' in f) return f.close;
    return undefined;
  }

  /** Writes `texts` as text frames in one TCP write, so the server parses them from one chunk. */
  sendTexts(texts: readonly string[]): void {
    this.socket.write(Buffer.concat(texts.map(textFrame)));
  }

  /**
   * Resolves with the messages read so far once `done(messages)` holds; rejects when the socket closes
   * first or after `timeoutMs`.
   */
  async until(
    done: (messages: Record<string, unknown>[]) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const messages = this.messages();
      if (done(messages)) return messages;
      if (this.socket.destroyed || this.closeCode() !== undefined)
        throw new Error(`socket closed (${this.closeCode() ?? 1006}) after ${JSON.stringify(messages)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms with ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.socket.off('data', wake);
          this.socket.off('close', wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.socket.on('data', wake);
        this.socket.on('close', wake);
      });
    }
  }

  /** Resolves once the server's close frame was read (or the socket ended without one: 1006). */
  async closed(): Promise<number> {
    if (!this.socket.destroyed && this.closeCode() === undefined) await once(this.socket, 'close');
    return this.closeCode() ?? 1006;
  }

  /** Stops reading: from now on the server's bytes pile up in the kernel buffers, then in its own. */
  pause(): void {
    this.socket.pause();
  }

  /**
   * RFC 6455 §5.5.1: answer the server's close frame with one of our own (client frames are masked), so
   * the server ends the TCP connection at once instead of after its closing timeout.
   */
  #answerClose(code: number): void {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    if (!this.socket.destroyed) this.socket.end(maskedFrame(0x8, payload));
  }

  /** Reads again, and resolves once the socket has ended (after everything it carried was decoded). */
  async readToEnd(): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = once(this.socket, 'close');
    this.socket.resume();
    await closed;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.#upgraded !== undefined) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const status = this.#buffer.subarray(0, this.#buffer.indexOf('\r\n')).toString();
      if (!status.includes(' 101 ')) {
        this.socket.destroy(new Error(`upgrade refused: ${status}`));
        return;
      }
      this.#buffer = this.#buffer.subarray(end + 4);
      const upgraded = this.#upgraded;
      this.#upgraded = undefined;
      upgraded();
    }
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = (b[0] as number) & 0x0f;
      let length = (b[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b.length < offset + length) return;
      const payload = b.subarray(offset, offset + length);
      this.#buffer = b.subarray(offset + length);
      if (opcode === 0x1) this.frames.push({ text: payload.toString('utf8') });
      else if (opcode === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.frames.push({ close: code });
        this.#answerClose(code);
      }
      // Pings (0x9) go unanswered: this reader is as unresponsive as a stalled client.
    }
  }
}
