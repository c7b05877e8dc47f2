/**
 * @agentcast/react: React bindings for the agentcast client (README.md). One connection per provider,
 * or per browser with `shareAcrossTabs`; hooks re-render only the components whose data changed.
 */
export {
  AgentcastStore,
  type AgentcastStoreOptions,
  type ConnectionStatus,
  type EventFilter,
  type EventsView,
} from './agentcast-store.js';
export type {
  Ack,
  AgentcastClientLike,
  AgentEvent,
  ApprovalAck,
  ClientState,
  ConnectionRole,
  EventOf,
  LifecycleEvents,
  PendingApproval,
  RunState,
  SendMessageOptions,
  StreamPosition,
} from './client-like.js';
export { createConnection, type ShareAcrossTabsOptions } from './create-connection.js';
export {
  type AnswerApproval,
  type SendMessageApi,
  useAgentcast,
  useAnswerApproval,
  useApprovals,
  useEvents,
  useRun,
  useRuns,
  useSendMessage,
} from './hooks.js';
export { AgentcastProvider, type AgentcastProviderProps } from './provider.js';
export {
  assembleRun,
  type JsonObject,
  RunAccumulator,
  type RunStatus,
  type RunView,
  runViewOf,
  type ToolCall,
} from './run-view.js';
export { DeliveryTracker, type DeliveryVerdict } from './tabs/delivery-tracker.js';
export { EventHistory, type HistorySlice } from './tabs/event-history.js';
export {
  SharedClient,
  type SharedClientOptions,
  type TabChannel,
  type TabLockManager,
  type TabRole,
} from './tabs/shared-client.js';
export { isTabMessage, TAB_PROTOCOL_VERSION, type TabMessage } from './tabs/tab-protocol.js';
