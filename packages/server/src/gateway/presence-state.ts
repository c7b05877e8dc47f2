import type { PresenceEntry } from '../engine/engine.js';

/**
 * What one open connection reports for presence (docs/protocol.md D, "Presence"): since when it is open,
 * the last seq written to it and the last seq its client reported handed to the application (`seen`, B).
 * `dirty` says a report is due; the registry's once-a-second sweep writes the due ones in one batch, so an
 * event costs two field writes here, never an engine call. Pure: no I/O.
 */
export class PresenceState {
  readonly connectedAt: number;
  #delivered: number;
  #seen = 0;
  /** Changed since the last report. */
  dirty = false;

  constructor(connectedAt: number, deliveredSeq: number) {
    this.connectedAt = connectedAt;
    this.#delivered = deliveredSeq;
  }

  /** An event was written to the connection. */
  delivered(seq: number): void {
    this.#delivered = seq;
    this.dirty = true;
  }

  /**
   * A `seen` frame: kept only when it moves forward, and never past what was delivered (a client cannot
   * claim to have seen what the gateway never sent it). A seq of another epoch (after a reset) counts
   * from the new one: a smaller seq than the last seen is ignored until the stream passes it.
   */
  seen(seq: number): void {
    const seen = Math.min(seq, this.#delivered);
    if (seen <= this.#seen) return;
    this.#seen = seen;
    this.dirty = true;
  }

  /** The record to write; clears `dirty`. */
  report(connectionId: string, serverId: string): PresenceEntry {
    this.dirty = false;
    return {
      connectionId,
      serverId,
      transport: 'websocket',
      connectedAt: this.connectedAt,
      deliveredSeq: this.#delivered,
      seenSeq: this.#seen,
    };
  }
}
