import type { ClientError } from './client-error.js';
import type { RunSnapshot, WelcomeData } from './protocol/wire.js';
import type { PendingApproval } from './run-state.js';
import type { ResetReason, StreamPosition } from './seq-tracker.js';

/** `connecting` (never open yet) → `open` ⇄ `reconnecting` → `closed` (from any state). */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Client lifecycle events and their payloads (`client.onLifecycle(name, handler)`). */
export interface LifecycleEvents {
  /** The state changed. */
  statechange: { readonly state: ClientState; readonly previous: ClientState };
  /** The server accepted a connection (docs/protocol.md §2). */
  welcome: WelcomeData;
  /**
   * Events were lost for good (history expired, or the server lost it): reload the app's state. Emitted
   * before any later event; the events that follow are those with seq > `seq` in `epoch`.
   */
  reset: {
    readonly reason: ResetReason;
    readonly epoch: string;
    readonly seq: number;
    readonly previous: StreamPosition;
  };
  /** A connection ended; `retryInMs` is undefined when the client will not reconnect. */
  disconnect: { readonly code: number; readonly reason: string; readonly retryInMs: number | undefined };
  /** A run of `client.runs` changed (a `run_snapshot`, or an event of it): its new state (`client.onRun`). */
  run: RunSnapshot;
  /**
   * The pending approvals changed (`client.approvals`, docs/client.md "Approvals"): one was asked, answered,
   * or came with a run's snapshot. The payload is the new list.
   */
  approvals: readonly PendingApproval[];
  /** An `error` frame not tied to a request, a failed getToken(), a bad frame, or why the client stopped. */
  error: ClientError;
}
