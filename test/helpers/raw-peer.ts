import { connect, type Socket } from 'node:net';

/**
 * A raw TCP peer of a gateway (node:net, loopback only): what it received, and when the server closed
 * it. For the attacks that no HTTP client library lets a test write (dripping headers, trickling bodies).
 */
export interface RawPeer {
  readonly socket: Socket;
  /** Every byte received so far, as latin1 text. */
  received(): string;
  /** Resolves once the socket is closed (by the server: the peer never ends it itself), with when. */
  readonly closed: Promise<{ readonly at: number }>;
  /** Resolves once `text` (case-insensitive) was received; rejects after `timeoutMs` or at close. */
  receivedText(text: string, timeoutMs?: number): Promise<string>;
  /** Writes `chunk` every `everyMs` (at most `max` times) until the socket closes. */
  drip(chunk: string, everyMs: number, max: number): void;
}

/** Opens a raw peer to 127.0.0.1:`port`, from `localAddress` (another 127.x address stands for another client). */
export function rawPeer(port: number, localAddress = '127.0.0.1'): Promise<RawPeer> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  let data = '';
  const listeners = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    for (const l of [...listeners]) l();
  });
  socket.on('error', () => undefined); // a reset counts as the server closing; `closed` reports it
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<{ at: number }>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      for (const l of [...listeners]) l();
      resolve({ at: Date.now() });
    }),
  );
  const peer: RawPeer = {
    socket,
    received: () => data,
    closed,
    receivedText(text, timeoutMs = 5000) {
      const wanted = text.toLowerCase();
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (data.toLowerCase().includes(wanted)) {
            resolve(data);
            return true;
          }
          if (socket.destroyed) {
            reject(new Error(`closed before ${JSON.stringify(text)} arrived; got ${JSON.stringify(data)}`));
            return true;
          }
          return false;
        };
        if (check()) return;
        const t = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no ${JSON.stringify(text)} in ${timeoutMs} ms; got ${JSON.stringify(data)}`));
        }, timeoutMs);
        const listener = (): void => {
          if (!check()) return;
          clearTimeout(t);
          listeners.delete(listener);
        };
        listeners.add(listener);
      });
    },
    drip(chunk, everyMs, max) {
      let sent = 0;
      clearInterval(timer);
      timer = setInterval(() => {
        if (socket.destroyed || sent >= max) {
          clearInterval(timer);
          return;
        }
        sent += 1;
        socket.write(chunk);
      }, everyMs);
    },
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(peer));
    socket.once('close', () => resolve(peer)); // refused at accept: the caller sees `closed`
    socket.once('error', reject);
  });
}

/** Rejects when `promise` has not settled within `ms`, naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
