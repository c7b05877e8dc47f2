import type { ResumeRequest } from '../../protocol/resume-request.js';

/**
 * The Server-Sent Events framing of agentcast frames (docs/protocol.md H; the format is WHATWG HTML,
 * "Server-sent events"). A frame's JSON never holds a raw line break (JSON escapes them), so each
 * frame is exactly one `data:` line, and its bytes are those a WebSocket carries.
 */

/** A comment line: ignored by every SSE parser, it only keeps proxies from closing an idle stream. */
export { SSE_PING } from '../../gateway/stream-heartbeat.js';

/** Ends one SSE event: the blank line that dispatches it. */
export const SSE_EVENT_END = '\n\n';

/** The first bytes of a control frame (welcome, ack, error): no `id:`, so Last-Event-ID stays put. */
export const SSE_DATA = 'data: ';

/** The first bytes of a stream: how long a client waits before reconnecting, told once. */
export function ssePreamble(retryMs: number): string {
  return `retry: ${retryMs}\n\n`;
}

/**
 * The first bytes of an event: `id: <epoch>:<seq>`, which EventSource sends back as Last-Event-ID when
 * it reconnects, then the start of its `data:` line.
 */
export function sseEventHead(epoch: string, seq: number): string {
  return `id: ${epoch}:${seq}\ndata: `;
}

/**
 * The resume request a Last-Event-ID names (docs/protocol.md H): `<epoch>:<seq>`, split at the last
 * colon. Null when the header is malformed (it only ever holds an id the gateway wrote); undefined when
 * it is absent or empty (EventSource sends none before its first event with an id).
 */
export function resumeFromLastEventId(header: string | undefined): ResumeRequest | null | undefined {
  if (header === undefined || header === '') return undefined;
  const at = header.lastIndexOf(':');
  const epoch = header.slice(0, at);
  const seq = header.slice(at + 1);
  if (at < 1 || !/^[\w.-]{1,128}$/.test(epoch) || !/^\d{1,15}$/.test(seq)) return null;
  return { since: Number(seq), epoch };
}
