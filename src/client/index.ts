/**
 * The agentcast client SDK: browsers and Node (pass `ws`). Imports nothing but protocol/ constants and web
 * APIs, so the bundle stays small (scripts/build-client.mjs).
 */
export type { AgentEvent, EventDataMap, EventOf } from './agent-event.js';
export { AgentcastClient, type SendMessageOptions } from './agentcast-client.js';
export { ClientError, ClientErrorCode } from './client-error.js';
export type { ConnectOptions, TokenTransport } from './client-options.js';
export { connect } from './connect.js';
export type { Unsubscribe } from './emitter.js';
export type { ClientState, LifecycleEvents } from './lifecycle-events.js';
export type { Ack } from './outbox.js';
export type { ResetReason, StreamPosition } from './seq-tracker.js';
export type { Timers } from './timers.js';
export type { WebSocketConstructor, WebSocketLike } from './web-socket-like.js';
