import type { WebSocketLike } from './web-socket-like.js';

/** How an SSE stream is read: `fetch` streaming (the JWT in a header) or `EventSource` with a ticket. */
export type SseVia = 'fetch' | 'eventsource';

/** The gateway's HTTP URL of `path` next to the WebSocket endpoint: `wss://h/x/ws` → `https://h/x/v1/<path>`. */
function httpUrl(wsUrl: URL, path: string): URL {
  const url = new URL(`v1/${path}`, wsUrl);
  url.protocol = wsUrl.protocol === 'wss:' ? 'https:' : 'http:';
  return url;
}

/**
 * A Server-Sent Events stream with the face of a WebSocket (docs/protocol.md H), so the client's
 * reconnect, resume, dedupe and outbox work unchanged over either transport. Frames arrive as the same
 * JSON as on a WebSocket; sent frames become HTTP requests with the user's JWT (`user_message` → POST
 * /v1/messages, `cancel` → POST /v1/runs/:run_id/cancel, `approval` → POST /v1/approvals/:approval_id with
 * the frame's id as `Idempotency-Key`), whose answers come back as `ack` or `error` frames. The stream's end becomes a close: the code of its STREAM_CLOSED frame, 4001 for a 401, 1006
 * otherwise. `wsUrl` carries the resume query (`since`, `epoch`) the WebSocket would have used.
 */
export class SseSocket implements WebSocketLike {
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  readonly #ws: URL;
  readonly #auth: { Authorization: string };
  readonly #abort = new AbortController();
  #source: EventSource | undefined;
  #done = false;

  constructor(wsUrl: string, token: string, via: SseVia) {
    this.#ws = new URL(wsUrl);
    this.#auth = { Authorization: `Bearer ${token}` };
    void this.#open(via).then(
      () => this.#end(1006, 'stream ended'),
      (error: unknown) => this.#end(1006, String(error)),
    );
  }

  async #open(via: SseVia): Promise<void> {
    const url = httpUrl(this.#ws, 'events');
    url.search = this.#ws.search;
    if (via === 'eventsource') {
      // A ticket is single-use, so EventSource must not reconnect by itself: the client reconnects
      // with a fresh ticket and its own resume position.
      url.searchParams.set('ticket', (await this.#post('tickets')).ticket as string);
      const source = new EventSource(url);
      this.#source = source;
      source.onmessage = (event) => this.#frame(event.data as string);
      await new Promise((resolve) => {
        source.onerror = resolve;
      });
      return;
    }
    const res = await fetch(url, { headers: this.#auth, signal: this.#abort.signal, cache: 'no-store' });
    if (!res.ok || res.body === null)
      return this.#end(res.status === 401 ? 4001 : 1006, `HTTP ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      text += chunk.value.replace(/\r\n?/g, '\n');
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        for (const line of text.slice(0, end).split('\n'))
          if (line.startsWith('data:')) this.#frame(line.slice(5).trim());
        text = text.slice(end + 2);
      }
    }
  }

  /** A frame of the stream; STREAM_CLOSED ends it with the close code it names (H). */
  #frame(text: string): void {
    if (text.includes('"STREAM_CLOSED"')) {
      const { data } = JSON.parse(text) as { data: { close_code: number; message: string } };
      this.#end(data.close_code, data.message);
    } else this.onmessage?.({ data: text });
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { type: string; id?: string; data: Record<string, string> };
    const { type, id } = frame;
    // Liveness is the stream's own (its comment lines, TCP): a ping is answered here.
    if (type === 'ping') queueMicrotask(() => this.#frame('{"type":"pong"}'));
    const runId = frame.data?.run_id as string;
    const { approval_id: approvalId, ...answerBody } = frame.data ?? {};
    const answer =
      type === 'user_message'
        ? this.#post('messages', { id, ...frame.data })
        : type === 'cancel'
          ? this.#post(`runs/${encodeURIComponent(runId)}/cancel`).then(() => ({ run_id: runId }))
          : type === 'approval'
            ? // The frame's id is the answer's idempotency key either way (G): a resend is a duplicate.
              this.#post(`approvals/${encodeURIComponent(approvalId as string)}`, answerBody, id)
            : undefined;
    // An error the server answered rejects the request; a lost request is resent after the next welcome.
    answer?.then(
      (ack) => this.#frame(JSON.stringify({ type: 'ack', id, data: ack })),
      (error: unknown) => {
        if (error instanceof Response)
          void error
            .json()
            .then((body: { error: unknown }) =>
              this.#frame(JSON.stringify({ type: 'error', id, data: body.error })),
            );
      },
    );
  }

  async #post(path: string, body?: unknown, key?: string): Promise<Record<string, unknown>> {
    const res = await fetch(httpUrl(this.#ws, path), {
      method: 'POST',
      headers: {
        ...this.#auth,
        'Content-Type': 'application/json',
        ...(key === undefined ? {} : { 'Idempotency-Key': key }),
      },
      body: JSON.stringify(body ?? {}),
    });
    if (!res.ok) throw res;
    return (await res.json()) as Record<string, unknown>;
  }

  close(): void {
    this.#done = true;
    this.#abort.abort();
    this.#source?.close();
  }

  #end(code: number, reason: string): void {
    if (this.#done) return;
    this.close();
    this.onclose?.({ code, reason });
  }
}
