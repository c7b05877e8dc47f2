import type { ServerResponse } from 'node:http';

/** The SSE comment every Server-Sent Events stream gets as a heartbeat (docs/protocol.md H, I, J). */
export const SSE_PING = ': ping\n\n';

/**
 * One interval for every open single-run stream of a gateway (AG-UI, the AI SDK's HTTP transport;
 * docs/architecture.md, "Hot path": no timer per stream): each `everyMs` it writes the SSE comment
 * `: ping`, which their clients ignore and proxies see as traffic (docs/protocol.md I, J). It runs only
 * while a stream is open, and never writes to a response that has ended.
 */
export class StreamHeartbeat {
  readonly #everyMs: number;
  readonly #open = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;

  constructor(everyMs: number) {
    this.#everyMs = everyMs;
  }

  add(res: ServerResponse): void {
    this.#open.add(res);
    this.#timer ??= setInterval(() => {
      for (const open of this.#open) if (!open.writableEnded) open.write(SSE_PING);
    }, this.#everyMs).unref();
  }

  delete(res: ServerResponse): void {
    this.#open.delete(res);
    if (this.#open.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
