import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../packages/server/src/observability/logger.js';

/** One parsed pino line: `msg`, `level` and the bound fields. */
export type LogLine = Record<string, unknown> & { readonly msg: string; readonly level: number };

/**
 * A real pino logger whose lines land, parsed, in `lines`: tests read what the code logged (fields,
 * levels, redaction) instead of mocking the logger.
 */
export function captureLog(level = 'debug'): { readonly log: Logger; readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as LogLine);
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines };
}
