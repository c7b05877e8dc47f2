import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBody } from '../../../packages/server/src/gateway/read-body.js';

/** A request body stream with the headers readBody looks at. */
function request(contentLength?: number): PassThrough & { headers: Record<string, string> } {
  const stream = new PassThrough() as PassThrough & { headers: Record<string, string> };
  stream.headers = contentLength === undefined ? {} : { 'content-length': String(contentLength) };
  return stream;
}

const asRequest = (r: PassThrough): IncomingMessage => r as unknown as IncomingMessage;

describe('readBody', () => {
  it('reads a body sent in several chunks, exactly up to the limit', async () => {
    const req = request();
    const body = readBody(asRequest(req), 10);
    req.write('hello');
    req.end('world');
    expect(await body).toEqual({ ok: true, text: 'helloworld' });
  });

  it('refuses at once a Content-Length over the limit, without reading the body', async () => {
    const req = request(11);
    expect(await readBody(asRequest(req), 10)).toEqual({ ok: false, reason: 'too_large' });
  });

  it('accepts a Content-Length equal to the limit', async () => {
    const req = request(3);
    const body = readBody(asRequest(req), 3);
    req.end('abc');
    expect(await body).toEqual({ ok: true, text: 'abc' });
  });

  it('refuses a streamed body as soon as it passes the limit, whatever the header claimed', async () => {
    const req = request(4);
    const body = readBody(asRequest(req), 4);
    req.write('abc');
    req.write('de');
    expect(await body).toEqual({ ok: false, reason: 'too_large' });
    req.end('more after the refusal');
  });

  it('stops listening for the body once refused, and lets the rest drain', async () => {
    const req = request();
    const body = readBody(asRequest(req), 4);
    req.write('abcde');
    expect(await body).toEqual({ ok: false, reason: 'too_large' });
    expect(req.listenerCount('data')).toBe(0);
    expect(req.readableFlowing).toBe(true);
    const ended = once(req, 'end');
    req.end('x'.repeat(64 * 1024));
    await ended;
  });

  it('reports an error as aborted without waiting for the stream to close', async () => {
    const req = request();
    const body = readBody(asRequest(req), 100);
    req.write('par');
    req.emit('error', new Error('socket hang up'));
    // Only the error was emitted: the result is settled by the time the next macrotask runs.
    const pending = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')));
    expect(await Promise.race([body, pending])).toEqual({ ok: false, reason: 'aborted' });
  });

  it('reports a body cut off by an error or a close as aborted, once', async () => {
    const failing = request();
    const failed = readBody(asRequest(failing), 100);
    failing.write('par');
    failing.emit('error', new Error('socket hang up'));
    failing.emit('close');
    expect(await failed).toEqual({ ok: false, reason: 'aborted' });
    const closing = request();
    const closed = readBody(asRequest(closing), 100);
    closing.emit('close');
    expect(await closed).toEqual({ ok: false, reason: 'aborted' });
  });

  it('decodes UTF-8 split across chunks', async () => {
    const req = request();
    const body = readBody(asRequest(req), 100);
    const bytes = Buffer.from('é€', 'utf8');
    req.write(bytes.subarray(0, 1));
    req.end(bytes.subarray(1));
    expect(await body).toEqual({ ok: true, text: 'é€' });
  });
});
