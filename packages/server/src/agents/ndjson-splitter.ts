/** One complete NDJSON line and its 1-based number in the stream (blank lines count too). */
export interface NdjsonLine {
  readonly number: number;
  readonly text: string;
}

/** Lines found in a chunk, or why the stream is unusable. */
export type NdjsonOutcome =
  | { readonly ok: true; readonly lines: readonly NdjsonLine[] }
  | { readonly ok: false; readonly message: string };

/** Default longest line, in characters (1 MiB of ASCII). */
export const NDJSON_LINE_MAX = 1_048_576;

/**
 * Splits a byte stream into NDJSON lines, pure and incremental: a line may arrive across any number of
 * chunks (multi-byte UTF-8 characters too). `\n` ends a line and a `\r` before it is dropped (CRLF), blank
 * lines are skipped, and a line longer than `maxLineLength` characters fails the stream instead of
 * growing a buffer without bound.
 */
export class NdjsonSplitter {
  readonly #maxLineLength: number;
  readonly #decoder = new TextDecoder('utf-8');
  #pending = '';
  #number = 0;

  constructor(maxLineLength = NDJSON_LINE_MAX) {
    this.#maxLineLength = maxLineLength;
  }

  /** Feeds the next chunk of bytes. */
  push(chunk: Uint8Array): NdjsonOutcome {
    return this.#split(this.#pending + this.#decoder.decode(chunk, { stream: true }), false);
  }

  /** Ends the stream: a last line without a trailing newline is still a line. */
  finish(): NdjsonOutcome {
    return this.#split(this.#pending + this.#decoder.decode(), true);
  }

  #split(text: string, final: boolean): NdjsonOutcome {
    const parts = text.split('\n');
    this.#pending = final ? '' : (parts.pop() ?? '');
    const lines: NdjsonLine[] = [];
    for (const part of parts) {
      this.#number += 1;
      const line = part.endsWith('\r') ? part.slice(0, -1) : part;
      if (line.length > this.#maxLineLength) return this.#tooLong(this.#number);
      if (line.trim() !== '') lines.push({ number: this.#number, text: line });
    }
    if (this.#pending.length > this.#maxLineLength) return this.#tooLong(this.#number + 1);
    return { ok: true, lines };
  }

  #tooLong(number: number): NdjsonOutcome {
    return { ok: false, message: `line ${number} is longer than ${this.#maxLineLength} characters` };
  }
}
