import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** The part of Node's HTTP parser a hand-over touches (node:http keeps it on `socket.parser`). */
interface HttpParser {
  finish?: () => unknown;
}

type FreeParser = (parser: HttpParser, req: IncomingMessage, socket: Socket) => void;

/**
 * node:http's own `freeParser`: what it calls on a socket it hands to an `upgrade` listener. Loaded once;
 * undefined where the module or the function is missing, and then no socket is handed over.
 */
const freeParser: FreeParser | undefined = (() => {
  try {
    const common = createRequire(import.meta.url)('node:_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function' ? (common.freeParser as FreeParser) : undefined;
  } catch {
    return undefined;
  }
})();

/** The socket events node:http listens to on a socket it parses requests from. */
const HTTP_SOCKET_EVENTS = ['data', 'end', 'close', 'drain', 'error', 'timeout'] as const;

/** A socket error ends the socket ('close' follows); there is no one else to tell. */
function ignoreError(): void {}

/** Bytes a client sends on a stream it only reads (a stray request line) are dropped. */
function dropData(): void {}

/** The peer ended its side: the stream has no reader, end it (node:http's server sockets are half-open). */
function endWithPeer(this: Socket): void {
  this.destroy();
}

/**
 * Takes a long response's socket from node:http once its headers are written, as node:http itself does for
 * an upgrade: the parser goes back to its pool, the server's listeners and its request timeout bookkeeping
 * leave the socket, and the request and response objects are no longer held. An idle Server-Sent Events
 * stream then costs its socket and its session, not a parser, an IncomingMessage with its headers (the
 * token among them) and a ServerResponse for as long as it stays open (docs/architecture.md, "Hot path").
 *
 * The response is done as far as node:http knows: its `close` is emitted now, so the request is counted
 * and logged once, with its status and the time it took to open (docs/deploy.md, metrics). From here the
 * caller writes to the socket, ends it, and learns of its end from the socket's `close`. Returns undefined,
 * taking nothing, when the response's socket or parser is gone or node:http offers no way to free it.
 *
 * Call it outside node:http's parsing of the request (a later turn of the event loop, not the request
 * handler's own tick): the parser must not be freed while it executes.
 */
export function handOverSocket(res: ServerResponse): Socket | undefined {
  const socket = res.socket;
  const req = res.req;
  if (freeParser === undefined || socket === null || socket.destroyed) return undefined;
  const parser = (socket as Socket & { parser?: HttpParser | null }).parser;
  if (parser === undefined || parser === null) return undefined;
  res.detachSocket(socket);
  for (const event of HTTP_SOCKET_EVENTS) socket.removeAllListeners(event);
  freeParser(parser, req, socket);
  socket.on('error', ignoreError);
  socket.on('end', endWithPeer);
  socket.on('data', dropData);
  socket.resume();
  res.emit('close');
  return socket;
}
