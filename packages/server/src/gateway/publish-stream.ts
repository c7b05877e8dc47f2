import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/config.js';
import type { Engine, LogHead } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { isEngineUnavailable } from '../protocol/agentcast-error.js';
import { ErrorCode, HttpErrorCode } from '../protocol/error-codes.js';
import { type NdjsonLine, type NdjsonOutcome, NdjsonSplitter } from '../protocol/ndjson-splitter.js';
import { type PublishItem, type PublishLine, parsePublishLine } from '../protocol/publish.js';
import { parseTraceparent } from '../protocol/trace-context.js';
import { sendJson } from './http-reply.js';
import { keyScope, unstoredMessage } from './publish-answers.js';

/** What a streamed publish uses of the HTTP API's context (gateway/http-api.ts gives it). */
export interface PublishStreamContext {
  readonly config: Config;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** The media types of a streamed publish (docs/protocol.md D, "Streamed publish"); parameters ignored. */
const NDJSON_TYPES: ReadonlySet<string> = new Set(['application/x-ndjson', 'application/ndjson']);

/** Whether a request's `Content-Type` asks for the streamed publish. */
export function isNdjsonRequest(contentType: string | undefined): boolean {
  // The common answer without splitting and lower-casing a string on every publish.
  if (contentType === undefined || contentType === 'application/json') return false;
  return NDJSON_TYPES.has((contentType.split(';')[0] ?? '').trim().toLowerCase());
}

/** One stored line's place in its user's stream; `replayed` when a keyed line had been stored before. */
interface LineResult extends LogHead {
  readonly replayed?: true;
}

/** Why the stream stopped early: the error answered, with what was stored before it. */
interface Stop {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

/**
 * `POST /v1/publish` with `Content-Type: application/x-ndjson` (docs/protocol.md D, "Streamed publish"):
 * one event per line, each validated, stored and delivered as it arrives, in order, and
 * `202 {"accepted":n,"results":[…]}` once the body ends. A bad line stops the stream there: the lines
 * before it are stored, the error names it and carries `accepted` and `results` for them, and the rest
 * of the body is never read (`Connection: close`).
 *
 * Back-pressure: the request is paused while a chunk's lines are being stored, so a slow engine stops
 * the reading (TCP pushes back on the backend) and the gateway holds at most one chunk's lines and the
 * open line (at most `max_publish_bytes`), never the stream.
 */
export function publishStream(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: PublishStreamContext,
  headerKey: string | undefined,
): Promise<void> {
  const stream = new StreamedPublish(res, ctx, headerKey, parseTraceparent(req.headers.traceparent));
  return new Promise<void>((resolve, reject) => {
    // Chunks are handled one after the other; the request stays paused while one is, so at most one
    // chunk waits here beside the one being stored.
    let queue = Promise.resolve(true);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      req.removeListener('data', onData);
      resolve();
    };
    const failed = (err: unknown) => {
      finished = true;
      req.removeListener('data', onData);
      reject(err);
      return false;
    };
    const onData = (chunk: Buffer) => {
      req.pause();
      queue = queue
        .then(async (going) => {
          if (!going) return false;
          const more = await stream.take(stream.splitter.push(chunk));
          if (more) req.resume();
          else finish();
          return more;
        })
        .catch(failed);
    };
    req.on('data', onData);
    req.once('end', () => {
      queue = queue
        .then(async (going) => {
          if (going && (await stream.take(stream.splitter.finish()))) stream.answer();
          finish();
          return false;
        })
        .catch(failed);
    });
    // The backend went away mid-body: what was stored stays stored; there is no one to answer.
    req.once('close', () => {
      if (!req.complete) {
        stream.abandon();
        void queue.then(finish);
      }
    });
  }).catch((err: unknown) => {
    ctx.log.error({ err }, 'streamed publish failed');
    if (!res.headersSent) stream.fail({ status: 500, code: ErrorCode.Internal, message: 'internal error' });
    else res.destroy();
  });
}

/** The state of one streamed publish: its splitter, the results so far, and how it ends. */
class StreamedPublish {
  readonly splitter: NdjsonSplitter;
  readonly #results: LineResult[] = [];
  #lines = 0;
  #abandoned = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly ctx: PublishStreamContext,
    private readonly headerKey: string | undefined,
    private readonly traceparent: string | undefined,
  ) {
    this.splitter = new NdjsonSplitter(ctx.config.maxPublishBytes);
  }

  /** The backend went away: the lines of a chunk already being stored are stored; nothing more. */
  abandon(): void {
    this.#abandoned = true;
  }

  /** Stores the lines of one chunk in order; false once the stream stopped (answered or abandoned). */
  async take(outcome: NdjsonOutcome): Promise<boolean> {
    const lines = outcome.ok ? outcome.lines : outcome.before;
    const stop = await this.#store(lines);
    if (stop !== undefined) {
      this.fail(stop);
      return false;
    }
    if (!outcome.ok) {
      this.fail({
        status: 413,
        code: HttpErrorCode.PayloadTooLarge,
        message: `${outcome.message} (max_publish_bytes)`,
      });
      return false;
    }
    return !this.#abandoned;
  }

