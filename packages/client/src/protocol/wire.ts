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

/**
 * How a resume request was answered in the welcome frame (docs/protocol.md §4; `snapshot`: F, the client
 * asked for catch-up and gets one `run_snapshot` frame per run instead of a replay).
 */
export type ResumeOutcome = 'none' | 'ok' | 'reset' | 'snapshot';

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

/** Where a run stands in its snapshot (docs/protocol.md F): running, or ended as its `agent_completed` says. */
export type RunSnapshotStatus = 'running' | 'waiting' | RunStatus;

/** One tool call of a run, as its snapshot keeps it (docs/protocol.md F). */
export interface RunSnapshotTool {
  readonly execution_id: string;
  readonly tool_name: string;
  readonly tool_args: JsonObject;
  /** Present once its `tool_completed` was stored. */
  readonly success?: boolean;
  readonly results?: unknown;
  readonly duration_ms?: number;
}

/** One approval a run asked for, as its snapshot keeps it (docs/protocol.md G). */
export interface RunSnapshotApproval {
  readonly approval_id: string;
  readonly tool_name: string;
  readonly tool_args: JsonObject;
  readonly message: string;
  readonly expires_at: string;
  /** Present once the approval was resolved. */
  readonly decision?: 'approved' | 'denied' | 'expired' | 'cancelled';
  readonly reason?: string;
  readonly by?: 'user' | 'timeout' | 'run';
}

/** An approval's decision as the gateway names it (docs/protocol.md G). */
export type ApprovalDecision = NonNullable<RunSnapshotApproval['decision']>;

/**
 * A run's state folded from every event of it so far (docs/protocol.md F): what a tab that opens mid-run
 * needs to draw it, exact up to `last_seq`, the run's latest event.
 */
export interface RunSnapshot {
  readonly run_id: string;
  readonly thread_id?: string;
  /** `agent_started.data.agent_name`. */
  readonly agent?: string;
  /** `agent_started.data.task_description`. */
  readonly task?: string;
  readonly status: RunSnapshotStatus;
  /** ISO-8601 time of the run's first event. */
  readonly started_at: string;
  /** ISO-8601 time of its `agent_completed`. */
  readonly ended_at?: string;
  /** Every `stream_chunk` text of the run, in order. */
  readonly text: string;
  /** Every `agent_thinking` reasoning of the run, in order, concatenated. */
  readonly reasoning: string;
  readonly tools: readonly RunSnapshotTool[];
  /** The approvals the run asked for, in order (docs/protocol.md G). */
  readonly approvals: readonly RunSnapshotApproval[];
  readonly final_response?: string | null;
  readonly error?: { readonly code: string; readonly message: string };
  /**
   * Seq of the run's first event, in `epoch` (docs/protocol.md F); absent when the run's events span epochs
   * (or the snapshot was stored before this field existed).
   */
  readonly first_seq?: number;
  /** Seq of the run's latest event folded in; events of the run after it come on the stream. */
  readonly last_seq: number;
  readonly epoch: string;
  /** The run outgrew `run_snapshot_max_bytes`: fields past that point were left out (F). */
  readonly truncated: boolean;
}
