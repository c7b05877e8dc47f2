import { afterEach, describe, expect, it } from 'vitest';
import { type AgentInput, defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { ErrorCode } from '../../../packages/server/src/protocol/error-codes.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';

/** An agent that records what it was started with and waits until cancelled. */
function recordingAgent() {
  const inputs: AgentInput[] = [];
  const agent = defineAgent({
    name: 'recorder',
    async *run(input, ctx) {
      inputs.push(input);
      yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    },
  });
  return { agent, inputs };
}

describe('frame router (docs/protocol.md §6)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("hands user_message's id, text, thread and agent to the agent, and acks with the run id", async () => {
    const { agent, inputs } = recordingAgent();
    h = await startGateway({}, { agents: [agent] });
    const client = await h.connect('u1');
    client.send({ type: 'user_message', id: 'm1', data: { text: 'hi', thread_id: 't9', agent: 'recorder' } });
    const ack = await client.next('ack');
    expect(ack).toMatchObject({ id: 'm1', data: { duplicate: false } });
    const runId = String(ack.data?.run_id);
    expect(await client.next('agent_thinking')).toMatchObject({ run_id: runId });
    expect(inputs).toEqual([{ messageId: 'm1', text: 'hi', threadId: 't9' }]);

    client.send({ type: 'cancel', id: 'c1', data: { run_id: runId } });
    expect(await client.next('ack')).toEqual({ type: 'ack', id: 'c1', data: { run_id: runId } });
    expect(await client.next('agent_completed')).toMatchObject({
      run_id: runId,
      data: { status: 'cancelled' },
    });
  });

  it('answers a refused start with its error code and message under the frame id', async () => {
    h = await startGateway();
    const client = await h.connect('u1');
    client.send({ type: 'user_message', id: 'm2', data: { text: 'hi', agent: 'nobody' } });
    expect(await client.next('error')).toEqual({
      type: 'error',
      id: 'm2',
      data: { code: ErrorCode.NotFound, message: 'no agent named "nobody"' },
    });
  });

  it('turns a handler that throws into an INTERNAL error under the frame id, logs it, and stays open', async () => {
    const engine = new DelegatingEngine();
    const { log, lines } = captureLog();
    h = await startGateway({}, { engine, log });
    const client = await h.connect('u1');
    // health() throwing is a bug in a dependency, not an outage: the run's start throws.
    const mend = engine.breakHealth(new Error('health exploded'));
    client.send({ type: 'user_message', id: 'm3', data: { text: 'hi' } });
    expect(await client.next('error')).toEqual({
      type: 'error',
      id: 'm3',
      data: { code: ErrorCode.Internal, message: 'internal error; nothing accepted before was lost' },
    });
    // The failure is logged at error with the connection's user and the error that escaped the handler.
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        user_id: 'u1',
        err: expect.objectContaining({ message: 'health exploded' }),
      }),
    );
    mend();
    client.send({ type: 'ping', id: 'after' });
    expect(await client.next('pong')).toMatchObject({ id: 'after' });
  });
});
