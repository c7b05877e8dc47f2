import type { RunState } from '@agentcast/client';
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
  /** Characters of the run's text already in `text`. */
  shown: number;
}

/**
 * The chat column: the user's messages and one answer bubble per run, drawn from the client's runs
 * (`client.runs`, docs/client.md "Runs"): a tab opened mid-run gets the whole answer so far from the run's
 * snapshot, then the rest as it streams. A finished run shows its `final_response` when it has one.
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

  /** Draws a run's latest state (`client.onRun`) into its answer bubble. */
  render(run: RunState): void {
    const answer = this.#answer(run.run_id, run.agent);
    // The text only grows (docs/protocol.md F): append what is new rather than redraw thousands of tokens.
    if (run.text.length >= answer.shown) answer.text.append(run.text.slice(answer.shown));
    else answer.text.textContent = run.text;
    answer.shown = run.text.length;
    if (run.status === 'running' || run.status === 'waiting') return;
    const final = run.final_response;
    if (typeof final === 'string' && final !== '') answer.text.textContent = final;
    answer.status.textContent = run.status;
    answer.bubble.dataset.status = run.status;
    if (run.status !== 'succeeded') answer.bubble.classList.add('failed');
  }

  #answer(runId: string, agentName: string | undefined): Answer {
    const known = this.#answers.get(runId);
    if (known !== undefined) return known;
    const name = agentName ?? 'agent';
    const text = createElement('p');
    const status = createElement('span', { className: 'status', text: `${name} is working…` });
    const bubble = createElement(
      'li',
      { className: 'bubble agent', attrs: { 'data-testid': 'answer', 'data-run-id': runId } },
      [text, status],
    );
    const answer = { bubble, text, status, shown: 0 };
    this.#answers.set(runId, answer);
    this.#push(bubble);
    return answer;
  }

  #push(item: HTMLLIElement): void {
    this.#list.append(item);
    item.scrollIntoView({ block: 'nearest' });
  }
}
