import type { RunState } from '@agentcast/client';
import { type AnswerApproval, ApprovalView } from './approval-view.js';
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
  /** Characters of the run's text already in `text`. */
  shown: number;
  /** The run's questions (docs/protocol.md G), by approval id, drawn above the footer. */
  readonly approvals: Map<string, ApprovalView>;
}

/** What the chat asks of the page. */
export interface ChatActions {
  /** Cancels a run (the Stop button); rejects with the reason when the cancel was refused. */
  stop(runId: string): Promise<unknown>;
  /** Answers an approval (its Approve / Deny buttons). */
  answer: AnswerApproval;
}

/**
 * The chat column: the user's messages and one answer bubble per run, drawn from the client's runs
 * (`client.runs`, docs/client.md "Runs"): a tab opened mid-run gets the whole answer so far from the run's
 * snapshot, then the rest as it streams. A finished run shows its `final_response` when it has one. A
 * running answer has a Stop button, a question of the run (an approval) its Approve / Deny buttons; the column follows a growing answer while the reader is at the bottom.
 */
export class ChatView {
  readonly #list: HTMLOListElement;
  readonly #actions: ChatActions;
  readonly #answers = new Map<string, Answer>();
  /** Runs changed since the last frame, drawn once per animation frame (a token stream is many changes). */
  readonly #dirty = new Map<string, RunState>();
  #scheduled = false;

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

  /**
   * Draws a run's latest state (`client.onRun`) into its answer bubble, at the next animation frame: a run
   * streaming hundreds of tokens a second is drawn (and scrolled) once per frame, not once per token.
   */
  render(run: RunState): void {
    this.#dirty.set(run.run_id, run);
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      const runs = [...this.#dirty.values()];
      this.#dirty.clear();
      for (const latest of runs) this.#draw(latest);
    });
  }

  #draw(run: RunState): void {
    const answer = this.#answer(run.run_id, run.agent);
    // The text only grows (docs/protocol.md F): append what is new rather than redraw thousands of tokens.
    followBottom(this.#list, () => {
      if (run.text.length >= answer.shown) answer.text.append(run.text.slice(answer.shown));
      else answer.text.textContent = run.text;
    });
    answer.shown = run.text.length;
    for (const approval of run.approvals) {
      let view = answer.approvals.get(approval.approval_id);
      if (view === undefined) {
        view = new ApprovalView(approval, this.#actions.answer);
        answer.approvals.set(approval.approval_id, view);
        const shown = view.element;
        // Above the answer's text: the question comes first, the answer streams after it is settled.
        followBottom(this.#list, () => answer.text.before(shown));
      }
      view.update(approval);
    }
    if (run.status === 'running' || run.status === 'waiting') return;
    const final = run.final_response;
    followBottom(this.#list, () => {
      if (typeof final === 'string' && final !== '') answer.text.textContent = final;
      answer.status.textContent = run.status;
    });
    answer.bubble.dataset.status = run.status;
    if (run.status !== 'succeeded') answer.bubble.classList.add('failed');
    answer.stop?.remove();
    answer.stop = undefined;
  }

  #answer(runId: string, agentName: string | undefined): Answer {
    const known = this.#answers.get(runId);
    if (known !== undefined) return known;
    const name = agentName ?? 'agent';
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
    const answer: Answer = { bubble, text, status, stop, shown: 0, approvals: new Map() };
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
