import { type Logger as PinoLogger, pino } from 'pino';

/** The structured logger every module takes as a dependency (pino). */
export type Logger = PinoLogger;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  readonly destination?: NodeJS.WritableStream;
  /**
   * Write each stdout line before the call returns. The CLI sets it: pino's default stdout stream
   * writes in the background and flushes what is left synchronously at exit, which can put the lines
   * still queued ("gateway closed") before one whose write was in flight ("signal received; draining").
   */
  readonly sync?: boolean;
}

/**
 * Paths that may carry secrets; pino replaces them with "[redacted]" wherever a caller logs them by
 * mistake. The rule is still: never log tokens, keys or event data (docs/architecture.md, "Style").
 */
const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'apiKey',
  'api_key',
  '*.apiKey',
  'jwtSecret',
  '*.jwtSecret',
  'agentSecret',
  '*.agentSecret',
];

/** Builds a pino logger with secret redaction. No global logger exists: the gateway owns its own. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = { level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (options.destination !== undefined) return pino(opts, options.destination);
  return options.sync === true ? pino(opts, pino.destination({ dest: 1, sync: true })) : pino(opts);
}

/** A logger that writes nothing; for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
