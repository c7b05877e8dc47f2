import { type AgentDefinition, defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { deferred } from '../../helpers/deferred.js';

/**
 * Agents for the AI SDK edge tests, held at a gate between their two halves so a test can cut, resume or
 * cancel mid-run without sleeping: `gated` streams "one " and "two ", then waits for `release(text)`, then
 * streams "three " and ends; `asks` asks for approval of `send_email` and runs it when approved; `steps`
 * interleaves reasoning, text and a tool call (so a snapshot's order differs from the events'), waits at
 * its gate after "c ", then streams "d", calls another tool and ends.
 */
export function testAgents(): {
  readonly agents: AgentDefinition[];
  /** Resolves once the gated run of `text` reached its gate. */
  readonly reached: (text: string) => Promise<void>;
  /** Lets the gated run of `text` finish. */
  readonly release: (text: string) => void;
} {
  const gates = new Map<
    string,
    { reached: ReturnType<typeof deferred<void>>; open: ReturnType<typeof deferred<void>> }
  >();
  const gateOf = (text: string) => {
    let gate = gates.get(text);
    if (gate === undefined) {
      gate = { reached: deferred<void>(), open: deferred<void>() };
      gates.set(text, gate);
    }
    return gate;
  };
  const gated = defineAgent({
    name: 'gated',
    async *run(input, ctx) {
      yield { type: 'agent_thinking', data: { reasoning: 'Thinking.' } };
      yield { type: 'stream_chunk', data: { text: 'one ' } };
      yield { type: 'stream_chunk', data: { text: 'two ' } };
      const gate = gateOf(input.text);
      gate.reached.resolve(undefined);
      await Promise.race([
        gate.open.promise,
        new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true })),
      ]);
      yield { type: 'stream_chunk', data: { text: 'three' } };
      return 'one two three';
    },
  });
  const asks = defineAgent({
    name: 'asks',
    async *run(_input, ctx) {
      const { decision } = await ctx.approval({
        tool_name: 'send_email',
        tool_args: { to: 'bob' },
        message: 'Send the email to bob?',
      });
      if (decision === 'approved') yield* ctx.tool('send_email', { to: 'bob' }, () => 'sent');
      yield { type: 'stream_chunk', data: { text: decision === 'approved' ? 'Sent.' : 'Not sent.' } };
      return decision;
    },
  });
  const steps = defineAgent({
    name: 'steps',
    async *run(input, ctx) {
      yield { type: 'agent_thinking', data: { reasoning: 'Plan.' } };
      yield { type: 'stream_chunk', data: { text: 'a ' } };
      yield* ctx.tool('lookup', { q: 1 }, () => 'found');
      yield { type: 'agent_thinking', data: { reasoning: 'More.' } };
      yield { type: 'stream_chunk', data: { text: 'b ' } };
      yield { type: 'stream_chunk', data: { text: 'c ' } };
      const gate = gateOf(input.text);
      gate.reached.resolve(undefined);
      await Promise.race([
        gate.open.promise,
        new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true })),
      ]);
      yield { type: 'stream_chunk', data: { text: 'd' } };
      yield* ctx.tool('lookup', { q: 2 }, () => 'again');
      return 'a b c d';
    },
  });
  return {
    agents: [gated, asks, steps],
    reached: (text) => gateOf(text).reached.promise,
    release: (text) => gateOf(text).open.resolve(undefined),
  };
}
