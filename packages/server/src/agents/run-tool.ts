import type { JsonObject } from '../protocol/events.js';
import { EventType } from '../protocol/events.js';
import type { AgentEvent, ToolFn } from './define-agent.js';
import { errorMessage } from './run-end.js';
import { RunErrorCode } from './run-error-code.js';

/** What a tool call needs from its run. */
export interface ToolDeps {
  readonly signal: AbortSignal;
  /** A fresh `execution_id`. */
  readonly executionId: () => string;
  /** Milliseconds, for `duration_ms`; injected so tests control time. */
  readonly now: () => number;
}

/**
 * The body of `ctx.tool()`: yields `tool_executing`, runs `fn`, yields `tool_completed` and returns the
 * result (PROTOCOL.md §3: both events carry the same `execution_id`). A throwing `fn` is reported as
 * `success: false` and rethrown, so the agent decides whether the run goes on.
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
    yield {
      type: EventType.ToolCompleted,
      data: {
        tool_name: name,
        execution_id: executionId,
        success: false,
        results: null,
        duration_ms: Math.max(0, deps.now() - started),
        error: { code: RunErrorCode.ToolError, message: errorMessage(error) },
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
