import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the backend received, body included. */
export interface ReceivedRequest {
  readonly req: IncomingMessage;
  readonly body: string;
}

/** A real HTTP backend on 127.0.0.1, port 0. */
export interface LocalBackend {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a backend whose `handle` answers each request after its body was read. */
export async function localBackend(
  handle: (request: ReceivedRequest, res: ServerResponse) => void | Promise<void>,
): Promise<LocalBackend> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const request = { req, body: Buffer.concat(parts).toString('utf8') };
      requests.push(request);
      Promise.resolve(handle(request, res)).catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/agent`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** One NDJSON line. */
export function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
