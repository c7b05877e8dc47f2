import { describe, expect, it } from 'vitest';
import type { AgentContext, AgentEvent } from '../../../packages/server/src/agents/define-agent.js';
import { chunk, createDemoAgent } from '../../../packages/server/src/agents/demo-agent.js';
import { runTool } from '../../../packages/server/src/agents/run-tool.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';

/** Runs the demo agent bare, with no runtime, and collects what it yields. */
async function collect(
  text: string,
  options: Parameters<typeof createDemoAgent>[0] = {},
  signal?: AbortSignal,
  approval: AgentContext['approval'] = async () => ({ decision: 'approved' }),
) {
  const controller = new AbortController();
  const ctx: AgentContext = {
    signal: signal ?? controller.signal,
    userId: 'u1',
    runId: 'r_1',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    tool: (name, args, fn) =>
      runTool(name, args, fn, {
        signal: ctx.signal,
        executionId: () => 'x',
        now: () => 0,
        log: silentLogger(),
      }),
    approval,
  };
  const events: AgentEvent[] = [];
  for await (const event of createDemoAgent({ delayMs: 0, ...options }).run({ text, messageId: 'm' }, ctx)) {
    events.push(event);
  }
  return events;
}

describe('createDemoAgent', () => {
  describe('asks before sending an email (docs/agents.md, the built-in demo agent)', () => {
    it('asks with send_email and its arguments, then runs the tool once approved', async () => {
      const asked: Parameters<AgentContext['approval']>[0][] = [];
      const events = await collect(
        'Please EMAIL bob@example.org the plan',
        {},
        undefined,
        async (request) => {
          asked.push(request);
          return { decision: 'approved' };
        },
      );
      const args = { to: 'bob@example.org', subject: 'Hello from the agentcast demo' };
      expect(asked).toEqual([
        {
          tool_name: 'send_email',
          tool_args: args,
          message: 'Send an email to bob@example.org with the subject "Hello from the agentcast demo"?',
        },
      ]);
      expect(events.filter((e) => e.type === 'tool_completed').map((e) => e.data)).toMatchObject([
        { tool_name: 'send_email', success: true, results: { sent: true, to: 'bob@example.org' } },
      ]);
      expect(events.at(-1)?.data).toEqual({
        status: 'succeeded',
        final_response: 'I sent the email to bob@example.org.',
      });
    });

    it.each(['denied', 'expired'] as const)('runs no tool when %s and still succeeds', async (decision) => {
      const events = await collect('send an email', {}, undefined, async () => ({ decision }));
      expect(events.some((e) => e.type === 'tool_executing')).toBe(false);
      expect(events.at(-1)?.data).toEqual({
        status: 'succeeded',
        final_response: `I did not send the email to friend@example.com: the request was ${decision}.`,
      });
    });

    it('computes arithmetic after the email when the message asks for both', async () => {
      const events = await collect('email me 6 times 7');
      expect(events.filter((e) => e.type === 'tool_completed').map((e) => e.data.tool_name)).toEqual([
        'send_email',
        'web_search',
        'calculator',
      ]);
      expect(String(events.at(-1)?.data.final_response)).toMatch(
        /^I sent the email to friend@example\.com\. I found 2 sources: .* 6 \* 7 = 42\. /,
      );
    });

    it('asks nothing for a message without the word', async () => {
      let asked = 0;
      await collect('What is 6 times 7?', {}, undefined, async () => {
        asked += 1;
        return { decision: 'approved' };
      });
      expect(asked).toBe(0);
    });
  });

  it('is deterministic: the same seed and question give the same events', async () => {
    expect(await collect('What is 2 + 2?', { seed: 3 })).toEqual(
      await collect('What is 2 + 2?', { seed: 3 }),
    );
  });

  it('answers differently for another seed or question', async () => {
    const base = JSON.stringify(await collect('Tell me something', { seed: 1 }));
    const seeds = await Promise.all([2, 3, 4, 5].map((seed) => collect('Tell me something', { seed })));
    expect(seeds.some((s) => JSON.stringify(s) !== base)).toBe(true);
  });

  it.each([
    ['What is 6 times 7?', '6 * 7 = 42.'],
    ['seven plus five', '7 + 5 = 12.'],
    ["what's 12 divided by 4", '12 / 4 = 3.'],
    ['What is the square root of 81?', 'sqrt(81) = 9.'],
    ['What is 17 * 23?', '17 * 23 = 391.'],
    ['ten divided by three', '10 / 3 = 3.33333333333.'],
    ['0.1 + 0.2', '0.1 + 0.2 = 0.3.'],
    ['What is 5 divided by zero?', 'I could not compute 5 / 0: division by zero.'],
    ['square root of negative four', 'I could not compute sqrt(-4): square root of a negative number.'],
  ])('answers %j with %j', async (question, sentence) => {
    const events = await collect(question);
    const answer = String(events.at(-1)?.data.final_response);
    expect(answer).toContain(` ${sentence} `);
    expect(events.filter((e) => e.type === 'tool_completed').map((e) => e.data.tool_name)).toEqual([
      'web_search',
      'calculator',
    ]);
  });

  it.each(['hello', 'Tell me a story', 'What is the capital of France?', '42'])(
    'says what it can do, with an example, and computes nothing for %j',
    async (question) => {
      const events = await collect(question);
      expect(events.map((e) => e.type)).toEqual([
        'agent_thinking',
        ...events.filter((e) => e.type === 'stream_chunk').map(() => 'stream_chunk'),
        'agent_completed',
      ]);
      const answer = String(events.at(-1)?.data.final_response);
      expect(answer).toMatch(
        /^I am the agentcast demo agent: I only compute arithmetic, and I found none in your message\. Try "[^"]+\?"$/,
      );
      expect(answer).not.toMatch(/=/);
      const example = /Try "([^"]+)"/.exec(answer)?.[1] ?? '';
      const answered = await collect(example);
      expect(String(answered.at(-1)?.data.final_response)).toMatch(/ = \d+\. /);
    },
  );

  it('reports a calculator failure as a failed tool call and says so in the answer', async () => {
    const events = await collect('What is 1/0?');
    const done = events.filter((e) => e.type === 'tool_completed');
    expect(done[1]?.data).toMatchObject({
      tool_name: 'calculator',
      success: false,
      error: { message: 'division by zero' },
    });
    const final = events.at(-1);
    expect(final?.type).toBe('agent_completed');
    expect(String(final?.data.final_response)).toContain('I could not compute 1/0: division by zero.');
  });

  it('streams an answer whose chunks join to final_response', async () => {
    const events = await collect('What is 6*7?');
    const text = events
      .filter((e) => e.type === 'stream_chunk')
      .map((e) => e.data.text)
      .join('');
    expect(events.at(-1)?.data).toEqual({ status: 'succeeded', final_response: text });
    expect(text).toMatch(/^I found 2 sources: ".+" and ".+"\. 6\*7 = 42\. /);
  });

  it('stops at once when its signal is already aborted, even with a delay', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(collect('x', { delayMs: 10_000 }, controller.signal)).rejects.toThrow('cancelled');
  });

  it('cites two different canned hits and streams no empty chunk, whatever the arithmetic', async () => {
    for (const text of ['1+1', 'what is 6 * 7?', 'search 2 times 3', 'x^2 or 3^2', '12 / 4 then?']) {
      const events = await collect(text);
      const search = events.find((e) => e.type === 'tool_completed' && e.data.tool_name === 'web_search');
      const hits = (search?.data.results as { url: string }[] | undefined) ?? [];
      expect(hits).toHaveLength(2);
      expect(hits[0]?.url).not.toBe(hits[1]?.url);
      for (const chunk of events.filter((e) => e.type === 'stream_chunk')) {
        expect(String(chunk.data.text).trim()).not.toBe('');
      }
    }
  });

  it('is named demo unless told otherwise', () => {
    expect(createDemoAgent().name).toBe('demo');
    expect(createDemoAgent({ name: 'demo2' }).name).toBe('demo2');
  });
});

describe('chunk', () => {
  it('splits into three-word chunks that join back exactly', () => {
    expect(chunk('a b c d e f g')).toEqual(['a b c ', 'd e f ', 'g']);
    expect(chunk('one')).toEqual(['one']);
  });
});
