import type { TokenTransport } from './client-options.js';
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
 * The token never goes into the URL. The resume point goes where the token goes: query parameters next
 * to the bearer subprotocol, or fields of the auth frame.
 */
export function buildConnectionRequest(
  base: URL,
  transport: TokenTransport,
  token: string,
  position: StreamPosition | undefined,
): ConnectionRequest {
  const url = new URL(base);
  if (transport === 'frame') {
    const authFrame = JSON.stringify({ type: 'auth', token, since: position?.seq, epoch: position?.epoch });
    return { url: url.href, protocols: [SUBPROTOCOL], authFrame };
  }
  if (position !== undefined) {
    // §4: resume from the last delivered event on every reconnect.
    url.searchParams.set('since', String(position.seq));
    url.searchParams.set('epoch', position.epoch);
  }
  return { url: url.href, protocols: [SUBPROTOCOL, BEARER_PREFIX + token], authFrame: undefined };
}
