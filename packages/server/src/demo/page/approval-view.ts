import type { ClientError, RunSnapshotApproval } from '@agentcast/client';
import { createElement } from './create-element.js';

/** Answers an approval (`client.answerApproval`); rejects with a ClientError (CONFLICT, NOT_FOUND, …). */
export type AnswerApproval = (approvalId: string, decision: 'approve' | 'deny') => Promise<unknown>;

const OUTCOME: Record<NonNullable<RunSnapshotApproval['decision']>, string> = {
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired: nobody answered in time',
  cancelled: 'Cancelled: the run ended first',
};

/**
 * One question of a run (docs/protocol.md G) in its answer bubble: the message, the tool and its arguments,
 * and Approve / Deny. Every tab of the user draws it from the run's `approvals` (the client folds
 * `approval_requested` and `approval_resolved` into them), so once anyone answers, the `approval_resolved`
 * disables the buttons everywhere and shows the outcome. A click disables them at once; the gateway takes
 * the first answer of any tab, and a later one learns the winner (CONFLICT).
 */
export class ApprovalView {
  readonly element: HTMLDivElement;
  readonly #approve: HTMLButtonElement;
  readonly #deny: HTMLButtonElement;
  readonly #outcome: HTMLSpanElement;
  #resolved = false;

  constructor(approval: RunSnapshotApproval, answer: AnswerApproval) {
    const button = (decision: 'approve' | 'deny', label: string) => {
      const el = createElement('button', {
        className: decision,
        text: label,
        attrs: { type: 'button', 'data-testid': `${decision}-button` },
      });
      el.addEventListener('click', () => this.#answer(answer, approval.approval_id, decision));
      return el;
    };
    this.#approve = button('approve', 'Approve');
    this.#deny = button('deny', 'Deny');
    this.#outcome = createElement('span', {
      className: 'outcome',
      attrs: { 'data-testid': 'approval-outcome', role: 'status' },
    });
    const args = JSON.stringify(approval.tool_args);
    this.element = createElement(
      'div',
      {
        className: 'approval',
        attrs: { 'data-testid': 'approval', 'data-approval-id': approval.approval_id },
      },
      [
        createElement('p', { className: 'question', text: approval.message }),
        createElement('code', { text: `${approval.tool_name} ${args}` }),
        createElement('div', { className: 'choices' }, [this.#approve, this.#deny, this.#outcome]),
      ],
    );
  }

  /** Draws the approval's latest state: once it has a decision, the buttons stay disabled for good. */
  update(approval: RunSnapshotApproval): void {
    if (approval.decision === undefined || this.#resolved) return;
    this.#resolved = true;
    this.#enable(false);
    this.element.dataset.decision = approval.decision;
    const reason = approval.reason === undefined ? '' : ` (${approval.reason})`;
    this.#outcome.textContent = `${OUTCOME[approval.decision]}${reason}`;
  }

  #answer(answer: AnswerApproval, approvalId: string, decision: 'approve' | 'deny'): void {
    this.#enable(false);
    this.#outcome.textContent = decision === 'approve' ? 'Approving…' : 'Denying…';
    answer(approvalId, decision).catch((error: ClientError) => {
      // CONFLICT: another tab won; its approval_resolved shows the outcome (or already did).
      if (this.#resolved) return;
      if (error.decision !== undefined) {
        this.#outcome.textContent = `Already ${error.decision} in another tab`;
        return;
      }
      this.#enable(true);
      this.#outcome.textContent = `Could not answer: ${error.message}`;
    });
  }

  #enable(on: boolean): void {
    this.#approve.disabled = !on;
    this.#deny.disabled = !on;
  }
}
