import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, isToolUIPart, type UIMessage } from 'ai';
import { createElement as h, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

/**
 * A chat page as an app would write it with the AI SDK: `useChat` with `DefaultChatTransport` pointed at
 * agentcast (`/v1/ai-sdk/chat`, the user's JWT), `resume: true`, and the stop recipe of docs/ai-sdk.md
 * (stop() then POST …/cancel). The app keeps its user messages (here in sessionStorage, as it would in its
 * database), so a reload shows them and resumes the answer. Written without JSX: the root tsconfig has none.
 */

const params = new URLSearchParams(location.search);
const gateway = params.get('gw') ?? '';
const token = params.get('token') ?? '';
const chatId = params.get('chat') ?? 'chat';
const agent = params.get('agent') ?? undefined;
const storageKey = `chat:${chatId}`;
const saved = sessionStorage.getItem(storageKey);
const initial: UIMessage[] = saved === null ? [] : (JSON.parse(saved) as UIMessage[]);
const headers = { Authorization: `Bearer ${token}` };
// docs/ai-sdk.md, "A chat page": this line, the useChat line and stopRun are the recipe's.
const transport = new DefaultChatTransport<UIMessage>({
  api: `${gateway}/v1/ai-sdk/chat`,
  headers,
  body: { agent },
});

function textOf(message: UIMessage): string {
  return message.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

function Chat() {
  const { messages, sendMessage, status, stop, addToolApprovalResponse } = useChat({
    id: chatId,
    messages: initial,
    transport,
    resume: true,
  });
  const [input, setInput] = useState('');
  useEffect(() => {
    sessionStorage.setItem(storageKey, JSON.stringify(messages.filter((m) => m.role === 'user')));
  }, [messages]);
  // docs/ai-sdk.md, "A chat page" (Stop): stop() ends this tab's read; the cancel ends the run for every tab.
  const stopRun = async () => {
    await stop();
    await fetch(`${gateway}/v1/ai-sdk/chat/${encodeURIComponent(chatId)}/cancel`, {
      method: 'POST',
      headers,
    });
  };
  // docs/ai-sdk.md, "A chat page" (Approvals): the SDK's own answer, then a resend settles it.
  const approve = async (id: string, approved: boolean) => {
    await addToolApprovalResponse({ id, approved });
    await sendMessage();
  };
  return h(
    'main',
    null,
    h('p', { 'data-testid': 'status' }, status),
    ...messages.map((m) =>
      h(
        'div',
        { key: m.id, 'data-testid': 'message', 'data-role': m.role, 'data-id': m.id },
        h('p', { 'data-testid': 'text' }, textOf(m)),
        h('p', { 'data-testid': 'parts' }, m.parts.map((p) => p.type).join(' ')),
        h('p', { 'data-testid': 'states' }, m.parts.map((p) => ('state' in p ? p.state : '')).join(' ')),
        ...m.parts.map((p) =>
          isToolUIPart(p) && p.state === 'approval-requested'
            ? h(
                'button',
                {
                  key: p.approval.id,
                  type: 'button',
                  'data-testid': 'approve',
                  onClick: () => void approve(p.approval.id, true),
                },
                'Approve',
              )
            : null,
        ),
      ),
    ),
    h('input', {
      'data-testid': 'input',
      value: input,
      onChange: (e: { target: { value: string } }) => setInput(e.target.value),
    }),
    h(
      'button',
      { type: 'button', 'data-testid': 'send', onClick: () => void sendMessage({ text: input }) },
      'Send',
    ),
    h('button', { type: 'button', 'data-testid': 'stop', onClick: () => void stopRun() }, 'Stop'),
  );
}

createRoot(document.getElementById('root') as HTMLElement).render(h(Chat));
