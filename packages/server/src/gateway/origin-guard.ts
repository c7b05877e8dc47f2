import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { clientIp, type ProxyHeader } from '../security/client-ip.js';
import { type CorsDecision, corsDecision } from '../security/cors-policy.js';
import { isLoopback } from '../security/ip-address.js';
import { LogThrottle } from '../security/log-throttle.js';
import { OriginPolicy } from '../security/origin-policy.js';
import { TrustedProxies, validateTrustProxyEntries } from '../security/trusted-proxies.js';
import { validateOriginEntries } from '../security/validate-origin-entries.js';
import { ViolationTracker } from '../security/violation-tracker.js';
import type { UpgradeRejection } from './upgrade-rejection.js';

/**
 * The gateway's shell around security/: it feeds requests to the pure OriginPolicy, ViolationTracker
 * and client-IP logic, and turns their verdicts into metrics, throttled log lines and rejections
 * (docs/protocol.md §1, §5). The decisions themselves live in security/.
 */
export class OriginGuard {
  readonly #policy: OriginPolicy;
  readonly #tracker: ViolationTracker;
  readonly #trusted: TrustedProxies;
  readonly #proxyHeader: ProxyHeader;
  readonly #exposeApi: boolean;
  /** docs/protocol.md C: in development, loopback violations are refused and logged, never counted. */
  readonly #spareLoopback: boolean;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #rejectionLog = new LogThrottle({ perSec: 1, burst: 10 });

  /** Validates the origin and proxy settings; throws AC_ERR_CONFIG_INVALID naming every bad entry. */
  constructor(
    config: Config,
    deps: { readonly log: Logger; readonly metrics: Metrics; readonly now: () => number },
  ) {
    const problems = [
      ...validateOriginEntries(config.origins ?? [], {
        env: config.env,
        allowInsecureOrigins: config.allowInsecureOrigins,
      }),
      ...validateTrustProxyEntries(config.trustProxy).map((p) => `--trust-proxy: ${p}`),
    ];
    if (problems.length > 0) {
      throw new AgentcastError(
        AgentcastErrorCode.ConfigInvalid,
        `invalid configuration:\n  - ${problems.join('\n  - ')}`,
      );
    }
    this.#policy = new OriginPolicy({
      env: config.env,
      origins: config.origins,
      requireOrigin: config.requireOrigin,
      allowInsecureOrigins: config.allowInsecureOrigins,
    });
    this.#trusted = new TrustedProxies(config.trustProxy);
    this.#proxyHeader = config.proxyHeader;
    this.#tracker = new ViolationTracker({
      limit: config.violationLimit,
      windowMs: config.violationWindowS * 1000,
      blockMs: config.blockS * 1000,
      now: deps.now,
    });
    this.#exposeApi = config.exposeApiToBrowsers;
    this.#spareLoopback = config.env === 'development';
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#now = deps.now;
  }

  /** The client's address: the socket peer, or the right-most untrusted forwarded hop behind a trusted proxy. */
  clientIp(req: IncomingMessage): string {
    return (
      clientIp({
        remoteAddress: req.socket.remoteAddress,
        forwardedFor: req.headers['x-forwarded-for'],
        forwarded: req.headers.forwarded,
        trustProxy: this.#trusted,
        proxyHeader: this.#proxyHeader,
      }) ?? 'unknown'
    );
  }

  /** 429 while `ip` is blocked (§5). */
  checkBlocked(ip: string): UpgradeRejection | null {
    const status = this.#tracker.blockStatus(ip);
    this.#metrics.blockedIps.set(this.#tracker.blockedCount());
    if (!status.blocked) return null;
    return {
      status: 429,
      reason: 'ip_blocked',
      message: 'too many origin violations from this address; retry later',
      headers: { 'Retry-After': String(status.retryAfterS) },
    };
  }

  /** 403 when the Origin fails the policy; each rejection counts as a violation of `ip` (§5). */
  checkOrigin(req: IncomingMessage, ip: string): UpgradeRejection | null {
    const verdict = this.#policy.check(req.headersDistinct.origin);
    if (verdict.ok) return null;
    const { reason } = verdict;
    this.#metrics.originRejections.inc({ reason });
    const counted = !(this.#spareLoopback && isLoopback(ip));
    const status = counted ? this.#tracker.record(ip) : this.#tracker.blockStatus(ip);
    this.#metrics.blockedIps.set(this.#tracker.blockedCount());
    const decision = this.#rejectionLog.take(this.#now());
    if (decision.log) {
      this.#log.info(
        {
          reason,
          origin: verdict.origin,
          ip,
          blocked: status.blocked,
          counted,
          suppressed: decision.suppressed,
        },
        'origin rejected',
      );
    }
    return {
      status: 403,
      reason: `origin_${reason}`,
      message: `origin not allowed (${reason.replaceAll('_', ' ')})`,
    };
  }

  /** Forgets expired violations and blocks; the gateway calls it once a minute. */
  prune(): void {
    this.#tracker.prune();
    this.#metrics.blockedIps.set(this.#tracker.blockedCount());
  }

  /** The CORS answer for one HTTP request (never for the upgrade). */
  cors(req: IncomingMessage, path: string): CorsDecision {
    return corsDecision({
      policy: this.#policy,
      method: req.method ?? 'GET',
      path,
      // headersDistinct builds an object of every header on each read: only asked when there is an Origin
      // (req.headers.origin is undefined exactly when no Origin header came).
      origin: req.headers.origin === undefined ? undefined : req.headersDistinct.origin,
      accessControlRequestMethod: req.headers['access-control-request-method'],
      exposeApiToBrowsers: this.#exposeApi,
    });
  }
}
