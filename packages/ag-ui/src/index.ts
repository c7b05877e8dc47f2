/**
 * `@agentcast/ag-ui`: an AG-UI agent for `@ag-ui/client` (and CopilotKit) whose runs live on an agentcast
 * gateway, so they survive reloads and network cuts (docs/agents.md, "AG-UI clients in front of agentcast").
 */
export {
  AgentcastAgent,
  type AgentcastAgentConfig,
  AgentcastHttpError,
  RESET_EVENT,
  type TokenSource,
} from './agentcast-agent.js';
