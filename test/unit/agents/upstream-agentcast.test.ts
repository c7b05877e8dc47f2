import { describe, expect, it } from 'vitest';
import {
  agentcastProtocol,
  type LineMode,
  WebhookLineDecoder,
} from '../../../packages/server/src/agents/upstream-agentcast.js';
import { createWebhookAgent } from '../../../packages/server/src/agents/webhook-agent.js';
import { runAgentInput } from '../../../packages/server/src/edges/ag-ui/ag-ui-decoder.js';

const settings = {
  now: () => Date.parse('2026-01-01T00:00:00Z'),
  maxToolCallLength: 100,
  maxOpenToolCalls: 2,
};
const ask = (data: Record<string, unknown>) => ({
  where: 'line 2',
  text: JSON.stringify({
    type: 'approval_requested',
    data: { tool_name: 't', tool_args: {}, message: 'ok?', ...data },
  }),
});

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) value = { v: value };
  return value;
}

describe('WebhookLineDecoder with approvals (agentcast protocol)', () => {
  it('holds approval_requested and pauses at the end of the body, with the wait its expires_at asks', () => {
    const d = new WebhookLineDecoder(settings, 'agentcast');
    expect(d.frame(ask({ approval_id: 'theirs', expires_at: '2026-01-01T00:01:00Z' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(d.end()).toEqual({
      kind: 'approval',
      questions: [{ request: { tool_name: 't', tool_args: {}, message: 'ok?', timeout_ms: 60_000 } }],
    });
    // The pause is over once reported: the next body (the continuation) is read afresh.
    expect(d.end()).toMatchObject({ kind: 'incomplete' });
    const past = new WebhookLineDecoder(settings, 'agentcast');
    past.frame(ask({ expires_at: '2025-01-01T00:00:00Z' }));
    expect(past.end()).toMatchObject({ questions: [{ request: { timeout_ms: 1 } }] });
    const far = new WebhookLineDecoder(settings, 'agentcast');
    far.frame(ask({ expires_at: '2099-01-01T00:00:00Z' }));
    expect(far.end()).toMatchObject({ questions: [{ request: { timeout_ms: 604_800_000 } }] });
    const plain = new WebhookLineDecoder(settings, 'agentcast');
    plain.frame(ask({}));
    expect(plain.end()).toEqual({
      kind: 'approval',
      questions: [{ request: { tool_name: 't', tool_args: {}, message: 'ok?' } }],
    });
  });

  it('refuses a malformed question, and anything after one', () => {
    const refusals: [Record<string, unknown>, string][] = [
      [{ tool_name: '' }, 'line 2: approval_requested data.tool_name'],
      [{ tool_args: deep(70) }, 'nested deeper than 64 levels'],
      [{ expires_at: 'soon' }, 'data.expires_at: not an ISO 8601 time'],
    ];
    for (const [data, message] of refusals) {
      const out = new WebhookLineDecoder(settings, 'agentcast').frame(ask(data));
      expect(out).toMatchObject({ ok: false, message: expect.stringContaining(message) });
    }
    const d = new WebhookLineDecoder(settings, 'agentcast');
    d.frame(ask({}));
    expect(d.frame({ where: 'line 3', text: '{}' })).toMatchObject({
      ok: false,
      message: expect.stringContaining('line 3: nothing may follow approval_requested (line 2)'),
    });
    expect(d.frame({ where: 'line 1', text: '[' }).ok).toBe(false);
  });

  it('refuses approval_requested where the protocol cannot pause (ag-ui), as any agent may not yield one', () => {
    const out = new WebhookLineDecoder(settings, 'ag-ui').frame(ask({}));
    expect(out).toMatchObject({ ok: false, message: expect.stringContaining('ctx.approval()') });
    expect(new WebhookLineDecoder(settings, 'ag-ui').end()).toMatchObject({ kind: 'incomplete' });
  });

  it("sends today's body, plus approval on a continuation", () => {
    const call = { userId: 'u', runId: 'r', input: { text: 'hi', messageId: 'm' } };
    expect(agentcastProtocol(settings).body(call)).toEqual({
      run_id: 'r',
      user_id: 'u',
      message: { id: 'm', text: 'hi', thread_id: null },
    });
    const approval = { approval_id: 'a_1', decision: 'denied', reason: null };
    expect(agentcastProtocol(settings).body({ ...call, answers: [{ ...approval, ref: 'x' }] })).toMatchObject(
      {
        approval,
      },
    );
  });
});

describe('WebhookLineDecoder with AG-UI interrupts (ag-ui protocol)', () => {
  const finished = (interrupts: unknown[]) => ({
    where: 'event at line 5',
    text: JSON.stringify({
      type: 'RUN_FINISHED',
      threadId: 't',
      runId: 'r',
      outcome: { type: 'interrupt', interrupts },
    }),
  });

  it('asks one question per interrupt, about the tool call it names when one is open', () => {
    const d = new WebhookLineDecoder(settings, 'ag-ui');
    const start = { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'pay' };
    const args = { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"eur":5}' };
    const end = { type: 'TOOL_CALL_END', toolCallId: 'c1' };
    // A second call whose arguments stopped half way: asked about with none.
    const half = { type: 'TOOL_CALL_CHUNK', toolCallId: 'c2', toolCallName: 'refund', delta: '{"eur":' };
    for (const [n, event] of [start, args, end, half].entries()) {
      expect(d.frame({ where: `line ${n + 1}`, text: JSON.stringify(event) })).toMatchObject({ ok: true });
    }
    const out = d.frame(
      finished([
        { id: 'i1', reason: 'approval', toolCallId: 'c1', expiresAt: '2026-01-01T00:00:30Z' },
        { id: 'i2', reason: 'input_required', message: 'Which account?' },
        { id: 'i3', reason: '', toolCallId: 'unknown' },
        { id: 'i4', reason: 'approval', toolCallId: 'c2' },
      ]),
    );
    expect(out).toEqual({ ok: true, events: [], last: true });
    expect(d.end()).toEqual({
      kind: 'approval',
      questions: [
        {
          ref: 'i1',
          request: { tool_name: 'pay', tool_args: { eur: 5 }, message: 'approval', timeout_ms: 30_000 },
        },
        { ref: 'i2', request: { tool_name: 'input_required', tool_args: {}, message: 'Which account?' } },
        { ref: 'i3', request: { tool_name: 'interrupt', tool_args: {}, message: '' } },
        { ref: 'i4', request: { tool_name: 'refund', tool_args: {}, message: 'approval' } },
      ],
    });
  });

  it('refuses a malformed interrupt, and an interrupt where the protocol pauses on approval_requested', () => {
    const refusals: [LineMode, unknown[], string][] = [
      ['ag-ui', [], 'event at line 5: RUN_FINISHED outcome'],
      [
        'ag-ui',
        [{ id: 'i', reason: 'r', expiresAt: 'later' }],
        'interrupt i expiresAt: not an ISO 8601 time',
      ],
      ['agentcast', [{ id: 'i', reason: 'r' }], 'needs --agent-protocol ag-ui'],
    ];
    for (const [mode, interrupts, message] of refusals) {
      const out = new WebhookLineDecoder(settings, mode).frame(finished(interrupts));
      expect(out).toMatchObject({ ok: false, message: expect.stringContaining(message) });
    }
  });
});

describe('runAgentInput (ag-ui)', () => {
  it('answers interrupts with resume entries: resolved with the decision, cancelled when it expired', () => {
    const input = runAgentInput({
      userId: 'u',
      runId: 'r',
      input: { text: 'hi', messageId: 'm' },
      answers: [
        { approval_id: 'a_1', decision: 'denied', reason: 'no', ref: 'i1' },
        { approval_id: 'a_2', decision: 'expired', reason: null },
      ],
    });
    expect(input.resume).toEqual([
      {
        interruptId: 'i1',
        status: 'resolved',
        payload: { approved: false, decision: 'denied', approval_id: 'a_1', reason: 'no' },
      },
      {
        interruptId: 'a_2',
        status: 'cancelled',
        payload: { approved: false, decision: 'expired', approval_id: 'a_2' },
      },
    ]);
  });

  it('keeps system and developer messages, drops tool messages it cannot address', () => {
    const input = runAgentInput({
      userId: 'u',
      runId: 'r',
      input: {
        text: 'hi',
        messageId: 'm',
        context: {
          messages: [
            { id: 's', role: 'system', content: 'rules' },
            { id: 'd', role: 'developer', content: 'more' },
            { id: 'x', role: 'tool', content: '{}' },
          ],
          raw: { protocol: 'ai-sdk', messages: [{ ignored: true }] },
        },
      },
    });
    expect(input.messages).toEqual([
      { id: 's', role: 'system', content: 'rules' },
      { id: 'd', role: 'developer', content: 'more' },
    ]);
  });
});

describe('createWebhookAgent protocol', () => {
  it('refuses an unknown protocol', () => {
    expect(() =>
      createWebhookAgent({ url: 'http://127.0.0.1/', secret: 's', protocol: 'soap' as 'agentcast' }),
    ).toThrow(/protocol must be one of agentcast, ag-ui, ai-sdk/);
  });
});
