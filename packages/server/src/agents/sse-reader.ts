import { NDJSON_LINE_MAX, NdjsonSplitter } from '../protocol/ndjson-splitter.js';

/** One server-sent event's data and the line it started on (for error messages). */
export interface SseEvent {
  /** 1-based line of the event's first `data:` line. */
  readonly number: number;
  /** The event's `data:` lines joined with `\n`. */
  readonly data: string;
}

/** Events completed by a chunk, or why the stream is unusable. */
export type SseOutcome =
  | { readonly ok: true; readonly events: readonly SseEvent[] }
  | { readonly ok: false; readonly message: string };

/**
 * Reads a `text/event-stream` body (the HTML Living Standard's SSE framing, as AG-UI's HTTP transport and
 * the AI SDK's UI message stream use it; docs/agents.md, "Reading the response"), pure and incremental:
 * `data:` lines (one leading space dropped) are joined with `\n` and handed out when a blank line ends the
 * event; `id:`, `event:`, `retry:` and other fields are ignored, and `:` comments (keep-alives) are
 * tolerated. An event still open when the stream ends is dropped, as the standard says: it was cut.
 * Bounded: a line, and an event's data, longer than `maxLength` characters fail the stream. Lines end with
 * `\n` or `\r\n` (a lone `\r` is not a line end here).
 */
export class SseReader {
  readonly #maxLength: number;
  readonly #lines: NdjsonSplitter;
  #data: string[] = [];
  #dataLength = 0;
  #first = 0;

  constructor(maxLength = NDJSON_LINE_MAX) {
    this.#maxLength = maxLength;
    this.#lines = new NdjsonSplitter(maxLength, true);
  }

  /** Feeds the next chunk of bytes. */
  push(chunk: Uint8Array): SseOutcome {
    return this.#take(this.#lines.push(chunk));
  }

  /** Ends the stream. */
  finish(): SseOutcome {
    return this.#take(this.#lines.finish());
  }

  #take(split: ReturnType<NdjsonSplitter['push']>): SseOutcome {
    if (!split.ok) return { ok: false, message: split.message };
    const events: SseEvent[] = [];
    for (const { number, text } of split.lines) {
      if (text === '') {
        if (this.#data.length > 0) events.push({ number: this.#first, data: this.#data.join('\n') });
        this.#data = [];
        this.#dataLength = 0;
        continue;
      }
      const colon = text.indexOf(':');
      // A line without a colon is a field with an empty value; a leading colon is a comment.
      if (colon === 0) continue;
      const field = colon === -1 ? text : text.slice(0, colon);
      if (field !== 'data') continue;
      let value = colon === -1 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (this.#data.length === 0) this.#first = number;
      // The joined data, newlines included, stays within the bound too.
      this.#dataLength += value.length + (this.#data.length > 0 ? 1 : 0);
      if (this.#dataLength > this.#maxLength) {
        return {
          ok: false,
          message: `event at line ${this.#first}: data longer than ${this.#maxLength} characters`,
        };
      }
      this.#data.push(value);
    }
    return { ok: true, events };
  }
}
