/** One complete NDJSON line and its 1-based number in the stream (blank lines count too). */
export interface NdjsonLine {
  readonly number: number;
  readonly text: string;
}

/**
 * Lines found in a chunk, or why the stream is unusable. A failure keeps the complete lines of the chunk
 * before the bad one (`before`), so a reader that acts on each line (the streamed publish, docs/protocol.md
 * D) can still act on them; the webhook agent ends the run at the failure and ignores them.
 */
export type NdjsonOutcome =
  | { readonly ok: true; readonly lines: readonly NdjsonLine[] }
  | { readonly ok: false; readonly message: string; readonly before: readonly NdjsonLine[] };

/** Default longest line, in characters (1 MiB of ASCII). */
export const NDJSON_LINE_MAX = 1_048_576;

/**
 * Splits a byte stream into NDJSON lines, pure and incremental: a line may arrive across any number of
 * chunks (multi-byte UTF-8 characters too). `\n` ends a line and a `\r` before it is dropped (CRLF), blank
 * lines are skipped, and a line longer than `maxLineLength` characters fails the stream instead of
 * growing a buffer without bound.
 *
 * A backend may dribble a long line a byte at a time, so the open line costs work and memory in
 * proportion to its length, not to the number of chunks: only new text is searched for `\n`, and the
 * open line is held as a few flat strings, each at least as long as the next (merged like a binary
 * counter), never one string object per chunk.
 */
export class NdjsonSplitter {
  readonly #maxLineLength: number;
  readonly #decoder = new TextDecoder('utf-8');
  /** The open line, in order; `#parts[i].length > #parts[i + 1].length`. */
  #parts: string[] = [];
  #pendingLength = 0;
  /** Whether the open line ends with `\r` (which may be the start of a CRLF). */
  #pendingEndsWithCr = false;
  #number = 0;
  readonly #keepBlank: boolean;

  /** `keepBlank`: hand out blank lines too (SSE ends an event with one, see sse-reader.ts). */
  constructor(maxLineLength = NDJSON_LINE_MAX, keepBlank = false) {
    this.#maxLineLength = maxLineLength;
    this.#keepBlank = keepBlank;
  }

  /** Feeds the next chunk of bytes. */
  push(chunk: Uint8Array): NdjsonOutcome {
    return this.#take(this.#decoder.decode(chunk, { stream: true }), false);
  }

  /** Ends the stream: a last line without a trailing newline is still a line. */
  finish(): NdjsonOutcome {
    return this.#take(this.#decoder.decode(), true);
  }

  #take(text: string, final: boolean): NdjsonOutcome {
    const end = text.lastIndexOf('\n');
    if (end === -1 && !final) {
      this.#hold(text);
      return this.#pendingTooLong() ? this.#tooLong(this.#number + 1, []) : { ok: true, lines: [] };
    }
    // Every line up to the last newline is complete; at the end of the stream, so is the rest.
    const complete = `${this.#release()}${final ? text : text.slice(0, end)}`;
    const lines: NdjsonLine[] = [];
    for (const part of complete.split('\n')) {
      this.#number += 1;
      const line = part.endsWith('\r') ? part.slice(0, -1) : part;
      if (line.length > this.#maxLineLength) return this.#tooLong(this.#number, lines);
      if (this.#keepBlank || line.trim() !== '') lines.push({ number: this.#number, text: line });
    }
    // A stream's last newline leaves an empty remainder: not a line, even when blank lines are kept.
    if (final && this.#keepBlank && lines.at(-1)?.text === '') lines.pop();
    if (final) return { ok: true, lines };
    this.#hold(text.slice(end + 1));
    if (this.#pendingTooLong()) return this.#tooLong(this.#number + 1, lines);
    return { ok: true, lines };
  }

  /** Appends to the open line. */
  #hold(text: string): void {
    if (text === '') return;
    const parts = this.#parts;
    parts.push(text);
    this.#pendingLength += text.length;
    this.#pendingEndsWithCr = text.endsWith('\r');
    for (let n = parts.length; n >= 2 && (parts[n - 1]?.length ?? 0) >= (parts[n - 2]?.length ?? 0); n--) {
      const last = parts.pop() ?? '';
      const before = parts.pop() ?? '';
      // join, unlike +, builds one flat string: nothing of the chunks is kept but their characters.
      parts.push([before, last].join(''));
    }
  }

  /** Takes the open line out. */
  #release(): string {
    const text = this.#parts.join('');
    this.#parts = [];
    this.#pendingLength = 0;
    this.#pendingEndsWithCr = false;
    return text;
  }

  /** The open line is already too long; a last `\r` may be the start of a CRLF, so it does not count. */
  #pendingTooLong(): boolean {
    return this.#pendingLength - (this.#pendingEndsWithCr ? 1 : 0) > this.#maxLineLength;
  }

  #tooLong(number: number, before: readonly NdjsonLine[]): NdjsonOutcome {
    return {
      ok: false,
      message: `line ${number} is longer than ${this.#maxLineLength} characters`,
      before,
    };
  }
}
