import { useCallback, useContext, useMemo, useSyncExternalStore } from 'react';
import {
  type AgentcastStore,
  type ConnectionStatus,
  type EventFilter,
  SERVER_APPROVALS,
  SERVER_EVENTS,
  SERVER_RUNS,
  SERVER_STATUS,
} from './agentcast-store.js';
import type {
  Ack,
  AgentEvent,
  ApprovalAck,
  PendingApproval,
  RunState,
  SendMessageOptions,
} from './client-like.js';
import { AgentcastContext } from './provider.js';
import { pendingRun, type RunView } from './run-view.js';

function useStore(hook: string): AgentcastStore {
  const store = useContext(AgentcastContext);
  if (store === null) throw new Error(`${hook}() must be used inside <AgentcastProvider>`);
  return store;
}

const serverStatus = (): ConnectionStatus => SERVER_STATUS;
const serverEvents = (): readonly AgentEvent[] => SERVER_EVENTS;
const serverRuns = (): readonly RunState[] => SERVER_RUNS;
const serverApprovals = (): readonly PendingApproval[] => SERVER_APPROVALS;
const NO_RUN = pendingRun('');
const noRun = (): RunView => NO_RUN;
const subscribeNothing = () => () => undefined;

/**
 * The connection: `{ state, client, role, lastSeq, epoch }`. Re-renders when the state, the client or the
 * role changes, never per event; `lastSeq` and `epoch` are read live when accessed.
 */
export function useAgentcast(): ConnectionStatus {
  const store = useStore('useAgentcast');
  return useSyncExternalStore(store.subscribeStatus, store.getStatus, serverStatus);
}

/**
 * The events so far that match `filter` (a type, several types, `'*'` or omitted for all, or a predicate),
 * oldest first. The array keeps its identity until a matching event arrives; only those re-render. A
 * predicate is a dependency: pass a stable one (module-level or `useCallback`), or each render starts a
 * new view that rescans the log.
 */
export function useEvents(filter?: EventFilter): readonly AgentEvent[] {
  const store = useStore('useEvents');
  // Views of types are cached in the store, so an inline ['a', 'b'] finds the same view every render.
  const view = useMemo(() => store.events(filter), [store, filter]);
  return useSyncExternalStore(view.subscribe, view.getSnapshot, serverEvents);
}

/**
 * One run: `{ status, events, text, tools, error, agent, finalResponse }`, from the client's state of it
 * (a run caught up mid-way has its whole text from its snapshot; `events` holds the events received), or
 * assembled from its events. `status` is `pending` until something of the run arrives (and for `runId`
 * undefined). Re-renders only when this run changes.
 */
export function useRun(runId: string | undefined): RunView {
  const store = useStore('useRun');
  const subscribe = useCallback(
    (listener: () => void) => (runId === undefined ? () => undefined : store.subscribeRun(runId, listener)),
    [store, runId],
  );
  const getSnapshot = useCallback(() => (runId === undefined ? NO_RUN : store.run(runId)), [store, runId]);
  return useSyncExternalStore(
    runId === undefined ? subscribeNothing : subscribe,
    getSnapshot,
    runId === undefined ? noRun : getSnapshot,
  );
}

/**
 * The user's runs as the client keeps them (`client.runs`, docs/client.md "Runs": the 50 most recently
 * active, each its snapshot with the later events folded in), least recently active first. The array
 * keeps its identity until a run changes; each run is replaced when it changes, so a memoised row
 * re-renders only for its own run. Empty on the server and before the client exists.
 */
export function useRuns(): readonly RunState[] {
  const store = useStore('useRuns');
  return useSyncExternalStore(store.subscribeRuns, store.getRuns, serverRuns);
}

/** What {@link useSendMessage} returns; the same object for the provider's life. */
export interface SendMessageApi {
  /** `client.sendMessage`; waits for the client if called before it exists (a child's mount effect). */
  readonly send: (text: string, options?: SendMessageOptions) => Promise<Ack>;
  readonly cancel: (runId: string) => Promise<Ack>;
}

export function useSendMessage(): SendMessageApi {
  const store = useStore('useSendMessage');
  return useMemo(() => ({ send: store.sendMessage, cancel: store.cancel }), [store]);
}

/**
 * The approvals waiting for this user's answer (docs/client.md "Approvals"): each question of a run with
 * its `run_id`, read from the client's runs, so it is there after a reload (catch-up) and on every tab.
 * The array keeps its identity until a question is asked or settled (by this tab, another, or the
 * timeout). Empty on the server and before the client exists.
 */
export function useApprovals(): readonly PendingApproval[] {
  const store = useStore('useApprovals');
  return useSyncExternalStore(store.subscribeApprovals, store.getApprovals, serverApprovals);
}

/** What {@link useAnswerApproval} returns: `client.answerApproval`, the same function for the provider's life. */
export type AnswerApproval = (
  approvalId: string,
  decision: 'approve' | 'deny',
  reason?: string,
) => Promise<ApprovalAck>;

/**
 * Answers an approval. The first answer from any tab wins: resolves with the ack, or rejects with a
 * ClientError whose `serverCode` is CONFLICT (its `decision` the one that won) or NOT_FOUND. Either way
 * the question leaves {@link useApprovals} when its `approval_resolved` arrives.
 */
export function useAnswerApproval(): AnswerApproval {
  return useStore('useAnswerApproval').answerApproval;
}
