import { ClientError, ClientErrorCode } from './client-error.js';
import type { ApprovalDecision } from './protocol/wire.js';
import type { TimerHandle, Timers } from './timers.js';

/** The server's answer to a `user_message` or `cancel` (docs/protocol.md §6). */
export interface Ack {
  /** The idempotency id the request was sent with. */
  readonly id: string;
  /** The run the message started (or, for a duplicate, the run the first copy started), or the cancelled run. */
  readonly runId: string;
  /** True when the server had already seen this id and started no second run. */
  readonly duplicate: boolean;
}

export type { ApprovalDecision } from './protocol/wire.js';

/** The server's answer to an `approval` frame or `POST /v1/approvals/:id` (docs/protocol.md G). */
export interface ApprovalAck {
  readonly approval_id: string;
  /** The decision the answer resolved the approval with (for a duplicate: the first copy's). */
  readonly decision: ApprovalDecision;
  /** True when the server had seen this answer's id already: it was acted on once. */
  readonly duplicate: boolean;
}

/** Any ack the outbox settles: a run's, or an approval's (then `runId` is empty and `decision` set). */
export interface Reply extends Ack {
  readonly approvalId?: string;
  readonly decision?: ApprovalDecision;
}

interface Pending {
  readonly frame: string;
  readonly promise: Promise<Reply>;
  readonly resolve: (ack: Reply) => void;
  readonly reject: (error: ClientError) => void;
  readonly timer: TimerHandle;
}

/**
 * Requests sent but not yet acked, keyed by their idempotency id. The client resends every pending frame
 * after each welcome; the server deduplicates by id (docs/protocol.md §6), so a message is acted on once
 * however many times it crossed the wire. Each entry is rejected after `timeoutMs` and then forgotten.
 */
export class Outbox {
  readonly #timeoutMs: number;
  readonly #timers: Timers;
  readonly #pending = new Map<string, Pending>();

  constructor(options: { readonly timeoutMs: number; readonly timers: Timers }) {
    this.#timeoutMs = options.timeoutMs;
    this.#timers = options.timers;
  }

  /** Requests awaiting an ack. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Registers a request; the promise settles with its ack, or rejects on timeout or close. Adding an id that
   * is already pending returns the first promise and keeps the first frame.
   */
  add(id: string, frame: string): Promise<Reply> {
    const existing = this.#pending.get(id);
    if (existing !== undefined) return existing.promise;
    let resolve!: (ack: Reply) => void;
    let reject!: (error: ClientError) => void;
    const promise = new Promise<Reply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = this.#timers.setTimeout(() => {
      const message = `no ack for ${id} within ${this.#timeoutMs} ms; retry with the same id to avoid a second run`;
      this.#settle(id)?.reject(new ClientError(ClientErrorCode.AckTimeout, message));
    }, this.#timeoutMs);
    this.#pending.set(id, { frame, promise, resolve, reject, timer });
    return promise;
  }

  /** Whether `id` awaits an ack. */
  has(id: string): boolean {
    return this.#pending.has(id);
  }

  /** The frames to (re)send, oldest first. */
  frames(): string[] {
    return [...this.#pending.values()].map((p) => p.frame);
  }

  /** Settles `id` with its ack. Returns false for an unknown id (already settled, or not ours). */
  ack(ack: Reply): boolean {
    const entry = this.#settle(ack.id);
    entry?.resolve(ack);
    return entry !== undefined;
  }

  /** Rejects `id`. Returns false for an unknown id. */
  reject(id: string, error: ClientError): boolean {
    const entry = this.#settle(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** Rejects every pending request (the client closed or stopped). */
  rejectAll(error: ClientError): void {
    for (const id of [...this.#pending.keys()]) this.reject(id, error);
  }

  #settle(id: string): Pending | undefined {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    this.#timers.clearTimeout(entry.timer);
    return entry;
  }
}
