import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../packages/server/src/observability/logger.js';

/** One parsed pino line: `msg`, `level` and the bound fields. */
export type LogLine = Record<string, unknown> & { readonly msg: string; readonly level: number };

/** What {@link captureLog} gives: the logger, the lines so far, and a way to await a line. */
export interface CapturedLog {
  readonly log: Logger;
  readonly lines: LogLine[];
  /** Resolves with the first line, logged so far or later, that `matches`; rejects after `timeoutMs`. */
  waitFor(matches: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/**
 * A real pino logger whose lines land, parsed, in `lines`: tests read what the code logged (fields,
 * levels, redaction) instead of mocking the logger.
 */
export function captureLog(level = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  const destination = new Writable({
    write(chunk, _encoding, done) {
      const line = JSON.parse(String(chunk)) as LogLine;
      lines.push(line);
      for (const waiter of waiters) waiter(line);
      done();
    },
  });
  return {
    log: createLogger({ level, destination }),
    lines,
    waitFor(matches, timeoutMs = 5000) {
      const seen = lines.find(matches);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (line: LogLine): void => {
          if (!matches(line)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        };
        waiters.add(waiter);
      });
    },
  };
}
