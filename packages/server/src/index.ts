/**
 * agentcast's public TypeScript API (docs/architecture.md, "Modules"): build a gateway, plug in an engine,
 * define agents, and use the protocol's types. The browser/Node client is its own package,
 * `@agentcast/client`.
 */
export {
  AgentRuntime,
  type AgentRuntimeOptions,
  type StartRequest,
  type StartResult,
} from './agents/agent-runtime.js';
export {
  type AgentContext,
  type AgentDefinition,
  type AgentEvent,
  type AgentInput,
  type ConversationMessage,
  defineAgent,
  type RunInputContext,
} from './agents/define-agent.js';
export { createDemoAgent, type DemoAgentOptions } from './agents/demo-agent.js';
export type { ApprovalRequest, ApprovalResult } from './agents/run-approval.js';
export { RunErrorCode } from './agents/run-error-code.js';
export { createWebhookAgent, type WebhookAgentOptions } from './agents/webhook-agent.js';
export { signToken } from './auth/dev-token.js';
export type { Config } from './config/config.js';
export { type ConfigSources, loadConfig } from './config/load-config.js';
export type {
  Engine,
  EngineHealth,
  EventListener,
  HistoryQuery,
  HistoryResult,
  IdempotencyClaim,
  LogHead,
  Unsubscribe,
} from './engine/engine.js';
export { MemoryEngine, type MemoryEngineOptions } from './engine/memory-engine.js';
export {
  createGateway,
  Gateway,
  type GatewayAddresses,
  type GatewayDeps,
  type GatewayState,
} from './gateway/gateway.js';
export { createLogger, type Logger, silentLogger } from './observability/logger.js';
export { Metrics } from './observability/metrics.js';
export * from './protocol/index.js';
