import type { Message } from '@ag-ui/client';
import { AgentcastAgent } from '@agentcast/ag-ui';

/**
 * The page of test/browser/ag-ui.test.ts: an AG-UI app on @agentcast/ag-ui in Chromium. It keeps the
 * thread's messages in sessionStorage (what an app restores after a reload) and exposes what it saw on
 * `window.agUi` for the test to read.
 */

interface Seen {
  /** Every TEXT_MESSAGE_CONTENT delta this page load received, in order. */
  deltas: string[];
  /** The agent's messages once its run or connect settled; undefined before. */
  messages: Message[] | undefined;
  error: string | undefined;
}

const seen: Seen = { deltas: [], messages: undefined, error: undefined };
const saved = sessionStorage.getItem('messages');

function agentFor(url: string, token: string, threadId: string): AgentcastAgent {
  const agent = new AgentcastAgent({
    url,
    token,
    threadId,
    initialMessages: saved === null ? [] : (JSON.parse(saved) as Message[]),
  });
  agent.subscribe({
    onTextMessageContentEvent: ({ event }) => {
      seen.deltas.push(event.delta);
    },
  });
  return agent;
}

function settle(agent: AgentcastAgent, done: Promise<unknown>): void {
  done.then(
    () => {
      seen.messages = agent.messages;
    },
    (error: unknown) => {
      seen.error = String(error);
    },
  );
}

Object.assign(window, {
  agUi: {
    seen,
    /** Sends `text` as a new user message and streams the run. */
    ask(url: string, token: string, threadId: string, id: string, text: string): void {
      const agent = agentFor(url, token, threadId);
      agent.addMessage({ id, role: 'user', content: text });
      sessionStorage.setItem('messages', JSON.stringify(agent.messages));
      settle(agent, agent.runAgent());
    },
    /** After a reload: re-attaches the thread's live run. */
    reattach(url: string, token: string, threadId: string): void {
      const agent = agentFor(url, token, threadId);
      settle(agent, agent.connectAgent());
    },
  },
});