  /** The answer once the body ended and every line was stored. */
  answer(): void {
    if (this.#abandoned) return;
    sendJson(this.res, 202, { accepted: this.#results.length, results: this.#results });
  }

  /** An error answer that stops the stream, with what was stored before it. */
  fail(stop: Stop): void {
    if (stop.status !== 500) this.ctx.metrics.publishRejections.inc({ code: stop.code });
    if (this.#abandoned || this.res.headersSent) return;
    sendJson(
      this.res,
      stop.status,
      {
        error: { code: stop.code, message: stop.message },
        accepted: this.#results.length,
        results: this.#results,
      },
      { ...stop.headers, Connection: 'close' },
    );
  }

  /**
   * Validates and stores lines in order: the unkeyed ones together (one engine call per run of them),
   * a keyed one on its own (its own record). The first bad line stores what came before it and stops.
   */
  async #store(lines: readonly NdjsonLine[]): Promise<Stop | undefined> {
    const config = this.ctx.config;
    let batch: PublishItem[] = [];
    let first = 0;
    const flush = async (): Promise<Stop | undefined> => {
      if (batch.length === 0) return undefined;
      const items = batch;
      batch = [];
      return this.#append(items, first);
    };
    for (const line of lines) {
      this.#lines += 1;
      const stop =
        this.#lines > config.publishStreamMaxLines
          ? tooMany(line.number, config.publishStreamMaxLines)
          : Buffer.byteLength(line.text) > config.maxPublishBytes
            ? tooLarge(line.number, config.maxPublishBytes)
            : undefined;
      if (stop !== undefined) return (await flush()) ?? stop;
      const parsed = parseLine(line);
      if (!parsed.ok) return (await flush()) ?? parsed.stop;
      const { key, ...item } = parsed.value;
      const event =
        this.traceparent === undefined
          ? item.event
          : { ...item.event, meta: { traceparent: this.traceparent } };
      const lineKey = key ?? (this.headerKey === undefined ? undefined : `${this.headerKey}/${line.number}`);
      if (lineKey === undefined) {
        if (batch.length === 0) first = line.number;
        batch.push({ userId: item.userId, event });
        continue;
      }
      const before = await flush();
      if (before !== undefined) return before;
      const keyed = await this.#appendOnce({ userId: item.userId, event }, lineKey, line);
      if (keyed !== undefined) return keyed;
    }
    return flush();
  }

  async #append(items: readonly PublishItem[], firstLine: number): Promise<Stop | undefined> {
    try {
      const stored = await this.ctx.engine.appendBatch(items);
      this.ctx.metrics.countHttpPublished(stored.length);
      for (const e of stored) this.#results.push({ seq: e.seq, epoch: e.epoch });
      return undefined;
    } catch (err) {
      return engineStop(err, firstLine, items.length, false);
    }
  }

  async #appendOnce(item: PublishItem, key: string, line: NdjsonLine): Promise<Stop | undefined> {
    try {
      const answer = await this.ctx.engine.appendBatchOnce([item], {
        key: `${keyScope(this.ctx.config.apiKey)}:${key}`,
        fingerprint: createHash('sha256').update(line.text).digest('hex'),
        ttlMs: this.ctx.config.publishIdempotencyTtlS * 1000,
      });
      if (answer.outcome === 'conflict') {
        return {
          status: 409,
          code: HttpErrorCode.IdempotencyKeyReused,
          message: `line ${line.number}: idempotency key already used with a different line; it was not stored. Use a new key for a new event`,
        };
      }
      if (answer.outcome === 'repeat') {
        for (const { seq, epoch } of answer.results) this.#results.push({ seq, epoch, replayed: true });
        return undefined;
      }
      this.ctx.metrics.countHttpPublished(answer.events.length);
      for (const e of answer.events) this.#results.push({ seq: e.seq, epoch: e.epoch });
      return undefined;
    } catch (err) {
      return engineStop(err, line.number, 1, true);
    }
  }
}

/** A line parsed, or the answer that stops the stream at it. */
function parseLine(line: NdjsonLine): { ok: true; value: PublishLine } | { ok: false; stop: Stop } {
  let json: unknown;
  try {
    json = JSON.parse(line.text);
  } catch {
    return {
      ok: false,
      stop: { status: 400, code: ErrorCode.InvalidJson, message: `line ${line.number}: not valid JSON` },
    };
  }
  const parsed = parsePublishLine(json);
  if (parsed.ok) return parsed;
  return {
    ok: false,
    stop: { status: 400, code: ErrorCode.InvalidMessage, message: `line ${line.number}: ${parsed.message}` },
  };
}

function tooMany(line: number, max: number): Stop {
  return {
    status: 413,
    code: HttpErrorCode.PayloadTooLarge,
    message: `line ${line}: a stream takes at most ${max} lines (publish_stream_max_lines); publish the rest in a new request`,
  };
}

function tooLarge(line: number, max: number): Stop {
  return {
    status: 413,
    code: HttpErrorCode.PayloadTooLarge,
    message: `line ${line} is longer than ${max} bytes (max_publish_bytes)`,
  };
}

/** The engine failed while storing lines from `firstLine` on: 503 as the JSON path says it, or rethrown. */
function engineStop(err: unknown, firstLine: number, count: number, keyed: boolean): Stop {
  if (isEngineUnavailable(err)) {
    const lines = count === 1 ? `line ${firstLine}` : `lines from ${firstLine} (${count} events)`;
    return {
      status: 503,
      code: ErrorCode.Unavailable,
      message: `${lines}: ${unstoredMessage(err, count, { keyed })}`,
      headers: { 'Retry-After': '1' },
    };
  }
  // A keyed line names one user, so the JSON path's cross-slot refusal cannot happen: anything else is a bug.
  throw err;
}
