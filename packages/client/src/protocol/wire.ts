/**
 * The wire shapes both sides share (docs/protocol.md §2–§4). Kept in the client package, which has no
 * dependencies; the gateway imports them from here and builds its schemas around them.
 */

/** A JSON object; event `data` is always one. */
export type JsonObject = { [key: string]: unknown };

/** How a run ended; exactly one `agent_completed` per run carries it (docs/protocol.md §3). */
export const RunStatus = {
  Succeeded: 'succeeded',
  Failed: 'failed',
  Cancelled: 'cancelled',
  TimedOut: 'timed_out',
} as const;

export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** How a resume request was answered in the welcome frame (docs/protocol.md §4). */
export type ResumeOutcome = 'none' | 'ok' | 'reset';

/** The `data` of the welcome frame (docs/protocol.md §2). */
export interface WelcomeData {
  readonly connection_id: string;
  readonly user_id: string;
  readonly server_id: string;
  readonly epoch: string;
  readonly seq: number;
  readonly heartbeat_ms: number;
  readonly resume: ResumeOutcome;
}
