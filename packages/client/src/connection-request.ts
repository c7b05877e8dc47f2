import type { CatchUp, TokenTransport } from './client-options.js';
import type { StreamPosition } from './seq-tracker.js';

/**
 * Mirror `SUBPROTOCOL` and `BEARER_SUBPROTOCOL_PREFIX` of protocol/frames.ts, which the bundle cannot
 * import (it pulls in zod); a unit test keeps them equal.
 */
export const SUBPROTOCOL = 'agentcast.v1';
export const BEARER_PREFIX = 'bearer.';

/** What to open a connection with. */
export interface ConnectionRequest {
  readonly url: string;
  readonly protocols: string[];
  /** The first frame to send once open, with `tokenTransport: 'frame'`. */
  readonly authFrame: string | undefined;
}

/**
 * Builds the URL, subprotocols and auth frame of one connection attempt (docs/protocol.md §1, §2, §4). Pure.
 * The token never goes into the URL. The resume point and `catch_up` (docs/protocol.md F) go where the
 * token goes: query parameters next to the bearer subprotocol, or fields of the auth frame. `catch_up` is
 * sent only for `'snapshot'`: `'none'` is what a server does without it.
 */
export function buildConnectionRequest(
  base: URL,
  transport: TokenTransport,
  token: string,
  position: StreamPosition | undefined,
  catchUp: CatchUp = 'none',
): ConnectionRequest {
  const url = new URL(base);
  const catch_up = catchUp === 'snapshot' ? catchUp : undefined;
  if (transport === 'frame') {
    const frame = { type: 'auth', token, since: position?.seq, epoch: position?.epoch, catch_up };
    return { url: url.href, protocols: [SUBPROTOCOL], authFrame: JSON.stringify(frame) };
  }
  if (catch_up !== undefined) url.searchParams.set('catch_up', catch_up);
  if (position !== undefined) {
    // §4: resume from the last delivered event on every reconnect.
    url.searchParams.set('since', String(position.seq));
    url.searchParams.set('epoch', position.epoch);
  }
  return { url: url.href, protocols: [SUBPROTOCOL, BEARER_PREFIX + token], authFrame: undefined };
}
