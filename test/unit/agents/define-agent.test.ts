import { describe, expect, it } from 'vitest';
import { type AgentDefinition, defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { agentInvalid } from './support/agent-invalid.js';

describe('defineAgent', () => {
  it('returns a frozen definition whose run keeps its this', async () => {
    const definition = {
      name: 'echo',
      prefix: '> ',
      async *run(this: { prefix: string }, input: { text: string }) {
        yield { type: 'stream_chunk', data: { text: this.prefix + input.text } };
      },
    };
    const agent = defineAgent(definition as unknown as AgentDefinition);
    expect(Object.isFrozen(agent)).toBe(true);
    const stream = agent.run({ text: 'hi', messageId: 'm' }, {} as never);
    expect((await stream.next()).value).toEqual({ type: 'stream_chunk', data: { text: '> hi' } });
  });

  it.each([
    ['', 'defineAgent: name "" must match ^[a-z][a-z0-9_.-]{0,63}$'],
    ['Demo', 'defineAgent: name "Demo" must match ^[a-z][a-z0-9_.-]{0,63}$'],
    ['a'.repeat(65), `defineAgent: name "${'a'.repeat(65)}" must match ^[a-z][a-z0-9_.-]{0,63}$`],
    [7, 'defineAgent: name 7 must match ^[a-z][a-z0-9_.-]{0,63}$'],
    // Not a string, though the regex alone would accept what it turns into.
    [{ toString: () => 'echo' }, 'defineAgent: name {} must match ^[a-z][a-z0-9_.-]{0,63}$'],
  ])('throws AC_ERR_AGENT_INVALID for the name %j', (name, message) => {
    expect(() => defineAgent({ name, async *run() {} } as unknown as AgentDefinition)).toThrow(
      agentInvalid(message),
    );
  });

  it('accepts a 64-character name', () => {
    expect(defineAgent({ name: 'a'.repeat(64), async *run() {} }).name).toHaveLength(64);
  });

  it('throws AC_ERR_AGENT_INVALID without run', () => {
    expect(() => defineAgent({ name: 'x' } as unknown as AgentDefinition)).toThrow(
      agentInvalid('defineAgent: agent "x" needs a run(input, ctx) async generator'),
    );
  });
});
