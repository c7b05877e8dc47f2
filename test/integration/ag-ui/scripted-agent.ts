import { type AgentInput, defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import type { deferred } from '../../helpers/deferred.js';

/** The whole answer of the scripted agent. */
export const FULL_TEXT = 'The answer is forty two.';

/** What a "flood" message streams after its answer: FLOOD_CHUNKS chunks of 1000 characters. */
export const FLOOD_CHUNKS = 8000;
const FLOOD_TEXT = 'x'.repeat(1000);

/** A test's hold on a run whose text says "wait": `reached` once it paused, `gate` lets it go on. */
export interface ScriptedHold {
  reached: ReturnType<typeof deferred<void>>;
  gate: ReturnType<typeof deferred<void>>;
}

/**
 * The agent of the AG-UI tests: thinks, calls a tool, streams half its answer, waits on `hold` when the
 * message says "wait", streams the rest. `hold` is read at each run, so a test may renew it.
 */
export function scriptedAgent(hold: ScriptedHold) {
  return defineAgent({
    name: 'scripted',
    async *run(input: AgentInput, ctx) {
      yield { type: 'agent_thinking', data: { reasoning: 'planning' } };
      yield* ctx.tool('lookup', { q: input.text }, async () => ({ found: 1 }));
      for (const text of ['The ', 'answer ', 'is ']) yield { type: 'stream_chunk', data: { text } };
      if (input.text.includes('wait')) {
        hold.reached.resolve();
        await hold.gate.promise;
      }
      for (const text of ['forty ', 'two.']) yield { type: 'stream_chunk', data: { text } };
      // "flood": megabytes of text, for a client that does not read.
      if (input.text.includes('flood'))
        for (let i = 0; i < FLOOD_CHUNKS; i++) yield { type: 'stream_chunk', data: { text: FLOOD_TEXT } };
    },
  });
}
