import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { handOverSocket } from '../../../packages/server/src/gateway/socket-handover.js';
import { deferred } from '../../helpers/deferred.js';

/** A node:http server whose one handler is the test's; resolves with its port. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A raw client: sends one GET and collects every byte it reads until the server's side ends. */
function rawGet(port: number): { socket: Socket; text: () => string; ended: Promise<void> } {
  const socket = connect(port, '127.0.0.1', () => socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, text: () => text, ended };
}

describe('handOverSocket (a long response keeps only its socket, as an upgrade does)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('frees the parser, ends the response for node:http, and leaves a socket that writes and sees its peer go', async () => {
    const taken = deferred<{ socket: Socket; closes: number } | undefined>();
    const server = await serve((_req, res) => {
      let closes = 0;
      res.on('close', () => closes++);
      res.writeHead(200, { Connection: 'close' });
      res.flushHeaders();
      setImmediate(() => {
        const socket = handOverSocket(res);
        taken.resolve(socket === undefined ? undefined : { socket, closes });
      });
    });
    servers.push(server);
    const client = rawGet(portOf(server));
    const handed = await taken.promise;
    if (handed === undefined) throw new Error('not handed over');
    const { socket, closes } = handed;
    expect(closes).toBe(1);
    expect((socket as Socket & { parser?: unknown }).parser).toBeNull();
    expect(listenerCounts(socket)).toEqual({ data: 1, end: 1, error: 1, close: 0 });
    const serverSideClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('data: 1\n\n');
    await expect.poll(client.text).toContain('data: 1\n\n');
    client.socket.end();
    await serverSideClosed;
    await client.ended;
  });

  it('takes nothing from a response whose socket is gone or already taken', async () => {
    const answers = deferred<[boolean, boolean]>();
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
      setImmediate(() => {
        const first = handOverSocket(res);
        const second = handOverSocket(res);
        first?.destroy();
        answers.resolve([first !== undefined, second !== undefined]);
      });
    });
    servers.push(server);
    const client = rawGet(portOf(server));
    expect(await answers.promise).toEqual([true, false]);
    await client.ended;

    const gone = deferred<boolean>();
    const other = await serve((_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
      res.socket?.destroy();
      setImmediate(() => gone.resolve(handOverSocket(res) !== undefined));
    });
    servers.push(other);
    rawGet(portOf(other));
    expect(await gone.promise).toBe(false);
  });
});

function listenerCounts(socket: Socket): Record<string, number> {
  return Object.fromEntries(['data', 'end', 'error', 'close'].map((e) => [e, socket.listenerCount(e)]));
}
