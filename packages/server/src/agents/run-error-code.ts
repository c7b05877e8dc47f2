/**
 * Codes carried in `agent_completed.data.error.code` when a run does not succeed (docs/protocol.md §3:
 * `error` is required whenever status is not `succeeded`). Stable: documented in docs/agents.md and
 * docs/protocol.md, never reused. Webhook-specific codes are built by {@link webhookHttpCode}.
 */
export const RunErrorCode = {
  /** The agent threw (or a tool it ran threw and the agent did not catch it), not an AgentRunError. Status `failed`. */
  AgentError: 'AGENT_ERROR',
  /** The agent yielded an event that fails the protocol schema. Status `failed`. */
  InvalidEvent: 'INVALID_EVENT',
  /** The run exceeded `run_timeout_ms`. Status `timed_out`. */
  Timeout: 'TIMEOUT',
  /** The user cancelled the run (§6 `cancel` frame). Status `cancelled`. */
  Cancelled: 'CANCELLED',
  /**
   * A newer message of the run's thread with the busy policy `interrupt` ended it (docs/protocol.md E,
   * "A message while a run is busy"). Status `cancelled`.
   */
  Interrupted: 'INTERRUPTED',
  /** The gateway drained before the run finished (§9). Status `cancelled`. */
  Shutdown: 'SHUTDOWN',
  /** The engine failed while the run's events were being stored. Status `failed`. */
  Unavailable: 'UNAVAILABLE',
  /**
   * The node running the run stopped renewing its lease (killed, frozen, cut off from the engine) and
   * another node ended the run (docs/agents.md, "Runs across nodes"). Status `failed`.
   */
  NodeLost: 'NODE_LOST',
  /** A tool passed to `ctx.tool()` threw; carried in `tool_completed.data.error`, not in agent_completed. */
  ToolError: 'TOOL_ERROR',
  /** The webhook backend could not be reached (DNS, refused connection). Status `failed`. */
  WebhookUnreachable: 'WEBHOOK_UNREACHABLE',
  /** A webhook response line is not JSON, not an event, or fails its schema. Status `failed`. */
  WebhookInvalidLine: 'WEBHOOK_INVALID_LINE',
  /** The webhook response sent no byte for `stall_timeout_ms`. Status `failed`. */
  WebhookStalled: 'WEBHOOK_STALLED',
  /** The webhook connection broke before the response was complete. Status `failed`. */
  WebhookDisconnected: 'WEBHOOK_DISCONNECTED',
  /** The webhook exchange took longer than the webhook agent's `timeoutMs`. Status `failed`. */
  WebhookTimeout: 'WEBHOOK_TIMEOUT',
  /** The webhook response ended without `agent_completed`, `RUN_FINISHED` or `RUN_ERROR`. Status `failed`. */
  WebhookIncomplete: 'WEBHOOK_INCOMPLETE',
  /**
   * An AI SDK backend (`--agent-protocol ai-sdk`) sent an `error` chunk, or finished with `finishReason`
   * `error`; the message is its `errorText`. Status `failed`.
   */
  WebhookRunError: 'WEBHOOK_RUN_ERROR',
} as const;

export type RunErrorCode = (typeof RunErrorCode)[keyof typeof RunErrorCode];

/**
 * The fixed `error.message` of the codes whose cause is internal: an exception of the agent's code, a
 * system or engine error. Users read only this (an exception's text may name hosts, ports, Redis or
 * secrets); the cause is logged with the run (docs/protocol.md, run error codes). An `AgentRunError`
 * keeps its own message: its author wrote it for users.
 */
export const RunErrorMessage = {
  [RunErrorCode.AgentError]: 'the agent failed',
  [RunErrorCode.Unavailable]: "the gateway could not store the run's events",
  [RunErrorCode.NodeLost]: 'the gateway node running the agent was lost',
  [RunErrorCode.ToolError]: 'the tool failed',
  [RunErrorCode.WebhookUnreachable]: 'the agent backend could not be reached',
  [RunErrorCode.WebhookDisconnected]: 'the connection to the agent backend was lost',
} as const satisfies Partial<Record<RunErrorCode, string>>;

/** `WEBHOOK_HTTP_<status>`: the webhook backend answered with a non-2xx status. */
export function webhookHttpCode(status: number): string {
  return `WEBHOOK_HTTP_${status}`;
}
