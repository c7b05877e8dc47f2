import type { CloseCode } from './close-codes.js';

/** Internal error codes: stable, documented in docs/protocol.md, never reused. */
export const AgentcastErrorCode = {
  /** Configuration is invalid; the message lists every problem. Exit code 2. */
  ConfigInvalid: 'AC_ERR_CONFIG_INVALID',
  /** The engine (Redis) cannot be reached. */
  EngineUnavailable: 'AC_ERR_ENGINE_UNAVAILABLE',
  /** The engine was used after close(). */
  EngineClosed: 'AC_ERR_ENGINE_CLOSED',
  /** A published event failed validation. */
  EventInvalid: 'AC_ERR_EVENT_INVALID',
  /** An agent definition or the agent list is malformed (bad name, no run, duplicate name, unknown default). */
  AgentInvalid: 'AC_ERR_AGENT_INVALID',
  /**
   * An append of a run's event was refused because the run is no longer this node's: it ended, or its
   * lease lapsed and another node ended it (`NODE_LOST`). Nothing was stored.
   */
  RunFenced: 'AC_ERR_RUN_FENCED',
} as const;

export type AgentcastErrorCode = (typeof AgentcastErrorCode)[keyof typeof AgentcastErrorCode];

/** Options for {@link AgentcastError}. */
export interface AgentcastErrorOptions {
  readonly httpStatus?: number;
  readonly closeCode?: CloseCode;
  readonly cause?: unknown;
}

/** The base class of every error agentcast throws on purpose. */
export class AgentcastError extends Error {
  readonly code: AgentcastErrorCode;
  readonly httpStatus: number | undefined;
  readonly closeCode: CloseCode | undefined;

  constructor(code: AgentcastErrorCode, message: string, options: AgentcastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentcastError';
    this.code = code;
    this.httpStatus = options.httpStatus;
    this.closeCode = options.closeCode;
  }
}

/**
 * Whether `error` is AC_ERR_ENGINE_UNAVAILABLE: the engine (Redis) could not be reached, a degraded
 * dependency rather than a bug (HTTP 503, close 1011). Any AgentcastError with that code counts, an
 * `EngineUnavailableError` (engine/engine-unavailable.ts) or not.
 */
export function isEngineUnavailable(error: unknown): error is AgentcastError {
  return error instanceof AgentcastError && error.code === AgentcastErrorCode.EngineUnavailable;
}

/** Whether `error` is AC_ERR_EVENT_INVALID: what was to be stored breaks a rule; nothing was stored. */
export function isEventInvalid(error: unknown): error is AgentcastError {
  return error instanceof AgentcastError && error.code === AgentcastErrorCode.EventInvalid;
}

/** Whether `error` is AC_ERR_RUN_FENCED: an append of a run's event refused because the run is not this node's. */
export function isRunFenced(error: unknown): error is AgentcastError {
  return error instanceof AgentcastError && error.code === AgentcastErrorCode.RunFenced;
}
