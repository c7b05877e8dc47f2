import type { NewEvent, RunError, RunStatus } from '../protocol/events.js';
import { EventType } from '../protocol/events.js';

/** The longest `error.message` the protocol schema accepts (`runErrorSchema`). */
export const ERROR_MESSAGE_MAX = 4096;
/** Error texts written to the log are cut to this many characters (a stack to four times it). */
export const LOGGED_TEXT_MAX = 512;
/**
 * Streamed text kept for a `final_response` the agent did not give itself, in characters (64 KiB):
 * the native runtime's `stream_chunk` texts and the webhook's AG-UI text deltas alike (docs/agents.md).
 */
export const FINAL_TEXT_MAX = 65_536;

/** How a run ended: what its one `agent_completed` carries (docs/protocol.md §3). */
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

/**
 * `text` with `delta` appended, kept to {@link FINAL_TEXT_MAX} characters: past it the text is cut and
 * its last character replaced by `…`, and later deltas are dropped, so a run never holds more than that.
 */
export function appendFinalText(text: string, delta: string): string {
  if (delta === '') return text;
  if (text.length >= FINAL_TEXT_MAX) {
    // Full: text that filled it exactly is cut now, so the ellipsis always marks a loss.
    return text.endsWith('…') ? text : clip(`${text}…`, FINAL_TEXT_MAX);
  }
  // Only what can still fit (and one character more, so clip marks the cut) is copied.
  return clip(text + delta.slice(0, FINAL_TEXT_MAX - text.length + 1), FINAL_TEXT_MAX);
}

/** The innermost message of an error's `cause` chain (`TypeError: fetch failed` hides `ECONNREFUSED`). */
export function innermostMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  return errorMessage(current);
}
