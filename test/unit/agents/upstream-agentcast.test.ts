import { describe, expect, it } from 'vitest';
import {
  agentcastProtocol,
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
    const d = new WebhookLineDecoder(settings, true);
    expect(d.frame(ask({ approval_id: 'theirs', expires_at: '2026-01-01T00:01:00Z' }))).toEqual({
      ok: true,
      events: [],
    });
    expect(d.end()).toEqual({
      kind: 'approval',
      request: { tool_name: 't', tool_args: {}, message: 'ok?', timeout_ms: 60_000 },
    });
    const past = new WebhookLineDecoder(settings, true);
    past.frame(ask({ expires_at: '2025-01-01T00:00:00Z' }));
    expect(past.end()).toMatchObject({ request: { timeout_ms: 1 } });
    const far = new WebhookLineDecoder(settings, true);
    far.frame(ask({ expires_at: '2099-01-01T00:00:00Z' }));
    expect(far.end()).toMatchObject({ request: { timeout_ms: 604_800_000 } });
    const plain = new WebhookLineDecoder(settings, true);
    plain.frame(ask({}));
    expect(plain.end()).toEqual({
      kind: 'approval',
      request: { tool_name: 't', tool_args: {}, message: 'ok?' },
    });
  });

  it('refuses a malformed question, and anything after one', () => {
    const refusals: [Record<string, unknown>, string][] = [
      [{ tool_name: '' }, 'line 2: approval_requested data.tool_name'],
      [{ tool_args: deep(70) }, 'nested deeper than 64 levels'],
      [{ expires_at: 'soon' }, 'data.expires_at: not an ISO 8601 time'],
    ];
    for (const [data, message] of refusals) {
      const out = new WebhookLineDecoder(settings, true).frame(ask(data));
      expect(out).toMatchObject({ ok: false, message: expect.stringContaining(message) });
    }
    const d = new WebhookLineDecoder(settings, true);
    d.frame(ask({}));
    expect(d.frame({ where: 'line 3', text: '{}' })).toMatchObject({
      ok: false,
      message: expect.stringContaining('line 3: nothing may follow approval_requested (line 2)'),
    });
    expect(d.frame({ where: 'line 1', text: '[' }).ok).toBe(false);
  });

  it('refuses approval_requested where the protocol cannot pause (ag-ui), as any agent may not yield one', () => {
    const out = new WebhookLineDecoder(settings, false).frame(ask({}));
    expect(out).toMatchObject({ ok: false, message: expect.stringContaining('ctx.approval()') });
    expect(new WebhookLineDecoder(settings, false).end()).toMatchObject({ kind: 'incomplete' });
  });

  it("sends today's body, plus approval on a continuation", () => {
    const call = { userId: 'u', runId: 'r', input: { text: 'hi', messageId: 'm' } };
    expect(agentcastProtocol(settings).body(call)).toEqual({
      run_id: 'r',
      user_id: 'u',
      message: { id: 'm', text: 'hi', thread_id: null },
    });
    const approval = { approval_id: 'a_1', decision: 'denied', reason: null };
    expect(agentcastProtocol(settings).body({ ...call, approval })).toMatchObject({ approval });
  });
});

describe('runAgentInput (ag-ui)', () => {
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
