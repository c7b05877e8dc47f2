import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';

/**
 * AC_ERR_ENGINE_UNAVAILABLE (HTTP 503), saying whether the failed call may have been applied. A call the
 * engine refused before sending anything (Redis known to be down, or the connection not writable with
 * the offline queue off) was not applied: `nothingApplied` is true and a retry cannot duplicate it. A
 * call that was sent and then timed out, or whose connection closed under it, may have run in Redis:
 * `nothingApplied` is false, and a publish answered so may or may not have been stored (issue 13).
 */
export class EngineUnavailableError extends AgentcastError {
  readonly nothingApplied: boolean;

  constructor(message: string, options: { readonly nothingApplied: boolean; readonly cause?: unknown }) {
    super(AgentcastErrorCode.EngineUnavailable, message, {
      httpStatus: 503,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.nothingApplied = options.nothingApplied;
  }
}

/**
 * Whether `error` proves that nothing of the call was applied. Only an {@link EngineUnavailableError}
 * that says so does: any other failure of a write may have come after the write ran.
 */
export function provesNothingApplied(error: unknown): boolean {
  return error instanceof EngineUnavailableError && error.nothingApplied;
}
