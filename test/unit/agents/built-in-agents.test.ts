import { describe, expect, it } from 'vitest';
import { builtInAgents } from '../../../packages/server/src/agents/built-in-agents.js';
import type { Config } from '../../../packages/server/src/config/config.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';

describe('builtInAgents', () => {
  // loadConfig refuses --agent-url without --agent-secret, so the combinations are built from a valid
  // config by hand: builtInAgents must not rely on that check alone.
  const base: Config = loadConfig({ overrides: { env: 'test', jwtSecret: 'x'.repeat(40) } });
  const url = 'http://127.0.0.1:9/agent';
  const secret = 's'.repeat(32);

  it.each<[string, Partial<Config>, string[]]>([
    ['demo only without --agent-url', {}, ['demo']],
    ['demo only with a URL but no secret', { agentUrl: url }, ['demo']],
    ['demo only with a secret but no URL', { agentSecret: secret }, ['demo']],
    ['demo and webhook with both', { agentUrl: url, agentSecret: secret }, ['demo', 'webhook']],
  ])('offers %s', (_name, overrides, names) => {
    expect(builtInAgents({ ...base, ...overrides }).map((a) => a.name)).toEqual(names);
  });
});
