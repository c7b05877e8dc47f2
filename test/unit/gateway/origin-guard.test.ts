import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../packages/server/src/config/config.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { OriginGuard } from '../../../packages/server/src/gateway/origin-guard.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { captureLog } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';

const ALLOWED = 'https://app.example.com';

/** Just the parts of a request the guard reads. */
function request(
  headers: Record<string, string | undefined> = {},
  extra: { remoteAddress?: string | undefined; method?: string } = {},
): IncomingMessage {
  const present = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
  return {
    method: extra.method,
    socket: { remoteAddress: 'remoteAddress' in extra ? extra.remoteAddress : '10.0.0.9' },
    headers: present,
    headersDistinct: Object.fromEntries(Object.entries(present).map(([k, v]) => [k, [v]])),
  } as unknown as IncomingMessage;
}

function setup(overrides: Partial<Config> = {}) {
  let clock = 1_000_000;
  const { log, lines } = captureLog();
  const metrics = new Metrics();
  const config: Config = {
    // The production checks of loadConfig (secrets, API key) do not concern the guard.
    ...loadConfig({ overrides: { env: 'test' } }),
    env: 'production',
    origins: [ALLOWED],
    violationLimit: 3,
    violationWindowS: 10,
    blockS: 30,
    ...overrides,
  };
  const guard = new OriginGuard(config, { log, metrics, now: () => clock });
  const metric = (name: string, labels: Record<string, string> = {}) => metricValue(metrics, name, labels);
  return {
    guard,
    lines,
    metric,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

function configError(overrides: Partial<Config>): AgentcastError {
  try {
    setup(overrides);
  } catch (err) {
    return err as AgentcastError;
  }
  throw new Error('the guard accepted the configuration');
}

describe('OriginGuard', () => {
  describe('configuration', () => {
    it('names every bad origin and proxy entry in one AC_ERR_CONFIG_INVALID, one per line', () => {
      const err = configError({ origins: ['https://*.com', 'ftp://x.example'], trustProxy: ['not-an-ip'] });
      expect(err).toBeInstanceOf(AgentcastError);
      expect(err.code).toBe(AgentcastErrorCode.ConfigInvalid);
      const [head, ...entries] = err.message.split('\n');
      expect(head).toBe('invalid configuration:');
      expect(entries).toHaveLength(3);
      for (const entry of entries) expect(entry).toMatch(/^ {2}- \S/);
      expect(entries.at(-1)).toMatch(/^ {2}- --trust-proxy: .*not-an-ip/);
    });

    it('judges entries by the configured environment: http:// passes in development, not in production', () => {
      expect(() => setup({ env: 'development', origins: ['http://app.example.com'] })).not.toThrow();
      expect(configError({ origins: ['http://app.example.com'] }).message).toContain(
        'http://app.example.com',
      );
      expect(() => setup({ origins: ['http://app.example.com'], allowInsecureOrigins: true })).not.toThrow();
    });

    it('without origins, uses the environment defaults: localhost in development, nothing in production', () => {
      const dev = setup({ env: 'development', origins: undefined });
      expect(dev.guard.checkOrigin(request({ origin: 'http://localhost:5173' }), '1.1.1.1')).toBeNull();
      const prod = setup({ origins: undefined });
      expect(prod.guard.checkOrigin(request({ origin: 'http://localhost:5173' }), '1.1.1.1')?.status).toBe(
        403,
      );
    });
  });

  describe('clientIp', () => {
    it('is the socket peer, or "unknown" when the socket has no address any more', () => {
      const { guard } = setup();
      expect(guard.clientIp(request({}, { remoteAddress: '10.1.2.3' }))).toBe('10.1.2.3');
      expect(guard.clientIp(request({}, { remoteAddress: undefined }))).toBe('unknown');
    });

    it('believes X-Forwarded-For only from a trusted proxy', () => {
      const { guard } = setup({ trustProxy: ['10.0.0.0/8'] });
      const both = { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=198.51.100.4' };
      expect(guard.clientIp(request(both, { remoteAddress: '10.0.0.1' }))).toBe('203.0.113.7');
      expect(guard.clientIp(request(both, { remoteAddress: '192.0.2.1' }))).toBe('192.0.2.1');
    });

    it('with --proxy-header forwarded, reads Forwarded and ignores X-Forwarded-For', () => {
      const { guard } = setup({ trustProxy: ['10.0.0.0/8'], proxyHeader: 'forwarded' });
      const both = { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=198.51.100.4' };
      expect(guard.clientIp(request(both, { remoteAddress: '10.0.0.1' }))).toBe('198.51.100.4');
    });
  });

  describe('checkOrigin', () => {
    it('passes an allowed origin without counting anything', async () => {
      const { guard, lines, metric } = setup();
      expect(guard.checkOrigin(request({ origin: ALLOWED }), '1.1.1.1')).toBeNull();
      expect(await metric('agentcast_origin_rejections_total')).toBe(0);
      expect(lines).toEqual([]);
    });

    it('answers 403 with the reason as code and words, counts it by reason and logs it', async () => {
      const { guard, lines, metric } = setup();
      const rejection = guard.checkOrigin(request({ origin: 'https://evil.example' }), '1.1.1.1');
      expect(rejection).toEqual({
        status: 403,
        reason: 'origin_not_allowed',
        message: 'origin not allowed (not allowed)',
      });
      expect(await metric('agentcast_origin_rejections_total', { reason: 'not_allowed' })).toBe(1);
      expect(lines).toEqual([
        expect.objectContaining({
          level: 30,
          reason: 'not_allowed',
          origin: 'https://evil.example',
          ip: '1.1.1.1',
          blocked: false,
          counted: true,
          suppressed: 0,
        }),
      ]);
    });

    it('spells every underscore of a multi-word reason as a space', () => {
      const { guard } = setup({ requireOrigin: true });
      expect(guard.checkOrigin(request(), '1.1.1.1')).toMatchObject({
        reason: 'origin_missing_origin',
        message: 'origin not allowed (missing origin)',
      });
    });

    it('blocks an IP after violation-limit rejections within the window, for block-s seconds', async () => {
      const { guard, lines, metric, advance } = setup();
      const evil = request({ origin: 'https://evil.example' });
      guard.checkOrigin(evil, '6.6.6.6');
      guard.checkOrigin(evil, '6.6.6.6');
      expect(guard.checkBlocked('6.6.6.6')).toBeNull();
      guard.checkOrigin(evil, '6.6.6.6');
      expect(lines.at(-1)).toMatchObject({ blocked: true });
      expect(await metric('agentcast_blocked_ips')).toBe(1);
      expect(guard.checkBlocked('6.6.6.6')).toEqual({
        status: 429,
        reason: 'ip_blocked',
        message: 'too many origin violations from this address; retry later',
        headers: { 'Retry-After': '30' },
      });
      expect(guard.checkBlocked('7.7.7.7')).toBeNull();
      advance(29_000);
      expect(guard.checkBlocked('6.6.6.6')?.headers).toEqual({ 'Retry-After': '1' });
      advance(1_000);
      expect(guard.checkBlocked('6.6.6.6')).toBeNull();
      expect(await metric('agentcast_blocked_ips')).toBe(0);
    });

    it.each([
      { env: 'development', ip: '127.0.0.1', blocks: false },
      { env: 'development', ip: '127.8.9.10', blocks: false },
      { env: 'development', ip: '::1', blocks: false },
      { env: 'development', ip: '::ffff:127.0.0.1', blocks: false },
      { env: 'development', ip: '10.0.0.9', blocks: true },
      { env: 'development', ip: '128.0.0.1', blocks: true },
      { env: 'development', ip: 'unknown', blocks: true },
      { env: 'test', ip: '127.0.0.1', blocks: true },
      { env: 'staging', ip: '127.0.0.1', blocks: true },
      { env: 'production', ip: '::1', blocks: true },
    ] as const)('$env, violations from $ip: blocked = $blocks', async ({ env, ip, blocks }) => {
      const { guard, lines, metric } = setup({ env, origins: [ALLOWED] });
      const evil = request({ origin: 'https://evil.example' });
      for (let i = 0; i < 5; i++) {
        expect(guard.checkOrigin(evil, ip)).toMatchObject({ status: 403, reason: 'origin_not_allowed' });
      }
      expect(guard.checkBlocked(ip) !== null).toBe(blocks);
      expect(lines).toHaveLength(5);
      expect(lines.at(-1)).toMatchObject({ ip, blocked: blocks, counted: blocks });
      expect(await metric('agentcast_origin_rejections_total', { reason: 'not_allowed' })).toBe(5);
    });

    it('forgets violations older than the window', () => {
      const { guard, advance } = setup();
      const evil = request({ origin: 'https://evil.example' });
      guard.checkOrigin(evil, '6.6.6.6');
      guard.checkOrigin(evil, '6.6.6.6');
      advance(10_000);
      guard.checkOrigin(evil, '6.6.6.6');
      expect(guard.checkBlocked('6.6.6.6')).toBeNull();
    });

    it('logs a burst of 10 rejections, then about one a second with the count of lines it held back', () => {
      const { guard, lines, advance } = setup({ violationLimit: 1000 });
      const evil = request({ origin: 'https://evil.example' });
      for (let i = 0; i < 15; i++) guard.checkOrigin(evil, `6.6.6.${i}`);
      expect(lines).toHaveLength(10);
      advance(1_000);
      guard.checkOrigin(evil, '6.6.6.99');
      expect(lines).toHaveLength(11);
      expect(lines.at(-1)).toMatchObject({ ip: '6.6.6.99', suppressed: 5 });
    });
  });

  it('prune drops expired blocks from the blocked-IPs gauge', async () => {
    const { guard, metric, advance } = setup({ violationLimit: 1 });
    guard.checkOrigin(request({ origin: 'https://evil.example' }), '6.6.6.6');
    expect(await metric('agentcast_blocked_ips')).toBe(1);
    advance(30_000);
    guard.prune();
    expect(await metric('agentcast_blocked_ips')).toBe(0);
  });

  describe('cors', () => {
    it('echoes an allowed origin on public routes, and reads the path, method and preflight headers', () => {
      const { guard } = setup();
      expect(guard.cors(request({ origin: ALLOWED }), '/healthz')).toEqual({
        action: 'continue',
        headers: { 'Access-Control-Allow-Origin': ALLOWED, Vary: 'Origin' },
      });
      const preflight = request(
        { origin: ALLOWED, 'access-control-request-method': 'GET' },
        { method: 'OPTIONS' },
      );
      expect(guard.cors(preflight, '/metrics')).toMatchObject({ action: 'preflight', status: 204 });
      expect(guard.cors(request({ origin: 'https://evil.example' }), '/healthz')).toMatchObject({
        action: 'refuse',
        reason: 'not_allowed',
      });
    });

    it('treats a request without a method as GET', () => {
      const { guard } = setup();
      const noMethod = request({ origin: ALLOWED, 'access-control-request-method': 'GET' });
      expect(guard.cors(noMethod, '/healthz').action).toBe('continue');
    });

    it('gives /v1/* CORS headers only with --expose-api-to-browsers', () => {
      const preflight = request(
        { origin: ALLOWED, 'access-control-request-method': 'POST' },
        { method: 'OPTIONS' },
      );
      expect(setup().guard.cors(preflight, '/v1/publish')).toMatchObject({ reason: 'api_not_exposed' });
      expect(setup({ exposeApiToBrowsers: true }).guard.cors(preflight, '/v1/publish')).toMatchObject({
        action: 'preflight',
      });
    });
  });
});
