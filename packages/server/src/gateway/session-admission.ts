import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config.js';
import type { HandshakeLimiter } from '../security/handshake-limiter.js';
import type { OriginGuard } from './origin-guard.js';
import { checkCapacity, checkHandshakes } from './upgrade-checks.js';
import type { UpgradeRejection } from './upgrade-rejection.js';

/** What the admission checks need from their gateway. */
export interface SessionAdmissionDeps {
  readonly config: Pick<Config, 'maxHandshakesPerIp' | 'maxConnections'>;
  readonly origins: Pick<OriginGuard, 'checkBlocked' | 'checkOrigin'>;
  readonly handshakes: HandshakeLimiter;
  /** False once the gateway drains or closes: new sessions get 503. */
  readonly accepting: () => boolean;
}

/**
 * The checks every transport runs before a session may open, in the order of docs/protocol.md §1's
 * table: 429 while the IP is blocked, 429 at max_handshakes_per_ip, 503 while draining or at
 * max_connections (`sessions` counts every transport), 403 for an origin the policy refuses (a
 * violation of the IP, §5). The WebSocket then checks its subprotocols, SSE its resume query.
 */
export function checkAdmission(
  deps: SessionAdmissionDeps,
  req: IncomingMessage,
  ip: string,
  sessions: number,
): UpgradeRejection | null {
  const { config, origins } = deps;
  return (
    origins.checkBlocked(ip) ??
    checkHandshakes(deps.handshakes, ip, config.maxHandshakesPerIp) ??
    checkCapacity({
      draining: !deps.accepting(),
      connections: sessions,
      maxConnections: config.maxConnections,
    }) ??
    origins.checkOrigin(req, ip)
  );
}
