import type { Logger } from '../observability/logger.js';
import type { JsonObject } from '../protocol/events.js';
import { EventType } from '../protocol/events.js';
import { AgentRunError } from './agent-run-error.js';
import type { AgentEvent, ToolFn } from './define-agent.js';
import { clip, ERROR_MESSAGE_MAX, errorMessage, LOGGED_TEXT_MAX } from './run-end.js';
import { RunErrorCode, RunErrorMessage } from './run-error-code.js';

/** What a tool call needs from its run. */
export interface ToolDeps {
  readonly signal: AbortSignal;
  /** A fresh `execution_id`. */
  readonly executionId: () => string;
  /** Milliseconds, for `duration_ms`; injected so tests control time. */
  readonly now: () => number;
  /** The run's logger: a failed tool's error is logged here, not shown to the user. */
  readonly log: Logger;
}

/**
 * The body of `ctx.tool()`: yields `tool_executing`, runs `fn`, yields `tool_completed` and returns the
 * result (docs/protocol.md §3: both events carry the same `execution_id`). A throwing `fn` is reported as
 * `success: false` and rethrown, so the agent decides whether the run goes on. The user sees the
 * message of an `AgentRunError` and otherwise only `the tool failed`; the error itself is logged.
 */
export async function* runTool<T>(
  name: string,
  args: JsonObject,
  fn: ToolFn<T>,
  deps: ToolDeps,
): AsyncGenerator<AgentEvent, T, undefined> {
  const executionId = deps.executionId();
  yield {
    type: EventType.ToolExecuting,
    data: { tool_name: name, tool_args: args, execution_id: executionId },
  };
  const started = deps.now();
  let result: T;
  try {
    result = await fn(deps.signal);
  } catch (error) {
    // A tool cut short by the run's end (cancel, timeout, drain) is expected: no warning for it.
    const level = deps.signal.aborted ? 'debug' : 'warn';
    deps.log[level](
      { tool_name: name, execution_id: executionId, err_message: clip(errorMessage(error), LOGGED_TEXT_MAX) },
      'tool failed',
    );
    const message = error instanceof AgentRunError ? error.message : RunErrorMessage[RunErrorCode.ToolError];
    yield {
      type: EventType.ToolCompleted,
      data: {
        tool_name: name,
        execution_id: executionId,
        success: false,
        results: null,
        duration_ms: Math.max(0, deps.now() - started),
        error: { code: RunErrorCode.ToolError, message: clip(message, ERROR_MESSAGE_MAX) },
      },
    };
    throw error;
  }
  yield {
    type: EventType.ToolCompleted,
    data: {
      tool_name: name,
      execution_id: executionId,
      success: true,
      results: result === undefined ? null : result,
      duration_ms: Math.max(0, deps.now() - started),
    },
  };
  return result;
}
