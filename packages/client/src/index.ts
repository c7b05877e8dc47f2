/**
 * The agentcast client SDK (`@agentcast/client`): browsers and Node (pass `ws`). It has no dependencies:
 * it imports nothing but its own files and web APIs, so the bundle stays small
 * (scripts/build-client.mjs). The wire constants both sides share live in protocol/ and are exported too.
 */
export type { AgentEvent, EventDataMap, EventOf } from './agent-event.js';
export { AgentcastClient, type SendMessageOptions } from './agentcast-client.js';
export { ClientError, ClientErrorCode } from './client-error.js';
export type { CatchUp, ConnectOptions, TokenTransport } from './client-options.js';
export { connect } from './connect.js';
export { Emitter, type ListenerErrorReporter, type Unsubscribe } from './emitter.js';
export type { ClientState, LifecycleEvents } from './lifecycle-events.js';
export type { Ack, ApprovalAck, ApprovalDecision } from './outbox.js';
export {
  CLOSE_CODE_ACTIONS,
  type CloseAction,
  CloseCode,
  closeAction,
  type Reconnect,
} from './protocol/close-codes.js';
export { ErrorCode } from './protocol/error-codes.js';
export {
  type JsonObject,
  type ResumeOutcome,
  type RunSnapshot,
  type RunSnapshotApproval,
  type RunSnapshotStatus,
  type RunSnapshotTool,
  RunStatus,
  type WelcomeData,
} from './protocol/wire.js';
export {
  changedApprovals,
  foldRunEvent,
  MAX_RUNS,
  type PendingApproval,
  pendingApprovals,
  type RunState,
  RunStates,
} from './run-state.js';
export type { ResetReason, StreamPosition } from './seq-tracker.js';
export type { Timers } from './timers.js';
export type { WebSocketConstructor, WebSocketLike } from './web-socket-like.js';
