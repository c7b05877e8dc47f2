import type { IncomingMessage } from 'node:http';

/** A request body read whole, or why it could not be. */
export type BodyResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'too_large' | 'aborted' };

const ABORTED: BodyResult = { ok: false, reason: 'aborted' };

/**
 * Reads a request body up to `maxBytes`. A larger body is refused as soon as it is known to be too
 * large (from Content-Length, or while streaming) without buffering the rest.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume(); // discard, so the connection can answer
    return Promise.resolve({ ok: false, reason: 'too_large' });
  }
  // The first result wins. It is settled once, by hand: every request's 'close' comes after its 'end', and
  // resolving a settled promise is not free in V8 (it reports each one to the embedder, ~0.4 µs a request).
  return new Promise<BodyResult>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        settle({ ok: false, reason: 'too_large' });
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      // A small body is one chunk: decoded where it lies, without Buffer.concat's copy.
      const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      settle({ ok: true, text: whole.toString('utf8') });
    });
    const aborted = (): void => settle(ABORTED);
    req.on('error', aborted);
    req.on('close', aborted);
  });
}
