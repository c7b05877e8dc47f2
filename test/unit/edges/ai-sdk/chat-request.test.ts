import { safeValidateUIMessages } from 'ai';
import { describe, expect, it } from 'vitest';
import { parseChatRequest, runContextOf } from '../../../../packages/server/src/edges/ai-sdk/chat-request.js';

/**
 * The chat body check of docs/protocol.md J agrees with the SDK's own validateUIMessages: what it refuses is
 * a 400 naming the field, what it accepts is accepted.
 */

const user = (id: string, text: string) => ({ id, role: 'user', parts: [{ type: 'text', text }] });

const GOOD_MESSAGES: unknown[][] = [
  [user('m1', 'hi')],
  [
    user('m1', 'hi'),
    {
      id: 'r_1',
      role: 'assistant',
      parts: [
        { type: 'step-start' },
        { type: 'reasoning', text: 'x', state: 'done' },
        { type: 'tool-web_search', toolCallId: 'x_1', state: 'output-available', input: {}, output: [] },
        {
          type: 'dynamic-tool',
          toolName: 't',
          toolCallId: 'x_2',
          state: 'output-error',
          input: {},
          errorText: 'e',
        },
        { type: 'data-notification', data: { a: 1 } },
        { type: 'text', text: 'ok', state: 'done' },
      ],
    },
    {
      id: 'm2',
      role: 'user',
      parts: [
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ],
      metadata: { x: 1 },
    },
  ],
  [
    user('m1', 'email bob'),
    {
      id: 'r_1',
      role: 'assistant',
      parts: [
        {
          type: 'tool-send_email',
          toolCallId: 'a_1',
          state: 'approval-responded',
          input: { to: 'bob' },
          approval: { id: 'a_1', approved: true, reason: 'fine' },
        },
      ],
    },
  ],
];

/** Bad message lists and the field the 400 must name. */
const BAD_MESSAGES: [unknown, string][] = [
  [[], 'messages'],
  ['nope', 'messages'],
  [[{ role: 'user', parts: [{ type: 'text', text: 'x' }] }], 'messages.0.id'],
  [[{ id: 'm', role: 'robot', parts: [{ type: 'text', text: 'x' }] }], 'messages.0.role'],
  [[{ id: 'm', role: 'user' }], 'messages.0.parts'],
  [[{ id: 'm', role: 'user', parts: [] }], 'messages.0.parts'],
  [[{ id: 'm', role: 'user', parts: [{ type: 'text' }] }], 'messages.0.parts.0.text'],
  [[{ id: 'm', role: 'user', parts: [{ type: 'banana' }] }], 'messages.0.parts.0.type'],
  [
    [{ id: 'm', role: 'user', parts: [{ type: 'tool-x', state: 'output-available' }] }],
    'messages.0.parts.0.toolCallId',
  ],
  [
    [{ id: 'm', role: 'user', parts: [{ type: 'tool-x', toolCallId: 'c', state: 'weird' }] }],
    'messages.0.parts.0.state',
  ],
  [
    [
      {
        id: 'm',
        role: 'user',
        parts: [{ type: 'dynamic-tool', toolCallId: 'c', state: 'input-available', input: {} }],
      },
    ],
    'messages.0.parts.0.toolName',
  ],
  [
    [
      {
        id: 'm',
        role: 'assistant',
        parts: [{ type: 'tool-x', toolCallId: 'c', state: 'approval-requested', input: {} }],
      },
    ],
    'messages.0.parts.0.approval',
  ],
  [
    [
      {
        id: 'm',
        role: 'assistant',
        parts: [
          { type: 'tool-x', toolCallId: 'c', state: 'approval-responded', input: {}, approval: { id: 'a' } },
        ],
      },
    ],
    'messages.0.parts.0.approval.approved',
  ],
];

describe('parseChatRequest', () => {
  it('accepts what validateUIMessages accepts, with the run fields taken from the last user message', async () => {
    for (const messages of GOOD_MESSAGES) {
      expect((await safeValidateUIMessages({ messages })).success).toBe(true);
      const parsed = parseChatRequest({ id: 'chat-1', messages, trigger: 'submit-message', extra: 1 });
      expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    }
    const parsed = parseChatRequest({
      id: 'chat-1',
      messages: GOOD_MESSAGES[1],
      messageId: 'z',
      tone: 'dry',
    });
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.value.userMessage).toEqual({ id: 'm2', text: 'ab' });
    expect(parsed.value.chatId).toBe('chat-1');
    expect(parsed.value.approvals).toEqual([]);
    const context = runContextOf(parsed.value);
    expect(context.forwardedProps).toEqual({ tone: 'dry' });
    expect(context.messages?.map((m) => [m.role, m.content])).toEqual([
      ['user', 'hi'],
      ['assistant', 'ok'],
      ['user', 'ab'],
    ]);
    expect(context.raw).toEqual({ protocol: 'ai-sdk', messages: GOOD_MESSAGES[1] });
    const approval = parseChatRequest({ id: 'c', messages: GOOD_MESSAGES[2] });
    expect(approval.ok && approval.value.approvals).toEqual([
      { approvalId: 'a_1', approved: true, reason: 'fine' },
    ]);
    expect(approval.ok && approval.value.userMessage.id).toBe('m1');
  });

  it('refuses what validateUIMessages refuses, naming the field', async () => {
    for (const [messages, field] of BAD_MESSAGES) {
      expect((await safeValidateUIMessages({ messages })).success, JSON.stringify(messages)).toBe(false);
      const parsed = parseChatRequest({ id: 'chat-1', messages });
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message.startsWith(`${field}:`), parsed.message).toBe(true);
    }
  });

  it('refuses a body without a chat id, a bad trigger, or without a user message', () => {
    const messages = GOOD_MESSAGES[0];
    const cases: [unknown, string][] = [
      [{ messages }, 'id: required (the chat id'],
      [{ id: '', messages }, 'id:'],
      [{ id: 'c', messages, trigger: 'resume' }, 'trigger:'],
      [
        { id: 'c', messages: [{ id: 's', role: 'system', parts: [{ type: 'text', text: 'x' }] }] },
        'messages: must contain a user message',
      ],
      [{ id: 'c', messages: [user('', 'x')] }, "messages.0.id: the last user message's id"],
      [null, ''],
    ];
    for (const [body, start] of cases) {
      const parsed = parseChatRequest(body);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.message.startsWith(start), parsed.message).toBe(true);
    }
  });
});
