/**
 * The `type` of every server frame that is not an event (docs/protocol.md §2, §6). These names belong to the
 * gateway: no published or agent event may carry one (docs/protocol.md §3 and B), or a client that routes
 * frames by `type` would take an event for a second welcome, an ack or an error.
 */
export const ServerFrameType = {
  Welcome: 'welcome',
  AuthOk: 'auth_ok',
  Pong: 'pong',
  Ack: 'ack',
  Error: 'error',
  /** A run's snapshot in a catch-up (docs/protocol.md F). */
  RunSnapshot: 'run_snapshot',
} as const;

export type ServerFrameType = (typeof ServerFrameType)[keyof typeof ServerFrameType];

/** Event types refused on publish (`INVALID_MESSAGE`) and from agents (`INVALID_EVENT`). */
export const RESERVED_EVENT_TYPES: ReadonlySet<string> = new Set<string>(Object.values(ServerFrameType));
