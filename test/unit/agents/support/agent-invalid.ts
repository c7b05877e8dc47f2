import { expect } from 'vitest';
import { AgentcastErrorCode } from '../../../../packages/server/src/protocol/agentcast-error.js';

/** Matches the AgentcastError AC_ERR_AGENT_INVALID with exactly this message. */
export function agentInvalid(message: string): unknown {
  return expect.objectContaining({ name: 'AgentcastError', code: AgentcastErrorCode.AgentInvalid, message });
}
