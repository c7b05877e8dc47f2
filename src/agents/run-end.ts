import type { NewEvent, RunError, RunStatus } from '../protocol/events.js';
import { EventType } from '../protocol/events.js';

/** The longest `error.message` the protocol schema accepts (`runErrorSchema`). */
export const ERROR_MESSAGE_MAX = 4096;
/** Error texts written to the log are cut to this many characters (a stack to four times it). */
export const LOGGED_TEXT_MAX = 512;

/** How a run ended: what its one `agent_completed` carries (PROTOCOL.md §3). */
export type RunEnd =
  | { readonly status: 'succeeded'; readonly finalResponse: string | null }
  | {
      readonly status: Exclude<RunStatus, 'succeeded'>;
      readonly finalResponse: string | null;
      readonly error: RunError;
    };

/** A non-successful end with `code` and a message cut to the schema's limit. */
export function failedEnd(
  status: Exclude<RunStatus, 'succeeded'>,
  code: string,
  message: string,
  finalResponse: string | null = null,
): RunEnd {
  return { status, finalResponse, error: { code, message: clip(message, ERROR_MESSAGE_MAX) } };
}

/** The `agent_completed` event of a run the runtime ends itself (timeout, cancel, crash, drain). */
export function runEndEvent(runId: string, end: RunEnd): NewEvent {
  const data =
    end.status === 'succeeded'
      ? { status: end.status, final_response: end.finalResponse }
      : { status: end.status, final_response: end.finalResponse, error: end.error };
  return { type: EventType.AgentCompleted, run_id: runId, data };
}

/** The message of anything thrown, without its stack (a stack is for logs, never for users). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : error.message;
  return String(error);
}

/** Cuts `text` to at most `max` characters, marking the cut with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The innermost message of an error's `cause` chain (`TypeError: fetch failed` hides `ECONNREFUSED`). */
export function innermostMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return errorMessage(current);
}
