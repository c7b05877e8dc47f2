import type { AgentEvent } from '@agentcast/client';
import { createElement } from './create-element.js';
import { followBottom } from './follow-bottom.js';

/** What the page does with a sent message once the server answers. */
export interface PendingMessage {
  acked(runId: string, duplicate: boolean): void;
  failed(reason: string): void;
}

interface Answer {
  readonly bubble: HTMLLIElement;
  readonly text: HTMLParagraphElement;
  readonly status: HTMLSpanElement;
  /** Present while the run is going. */
  stop: HTMLButtonElement | undefined;
}

/** What the chat asks of the page. */
export interface ChatActions {
  /** Cancels a run (the Stop button); rejects with the reason when the cancel was refused. */
  stop(runId: string): Promise<unknown>;
}

/**
 * The chat column: the user's messages and one answer bubble per run, filled by `stream_chunk` text and
 * settled by `agent_completed` (whose `final_response` is authoritative, so the bubble is right even if
 * a reset skipped some chunks). A running answer has a Stop button; the column follows a growing answer
 * while the reader is at the bottom.
 */
export class ChatView {
  readonly #list: HTMLOListElement;
  readonly #actions: ChatActions;
  readonly #answers = new Map<string, Answer>();

  constructor(list: HTMLOListElement, actions: ChatActions) {
    this.#list = list;
    this.#actions = actions;
  }

  /** Shows a message the user sent; the result says what became of it. */
  addUserMessage(text: string): PendingMessage {
    const status = createElement('span', { className: 'status', text: 'sending…' });
    const bubble = createElement(
      'li',
      { className: 'bubble user', attrs: { 'data-testid': 'user-message' } },
      [createElement('p', { text }), status],
    );
    this.#list.append(bubble);
    // The reader just sent it: show it wherever they had scrolled to.
    this.#list.scrollTop = this.#list.scrollHeight;
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
      case 'stream_chunk': {
        const { text } = ev.data;
        if (typeof text === 'string') {
          const answer = this.#answer(ev.run_id);
          followBottom(this.#list, () => answer.text.append(text));
        }
        break;
      }
      case 'agent_completed': {
        const answer = this.#answer(ev.run_id);
        const final = ev.data.final_response;
        const status = typeof ev.data.status === 'string' ? ev.data.status : 'ended';
        followBottom(this.#list, () => {
          if (typeof final === 'string' && final !== '') answer.text.textContent = final;
          answer.status.textContent = status;
        });
        answer.bubble.dataset.status = status;
        if (status !== 'succeeded') answer.bubble.classList.add('failed');
        answer.stop?.remove();
        answer.stop = undefined;
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
    const stop = createElement('button', {
      className: 'stop',
      text: 'Stop',
      attrs: { type: 'button', 'data-testid': 'stop-button' },
    });
    const bubble = createElement(
      'li',
      { className: 'bubble agent', attrs: { 'data-testid': 'answer', 'data-run-id': runId } },
      [text, createElement('div', { className: 'footer' }, [status, stop])],
    );
    const answer: Answer = { bubble, text, status, stop };
    stop.addEventListener('click', () => this.#stop(runId, answer));
    this.#answers.set(runId, answer);
    this.#push(bubble);
    return answer;
  }

  /** Asks the gateway to cancel the run; the run's own `agent_completed` (cancelled) settles the bubble. */
  #stop(runId: string, answer: Answer): void {
    const button = answer.stop;
    if (button === undefined) return;
    button.disabled = true;
    button.textContent = 'Stopping…';
    this.#actions.stop(runId).catch((error: unknown) => {
      if (answer.stop === undefined) return; // the run ended meanwhile: nothing left to stop
      button.disabled = false;
      button.textContent = 'Stop';
      answer.status.textContent = `could not stop: ${error instanceof Error ? error.message : String(error)}`;
    });
  }

  #push(item: HTMLLIElement): void {
    followBottom(this.#list, () => this.#list.append(item));
  }
}
