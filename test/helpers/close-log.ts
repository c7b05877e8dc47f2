import { Writable } from 'node:stream';

/**
 * A pino destination that resolves `whenClosing(code)` once the gateway logs closing a connection with
 * that code: a way to await a server-side close that the peer cannot see yet (it is not reading).
 */
export class CloseLog extends Writable {
  readonly #codes = new Set<number>();
  readonly #waiters = new Map<number, (() => void)[]>();

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      // A connection being closed is the line with a close_code.
      const entry: { close_code?: number } = JSON.parse(line);
      if (typeof entry.close_code !== 'number') continue;
      this.#codes.add(entry.close_code);
      for (const wake of this.#waiters.get(entry.close_code) ?? []) wake();
      this.#waiters.delete(entry.close_code);
    }
    done();
  }

  seen(code: number): boolean {
    return this.#codes.has(code);
  }

  whenClosing(code: number): Promise<void> {
    if (this.#codes.has(code)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(code, [...(this.#waiters.get(code) ?? []), resolve]));
  }
}
