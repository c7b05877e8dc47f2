import type { Config } from '../config/config.js';
import { tracedFetch } from '../observability/traced-fetch.js';
import type { Tracing } from '../observability/tracing.js';
import type { AgentDefinition } from './define-agent.js';
import { createDemoAgent } from './demo-agent.js';
import { createWebhookAgent } from './webhook-agent.js';

/**
 * The agents a gateway runs without code: `demo` always, `webhook` when `--agent-url` is set (its
 * exchanges traced with --otel-endpoint).
 */
export function builtInAgents(config: Config, tracing?: Tracing): AgentDefinition[] {
  const agents = [createDemoAgent({ delayMs: config.demoDelayMs })];
  if (config.agentUrl !== undefined && config.agentSecret !== undefined) {
    agents.push(
      createWebhookAgent({
        url: config.agentUrl,
        secret: config.agentSecret,
        timeoutMs: config.runTimeoutMs,
        stallTimeoutMs: config.agentStallTimeoutMs,
        maxLineLength: config.agentMaxLineLength,
        maxToolCallLength: config.agentMaxToolCallLength,
        maxOpenToolCalls: config.agentMaxOpenToolCalls,
        protocol: config.agentProtocol,
        ...(tracing !== undefined && { fetch: tracedFetch(tracing) }),
      }),
    );
  }
  return agents;
}
