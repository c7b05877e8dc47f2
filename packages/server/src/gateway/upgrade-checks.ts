import type { IncomingMessage } from 'node:http';
import { selectSubprotocol } from '../auth/token-source.js';
import { parseQuery, queryObject, resumeQuerySchema } from '../protocol/http-bodies.js';
import { CATCH_UP_MODES, type CatchUpMode, type ResumeRequest } from '../protocol/resume-request.js';
import type { HandshakeLimiter } from '../security/handshake-limiter.js';
import type { UpgradeRejection } from './upgrade-rejection.js';

/**
 * The checks of docs/protocol.md §1, each a function returning a rejection or null. The gateway runs them
 * in the order of the table: 429 and 403 (OriginGuard), 503 and 400 (here).
 */

/** 503 while draining or at max_connections (§1, §9). */
export function checkCapacity(state: {
  readonly draining: boolean;
  readonly connections: number;
  readonly maxConnections: number;
}): UpgradeRejection | null {
  if (state.draining)
    return {
      status: 503,
      reason: 'draining',
      message: 'this node is shutting down; connect to another',
      headers: { 'Retry-After': '1' },
    };
  if (state.connections >= state.maxConnections) {
    return {
      status: 503,
      reason: 'at_capacity',
      message: 'this node is at max_connections; retry later',
      headers: { 'Retry-After': '1' },
    };
  }
  return null;
}

/**
 * 429 when the client IP already holds max_handshakes_per_ip connections that have not got past auth
 * (docs/protocol.md C). Not a violation: many users behind one NAT may reconnect at once.
 */
export function checkHandshakes(
  handshakes: HandshakeLimiter,
  ip: string,
  limit: number,
): UpgradeRejection | null {
  if (handshakes.heldBy(ip) < limit) return null;
  return {
    status: 429,
    reason: 'too_many_handshakes',
    message: `this address has ${limit} connections that have not authenticated yet; authenticate them or retry later`,
    headers: { 'Retry-After': '1' },
  };
}

/** Subprotocols offered with the request, split and trimmed. */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (header === undefined) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** 400 when subprotocols are offered but none is ours (§1), or the resume query is malformed (§4). */
export function checkRequest(req: IncomingMessage, url: URL): UpgradeRejection | null {
  if (selectSubprotocol(offeredSubprotocols(req)) === false) {
    return {
      status: 400,
      reason: 'bad_subprotocol',
      message: 'offer the agentcast.v1 subprotocol (and bearer.<jwt> to carry a token)',
    };
  }
  return checkResumeQuery(url);
}

/** The upgrade refusal reason of each malformed resume parameter. */
const RESUME_REASONS = { since: 'bad_since', epoch: 'bad_epoch', catch_up: 'bad_catch_up' } as const;

/**
 * 400 when the resume query is malformed (§4, A); the same for every transport, and the schema the
 * OpenAPI document gives for `GET /v1/events` (protocol/http-bodies.ts resumeQuerySchema).
 */
export function checkResumeQuery(url: URL): UpgradeRejection | null {
  const parsed = parseQuery(resumeQuerySchema, queryObject(url.searchParams, false));
  if (parsed.ok) return null;
  // The schema knows only these three parameters, so the failing one is one of them.
  const reason = RESUME_REASONS[parsed.field as keyof typeof RESUME_REASONS];
  return { status: 400, reason, message: parsed.message };
}

function isCatchUpMode(value: string): value is CatchUpMode {
  return (CATCH_UP_MODES as readonly string[]).includes(value);
}

/** The resume request carried in the query (§4); the auth frame may carry one instead. */
export function resumeFromQuery(url: URL): ResumeRequest {
  const since = url.searchParams.get('since');
  const epoch = url.searchParams.get('epoch');
  const catchUp = url.searchParams.get('catch_up');
  return {
    since: since === null ? undefined : Number(since),
    epoch: epoch ?? undefined,
    catchUp: catchUp !== null && isCatchUpMode(catchUp) ? catchUp : undefined,
  };
}
