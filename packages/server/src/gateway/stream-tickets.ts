import { createHash, randomBytes } from 'node:crypto';
import type { Engine } from '../engine/engine.js';

/** How long a stream ticket may be used (docs/protocol.md H). */
export const TICKET_TTL_MS = 30_000;

/** Who a redeemed ticket stands for: the user and when the token it was issued for expires. */
export interface TicketHolder {
  readonly userId: string;
  readonly expiresAtMs: number;
}

/**
 * Stream tickets (docs/protocol.md H): an opaque credential for `GET /v1/events?ticket=`, because
 * `EventSource` cannot send an Authorization header. Issued for a verified token, bound to its user,
 * valid TICKET_TTL_MS, and single-use on every node: the engine stores it and hands it out once.
 * The engine is given the ticket's SHA-256, never the ticket, so a Redis dump holds no usable credential.
 */
export class StreamTickets {
  readonly #engine: Pick<Engine, 'putTicket' | 'takeTicket'>;

  constructor(engine: Pick<Engine, 'putTicket' | 'takeTicket'>) {
    this.#engine = engine;
  }

  /** A new ticket for `holder`; it never outlives the token it was issued for. */
  async issue(holder: TicketHolder, nowMs: number): Promise<{ ticket: string; expiresInS: number }> {
    const ticket = `t_${randomBytes(24).toString('base64url')}`;
    const ttlMs = Math.max(1, Math.min(TICKET_TTL_MS, holder.expiresAtMs - nowMs));
    await this.#engine.putTicket(
      keyOf(ticket),
      JSON.stringify({ user_id: holder.userId, exp_ms: holder.expiresAtMs }),
      ttlMs,
    );
    return { ticket, expiresInS: Math.ceil(ttlMs / 1000) };
  }

  /** The holder of `ticket`, once; null when it is unknown, expired, already used or malformed. */
  async redeem(ticket: string): Promise<TicketHolder | null> {
    if (!/^t_[\w-]{32}$/.test(ticket)) return null;
    const stored = await this.#engine.takeTicket(keyOf(ticket));
    if (stored === null) return null;
    const value: unknown = JSON.parse(stored);
    if (typeof value !== 'object' || value === null) return null;
    const { user_id: userId, exp_ms: expiresAtMs } = value as Record<string, unknown>;
    if (typeof userId !== 'string' || typeof expiresAtMs !== 'number') return null;
    return { userId, expiresAtMs };
  }
}

function keyOf(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}
