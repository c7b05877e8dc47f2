import type {
  Ack,
  AgentEvent,
  ApprovalAck,
  ClientState,
  EventOf,
  LifecycleEvents,
  PendingApproval,
  RunState,
  SendMessageOptions,
  StreamPosition,
  Unsubscribe,
} from '@agentcast/client';

export type {
  Ack,
  AgentEvent,
  ApprovalAck,
  ClientState,
  EventOf,
  LifecycleEvents,
  PendingApproval,
  RunState,
  SendMessageOptions,
  StreamPosition,
};

/**
 * What the provider hands out as `client`: the part of `AgentcastClient` an app uses. With a per-tab
 * connection it *is* the `AgentcastClient`; with `shareAcrossTabs` it is a {@link SharedClient}, which has
 * the same surface and forwards requests to whichever tab holds the socket.
 */
export interface AgentcastClientLike {
  readonly state: ClientState;
  /** The seq of the last event delivered to handlers (0 before any) in {@link epoch}. */
  readonly lastSeq: number;
  readonly epoch: string | undefined;
  on<T extends string>(type: T, handler: (event: EventOf<T>) => void): Unsubscribe;
  onLifecycle<K extends keyof LifecycleEvents>(
    name: K,
    handler: (payload: LifecycleEvents[K]) => void,
  ): Unsubscribe;
  /**
   * The user's runs, each a snapshot with its later events folded in (docs/client.md "Runs"). Optional so
   * that a stand-in without them still works: then `useRun` folds events alone and `useRuns` is empty.
   */
  readonly runs?: ReadonlyMap<string, RunState>;
  run?(runId: string): RunState | undefined;
  onRun?(handler: (run: RunState) => void): Unsubscribe;
  sendMessage(text: string, options?: SendMessageOptions): Promise<Ack>;
  cancel(runId: string): Promise<Ack>;
  /**
   * Answers an approval (docs/client.md "Approvals"); `id` is its idempotency key. Optional like `runs`:
   * `useAnswerApproval` rejects on a stand-in without it.
   */
  answerApproval?(
    approvalId: string,
    decision: 'approve' | 'deny',
    reason?: string,
    id?: string,
  ): Promise<ApprovalAck>;
  close(): Promise<void>;
}

/**
 * Who holds the WebSocket: `solo` (this tab has its own client), `leader` (this tab's client serves every
 * tab of the origin) or `follower` (another tab's client does).
 */
export type ConnectionRole = 'solo' | 'leader' | 'follower';
