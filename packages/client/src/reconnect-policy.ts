import { Backoff, type BackoffOptions } from './backoff.js';
import { ClientError, ClientErrorCode } from './client-error.js';
import { CloseCode, closeAction } from './protocol/close-codes.js';

/** What the client does after a connection ended. */
export type ReconnectPlan =
  | {
      readonly action: 'retry';
      /** Wait this long before the next attempt. */
      readonly delayMs: number;
      /** The token was refused: call `getToken()` again instead of reusing it. */
      readonly freshToken: boolean;
    }
  | { readonly action: 'stop'; readonly error: ClientError };

/** Options of {@link ReconnectPolicy}. */
export interface ReconnectPolicyOptions extends BackoffOptions {
  /** Stop after this many auth refusals in a row. */
  readonly maxAuthFailures: number;
  /** After 1012 (server restart), reconnect within `random() * restartJitterMs`. */
  readonly restartJitterMs: number;
}

/**
 * Decides, from the close code, whether and when to reconnect. Pure: no timers; the caller reports
 * `connected()` on welcome and `stable()` once a connection stayed open for a while. The decision for each
 * code is {@link CLOSE_CODE_ACTIONS} (docs/protocol.md §7, docs/client.md):
 *
 * - `never` (4008, 1009): stop (client bug);
 * - `soon` (1012): reconnect within `random() * restartJitterMs`, without growing the backoff;
 * - `backoff` (the rest, unknown codes included): exponential backoff with full jitter, with a fresh token
 *   where the table says so; refusals (4001, 4002, 4003, 4009) stop after `maxAuthFailures` in a row.
 */
export class ReconnectPolicy {
  readonly #options: ReconnectPolicyOptions;
  readonly #random: () => number;
  readonly #backoff: Backoff;
  #authFailures = 0;

  constructor(options: ReconnectPolicyOptions, random: () => number) {
    this.#options = options;
    this.#random = random;
    this.#backoff = new Backoff(options, random);
  }

  /** Auth refusals since the last welcome. */
  get authFailures(): number {
    return this.#authFailures;
  }

  /** Attempts since the last stable connection. */
  get attempt(): number {
    return this.#backoff.attempt;
  }

  /** A welcome arrived: the token works, so auth failures are no longer "in a row". */
  connected(): void {
    this.#authFailures = 0;
  }

  /** The connection stayed open long enough to trust the server again: back off from the start. */
  stable(): void {
    this.#backoff.reset();
  }

  /** Starts over, as when the app asks for a reconnect after the client stopped. */
  reset(): void {
    this.#authFailures = 0;
    this.#backoff.reset();
  }

  /** The backoff delay for a failure that is not a close (getToken() threw); counts the attempt. */
  nextDelay(): number {
    return this.#backoff.next();
  }

  /** The plan after a connection closed with `code`. */
  afterClose(code: number): ReconnectPlan {
    const action = closeAction(code);
    if (action.reconnect === 'never') {
      const message = `the server closed with ${code}: it refuses what this client sends; fix the client, then call reconnect()`;
      return {
        action: 'stop',
        error: new ClientError(ClientErrorCode.Rejected, message, { closeCode: code }),
      };
    }
    if (action.refusal) {
      this.#authFailures += 1;
      if (this.#authFailures >= this.#options.maxAuthFailures) {
        const why =
          code === CloseCode.TooManyConnections ? 'too many connections for this user' : 'auth refused';
        const message = `gave up after ${this.#authFailures} refused connections in a row (last: ${code}, ${why})`;
        return {
          action: 'stop',
          error: new ClientError(ClientErrorCode.AuthFailed, message, { closeCode: code }),
        };
      }
    }
    if (action.reconnect === 'soon') {
      // §9: the server drains on purpose; another node is ready, so come back quickly but not all at once.
      return {
        action: 'retry',
        delayMs: Math.floor(this.#random() * this.#options.restartJitterMs),
        freshToken: action.freshToken,
      };
    }
    return { action: 'retry', delayMs: this.#backoff.next(), freshToken: action.freshToken };
  }
}
