/** Agent runs (docs/agents.md): what the gateway and embedders use from `agents/`. */
export { AgentRunError } from './agent-run-error.js';
export {
  AgentRuntime,
  type AgentRuntimeOptions,
  type CancelResult,
  type StartRequest,
  type StartResult,
} from './agent-runtime.js';
export {
  type AgentContext,
  type AgentDefinition,
  type AgentEvent,
  type AgentEventStream,
  type AgentInput,
  defineAgent,
  type ToolFn,
} from './define-agent.js';
export { createDemoAgent, type DemoAgentOptions } from './demo-agent.js';
export { RunErrorCode, webhookHttpCode } from './run-error-code.js';
export { createWebhookAgent, type WebhookAgentOptions } from './webhook-agent.js';
export {
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_S,
  signWebhook,
  TIMESTAMP_HEADER,
  verifyWebhook,
  type WebhookVerification,
} from './webhook-signature.js';
