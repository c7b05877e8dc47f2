import type { AgentEvent } from '@agentcast/client';
import { createElement } from './create-element.js';

/** What the page does with a sent message once the server answers. */
export interface PendingMessage {
  acked(runId: string, duplicate: boolean): void;
  failed(reason: string): void;
}

interface Answer {
  readonly bubble: HTMLLIElement;
  readonly text: HTMLParagraphElement;
  readonly status: HTMLSpanElement;
}

/**
 * The chat column: the user's messages and one answer bubble per run, filled by `stream_chunk` text and
 * settled by `agent_completed` (whose `final_response` is authoritative, so the bubble is right even if
 * a reset skipped some chunks).
 */
export class ChatView {
  readonly #list: HTMLOListElement;
  readonly #answers = new Map<string, Answer>();

  constructor(list: HTMLOListElement) {
    this.#list = list;
  }

  /** Shows a message the user sent; the result says what became of it. */
  addUserMessage(text: string): PendingMessage {
    const status = createElement('span', { className: 'status', text: 'sending…' });
    const bubble = createElement(
      'li',
      { className: 'bubble user', attrs: { 'data-testid': 'user-message' } },
      [createElement('p', { text }), status],
    );
    this.#push(bubble);
    return {
      acked: (runId, duplicate) => {
        status.textContent = duplicate ? `already running as ${runId}` : `run ${runId}`;
        bubble.dataset.runId = runId;
      },
      failed: (reason) => {
        status.textContent = `not sent: ${reason}`;
        bubble.classList.add('failed');
      },
    };
  }

  /** Applies a run event to its answer bubble. */
  apply(ev: AgentEvent): void {
    if (ev.run_id === undefined) return;
    switch (ev.type) {
      case 'agent_started':
        this.#answer(ev.run_id, ev.data.agent_name);
        break;
      case 'stream_chunk':
        if (typeof ev.data.text === 'string') this.#answer(ev.run_id).text.append(ev.data.text);
        break;
      case 'agent_completed': {
        const answer = this.#answer(ev.run_id);
        const final = ev.data.final_response;
        if (typeof final === 'string' && final !== '') answer.text.textContent = final;
        const status = typeof ev.data.status === 'string' ? ev.data.status : 'ended';
        answer.status.textContent = status;
        answer.bubble.dataset.status = status;
        if (status !== 'succeeded') answer.bubble.classList.add('failed');
        break;
      }
    }
  }

  #answer(runId: string, agentName?: unknown): Answer {
    const known = this.#answers.get(runId);
    if (known !== undefined) return known;
    const name = typeof agentName === 'string' ? agentName : 'agent';
    const text = createElement('p');
    const status = createElement('span', { className: 'status', text: `${name} is working…` });
    const bubble = createElement(
      'li',
      { className: 'bubble agent', attrs: { 'data-testid': 'answer', 'data-run-id': runId } },
      [text, status],
    );
    const answer = { bubble, text, status };
    this.#answers.set(runId, answer);
    this.#push(bubble);
    return answer;
  }

  #push(item: HTMLLIElement): void {
    this.#list.append(item);
    item.scrollIntoView({ block: 'nearest' });
  }
}
