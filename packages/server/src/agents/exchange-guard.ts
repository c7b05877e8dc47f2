import { AgentRunError } from './agent-run-error.js';
import { RunErrorCode, RunErrorMessage } from './run-error-code.js';

/** Why the guard itself aborted the exchange. */
type Cut = 'stalled' | 'timeout';

/**
 * The exchange's own abort signal: the run's signal, the overall timeout and a stall timer armed only
 * while waiting on the backend (so time the runtime spends storing events is not counted as a stall).
 */
export class ExchangeGuard {
  readonly #controller = new AbortController();
  readonly #run: AbortSignal;
  readonly #stallTimeoutMs: number;
  readonly #timeoutMs: number;
  readonly #overall: NodeJS.Timeout;
  readonly #onRunAbort = (): void => this.#controller.abort(this.#run.reason);
  #stall: NodeJS.Timeout | undefined;
  #cut: Cut | undefined;

  constructor(run: AbortSignal, settings: { stallTimeoutMs: number; timeoutMs: number }) {
    this.#run = run;
    this.#stallTimeoutMs = settings.stallTimeoutMs;
    this.#timeoutMs = settings.timeoutMs;
    this.#overall = setTimeout(() => this.#abort('timeout'), settings.timeoutMs);
    run.addEventListener('abort', this.#onRunAbort, { once: true });
    if (run.aborted) this.#onRunAbort();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  arm(): void {
    this.disarm();
    this.#stall = setTimeout(() => this.#abort('stalled'), this.#stallTimeoutMs);
  }

  disarm(): void {
    clearTimeout(this.#stall);
  }

  /**
   * The error that ends the run after an I/O error: a stall or timeout the guard caused, else `code` with
   * its fixed message; the I/O error (which names hosts and ports) is only its `cause`, for the log.
   */
  failure(
    code: typeof RunErrorCode.WebhookUnreachable | typeof RunErrorCode.WebhookDisconnected,
    cause: unknown,
  ): AgentRunError {
    if (this.#cut === 'stalled') {
      return new AgentRunError(
        RunErrorCode.WebhookStalled,
        `backend sent nothing for ${this.#stallTimeoutMs} ms`,
      );
    }
    if (this.#cut === 'timeout') {
      return new AgentRunError(
        RunErrorCode.WebhookTimeout,
        `backend exchange exceeded ${this.#timeoutMs} ms`,
      );
    }
    return new AgentRunError(code, RunErrorMessage[code], { cause });
  }

  close(): void {
    this.disarm();
    clearTimeout(this.#overall);
    this.#run.removeEventListener('abort', this.#onRunAbort);
  }

  #abort(cut: Cut): void {
    this.#cut ??= cut;
    this.#controller.abort(new DOMException(`webhook ${cut}`, 'AbortError'));
  }
}
