import type { ApprovalAck, ApprovalDecision, ResetReason } from '@agentcast/client';
import type {
  Ack,
  AgentEvent,
  ClientState,
  LifecycleEvents,
  RunState,
  StreamPosition,
} from '../client-like.js';

/**
 * The messages tabs of one origin exchange over a BroadcastChannel (see README.md, "shareAcrossTabs").
 * Bumped when a message changes meaning; it is part of the lock and channel names, so tabs running two
 * versions of the app form two groups (two sockets) instead of misreading each other. 2: the `approval`
 * request (a version 1 leader would have read it as a cancel).
 */
export const TAB_PROTOCOL_VERSION = 2;

/** A random id per tab (per SharedClient), fixed for its life. */
export type TabId = string;

/** A `ClientError` as it crosses a BroadcastChannel (the class itself does not survive structured clone). */
export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly closeCode?: number | undefined;
  readonly serverCode?: string | undefined;
  readonly decision?: ApprovalDecision | undefined;
}

/** A follower's `sendMessage`, always with an idempotency id so a resend to a new leader starts no second run. */
export interface SendRequest {
  readonly op: 'send';
  readonly text: string;
  readonly options: {
    readonly id: string;
    readonly agent?: string | undefined;
    readonly threadId?: string | undefined;
  };
}

export interface CancelRequest {
  readonly op: 'cancel';
  readonly runId: string;
}

/** A follower's `answerApproval`, with its idempotency id fixed, so a resend to a new leader is a duplicate. */
export interface ApprovalRequest {
  readonly op: 'approval';
  readonly approvalId: string;
  readonly decision: 'approve' | 'deny';
  readonly reason?: string | undefined;
  readonly id: string;
}

export type TabRequest = SendRequest | CancelRequest | ApprovalRequest;

export type TabMessage =
  /** A tab started; the leader answers with `leader` addressed to it. */
  | { readonly t: 'hello'; readonly from: TabId }
  /**
   * The leader's announcement (to everyone on election, to one tab in answer to `hello`). `term` grows with
   * every election, so a late announcement of a previous leader is recognised and ignored.
   */
  | {
      readonly t: 'leader';
      readonly from: TabId;
      readonly to?: TabId;
      readonly term: number;
      readonly state: ClientState;
      readonly position: StreamPosition | undefined;
    }
  /**
   * Runs as the leader's client keeps them (docs/client.md "Runs"): to everyone, a run its client took from
   * a `run_snapshot`; to a tab that said `hello`, every run, so a tab opened mid-run has the whole run.
   */
  | { readonly t: 'runs'; readonly from: TabId; readonly to?: TabId; readonly runs: readonly RunState[] }
  /** An event the leader's client delivered, fanned out. */
  | { readonly t: 'event'; readonly from: TabId; readonly event: AgentEvent }
  /** The leader's client reset (events lost for good): every tab moves to `(epoch, seq)`. */
  | {
      readonly t: 'reset';
      readonly from: TabId;
      readonly reason: ResetReason;
      readonly epoch: string;
      readonly seq: number;
    }
  | { readonly t: 'state'; readonly from: TabId; readonly state: ClientState }
  | { readonly t: 'welcome'; readonly from: TabId; readonly welcome: LifecycleEvents['welcome'] }
  | { readonly t: 'disconnect'; readonly from: TabId; readonly info: LifecycleEvents['disconnect'] }
  | { readonly t: 'error'; readonly from: TabId; readonly error: SerializedError }
  /** A follower asks the leader `to` to run a request on its client; answered by `reply`. */
  | {
      readonly t: 'request';
      readonly from: TabId;
      readonly to: TabId;
      readonly reqId: string;
      readonly request: TabRequest;
    }
  | {
      readonly t: 'reply';
      readonly from: TabId;
      readonly to: TabId;
      readonly reqId: string;
      readonly ack?: Ack | ApprovalAck;
      readonly error?: SerializedError;
    }
  /** A follower found a gap: it asks the leader for the events after `after` from its history. */
  | { readonly t: 'replay'; readonly from: TabId; readonly to: TabId; readonly after: StreamPosition }
  | {
      readonly t: 'replayed';
      readonly from: TabId;
      readonly to: TabId;
      readonly events: readonly AgentEvent[];
      readonly complete: boolean;
      readonly position: StreamPosition | undefined;
    };

const TYPES = new Set<string>([
  'hello',
  'leader',
  'runs',
  'event',
  'reset',
  'state',
  'welcome',
  'disconnect',
  'error',
  'request',
  'reply',
  'replay',
  'replayed',
]);

/**
 * Whether `data` looks like a message of this protocol. Only same-origin code of the same version can post
 * on the channel, so this guards against other libraries sharing the name, not against forgery.
 */
export function isTabMessage(data: unknown): data is TabMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as { t?: unknown; from?: unknown };
  return typeof m.t === 'string' && TYPES.has(m.t) && typeof m.from === 'string';
}

/** The Web Locks name and BroadcastChannel name of a group of tabs. */
export function groupName(name: string): string {
  return `agentcast.v${TAB_PROTOCOL_VERSION}:${name}`;
}
