/**
 * Thrown by an agent to end its run as `failed` with a code of its choosing instead of `AGENT_ERROR`
 * (e.g. the webhook agent's `WEBHOOK_STALLED`). `code` must fit `agent_completed.error.code`
 * (1..64 characters). The message is shown to the user (in `agent_completed`, or in `tool_completed`
 * when a tool throws it), so it must not carry secrets; put internal detail in `cause`, which is only
 * logged. Any other error is shown only as a fixed message (docs/agents.md).
 */
export class AgentRunError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    if (code.length < 1 || code.length > 64) {
      throw new TypeError(`AgentRunError: code must be 1..64 characters, got ${JSON.stringify(code)}`);
    }
    this.name = 'AgentRunError';
    this.code = code;
  }
}
