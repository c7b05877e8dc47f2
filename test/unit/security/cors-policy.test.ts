import { describe, expect, it } from 'vitest';
import { type CorsRequest, corsDecision } from '../../../packages/server/src/security/cors-policy.js';
import { OriginPolicy } from '../../../packages/server/src/security/origin-policy.js';

const policy = new OriginPolicy({
  env: 'production',
  origins: ['https://app.example.com'],
  requireOrigin: true,
});
const APP = 'https://app.example.com';
const allow = { 'Access-Control-Allow-Origin': APP, Vary: 'Origin' };
const preflightPublic = {
  ...allow,
  'Access-Control-Allow-Methods': 'GET, HEAD',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID',
  'Access-Control-Max-Age': '600',
};

function decide(request: Partial<CorsRequest>) {
  return corsDecision({
    policy,
    method: 'GET',
    path: '/healthz',
    origin: APP,
    exposeApiToBrowsers: false,
    ...request,
  });
}

describe('corsDecision', () => {
  it.each<[string, Partial<CorsRequest>, object]>([
    [
      'a public GET from an allowed origin gets its origin echoed',
      {},
      { action: 'continue', headers: allow },
    ],
    [
      'every public GET route is exposed (/readyz)',
      { path: '/readyz' },
      { action: 'continue', headers: allow },
    ],
    [
      'every public GET route is exposed (/metrics)',
      { path: '/metrics' },
      { action: 'continue', headers: allow },
    ],
    ['every public GET route is exposed (/ demo)', { path: '/' }, { action: 'continue', headers: allow }],
    [
      'a query string does not change the route',
      { path: '/healthz?verbose=1' },
      { action: 'continue', headers: allow },
    ],
    [
      'the origin is echoed in its normal form',
      { origin: 'HTTPS://APP.example.com/' },
      { action: 'continue', headers: allow },
    ],
    ['headersDistinct arrays are accepted', { origin: [APP] }, { action: 'continue', headers: allow }],
    [
      'a request without Origin gets only Vary, even with requireOrigin',
      { origin: undefined },
      { action: 'continue', headers: { Vary: 'Origin' } },
    ],
    [
      'an empty header list counts as no Origin',
      { origin: [] },
      { action: 'continue', headers: { Vary: 'Origin' } },
    ],
    [
      'an unlisted origin is refused with 403',
      { origin: 'https://evil.net' },
      { action: 'refuse', status: 403, reason: 'not_allowed', headers: { Vary: 'Origin' } },
    ],
    [
      'a null origin is refused with 403',
      { origin: 'null' },
      { action: 'refuse', status: 403, reason: 'null_origin', headers: { Vary: 'Origin' } },
    ],
    [
      'differing origins are refused',
      { origin: [APP, 'https://evil.net'] },
      { action: 'refuse', status: 403, reason: 'multiple_origins', headers: { Vary: 'Origin' } },
    ],
    [
      'a preflight for a public route answers 204',
      { method: 'OPTIONS', accessControlRequestMethod: 'GET' },
      { action: 'preflight', status: 204, headers: preflightPublic },
    ],
    [
      'a preflight for HEAD is allowed on public routes',
      { method: 'OPTIONS', accessControlRequestMethod: 'HEAD' },
      { action: 'preflight', status: 204, headers: preflightPublic },
    ],
    [
      'a preflight for POST on a public route is refused',
      { method: 'OPTIONS', accessControlRequestMethod: 'POST' },
      { action: 'refuse', status: 403, reason: 'method_not_allowed', headers: { Vary: 'Origin' } },
    ],
    [
      'method names are case-sensitive',
      { method: 'OPTIONS', accessControlRequestMethod: 'get' },
      { action: 'refuse', status: 403, reason: 'method_not_allowed', headers: { Vary: 'Origin' } },
    ],
    [
      'OPTIONS without Access-Control-Request-Method is not a preflight',
      { method: 'OPTIONS' },
      { action: 'continue', headers: allow },
    ],
    [
      'a GET with Access-Control-Request-Method is not a preflight',
      { accessControlRequestMethod: 'GET' },
      { action: 'continue', headers: allow },
    ],
    [
      'a GET to /v1 with Access-Control-Request-Method is not a preflight',
      { path: '/v1/stats', accessControlRequestMethod: 'GET' },
      { action: 'continue', headers: {} },
    ],
    [
      'a preflight from an unlisted origin is refused',
      { method: 'OPTIONS', accessControlRequestMethod: 'GET', origin: 'https://evil.net' },
      { action: 'refuse', status: 403, reason: 'not_allowed', headers: { Vary: 'Origin' } },
    ],
    ['/v1 gets no CORS headers', { path: '/v1/stats' }, { action: 'continue', headers: {} }],
    [
      '/v1 preflight is refused',
      { method: 'OPTIONS', path: '/v1/publish', accessControlRequestMethod: 'POST' },
      { action: 'refuse', status: 403, reason: 'api_not_exposed', headers: {} },
    ],
    [
      '/v1 from an unlisted origin is refused',
      { method: 'POST', path: '/v1/publish', origin: 'https://evil.net' },
      { action: 'refuse', status: 403, reason: 'not_allowed', headers: {} },
    ],
    [
      '/v1 without Origin (a backend) continues with no headers',
      { method: 'POST', path: '/v1/publish', origin: undefined },
      { action: 'continue', headers: {} },
    ],
    ['an unknown path is treated like the API', { path: '/healthz/' }, { action: 'continue', headers: {} }],
    [
      'a case variant of a public path is not public',
      { path: '/HEALTHZ' },
      { action: 'continue', headers: {} },
    ],
  ])('%s', (_name, request, expected) => {
    expect(decide(request)).toStrictEqual(expected);
  });

  describe('with exposeApiToBrowsers', () => {
    const preflightApi = { ...preflightPublic, 'Access-Control-Allow-Methods': 'GET, POST' };
    it.each<[string, Partial<CorsRequest>, object]>([
      [
        '/v1 gets the origin echoed',
        { method: 'POST', path: '/v1/publish' },
        { action: 'continue', headers: allow },
      ],
      [
        '/v1 preflight for POST answers 204',
        { method: 'OPTIONS', path: '/v1/publish', accessControlRequestMethod: 'POST' },
        { action: 'preflight', status: 204, headers: preflightApi },
      ],
      [
        '/v1 preflight for DELETE is refused',
        { method: 'OPTIONS', path: '/v1/publish', accessControlRequestMethod: 'DELETE' },
        { action: 'refuse', status: 403, reason: 'method_not_allowed', headers: { Vary: 'Origin' } },
      ],
      [
        '/v1 without Origin gets Vary',
        { path: '/v1/stats', origin: undefined },
        { action: 'continue', headers: { Vary: 'Origin' } },
      ],
      [
        '/v1 from an unlisted origin is still refused',
        { path: '/v1/stats', origin: 'https://evil.net' },
        { action: 'refuse', status: 403, reason: 'not_allowed', headers: { Vary: 'Origin' } },
      ],
    ])('%s', (_name, request, expected) => {
      expect(decide({ ...request, exposeApiToBrowsers: true })).toStrictEqual(expected);
    });
  });

  it('exposes the AI SDK chat routes to allowed origins without exposeApiToBrowsers (docs/protocol.md J)', () => {
    const preflightApi = { ...preflightPublic, 'Access-Control-Allow-Methods': 'GET, POST' };
    for (const path of ['/v1/ai-sdk/chat', '/v1/ai-sdk/chat/c1/stream', '/v1/ai-sdk/chat/c1/cancel']) {
      expect(decide({ method: 'POST', path })).toStrictEqual({ action: 'continue', headers: allow });
      expect(decide({ method: 'OPTIONS', path, accessControlRequestMethod: 'POST' })).toStrictEqual({
        action: 'preflight',
        status: 204,
        headers: preflightApi,
      });
    }
    expect(
      decide({ method: 'OPTIONS', path: '/v1/ai-sdk/chat/c1/other', accessControlRequestMethod: 'POST' }),
    ).toMatchObject({
      action: 'refuse',
      reason: 'api_not_exposed',
    });
  });

  it('lets requests without Origin through when requireOrigin is off, and refuses an empty Origin', () => {
    const lax = new OriginPolicy({ env: 'production', origins: [APP] });
    const base = { policy: lax, method: 'GET', path: '/healthz', exposeApiToBrowsers: false };
    expect(corsDecision({ ...base, origin: undefined })).toStrictEqual({
      action: 'continue',
      headers: { Vary: 'Origin' },
    });
    expect(corsDecision({ ...base, origin: '' })).toStrictEqual({
      action: 'refuse',
      status: 403,
      reason: 'malformed',
      headers: { Vary: 'Origin' },
    });
  });

  it('never sends "*" or Allow-Credentials, even when every origin is allowed', () => {
    const any = new OriginPolicy({ env: 'development', origins: ['*'] });
    const decision = corsDecision({
      policy: any,
      method: 'OPTIONS',
      path: '/',
      origin: 'https://x.example',
      accessControlRequestMethod: 'GET',
      exposeApiToBrowsers: true,
    });
    expect(decision).toMatchObject({
      action: 'preflight',
      headers: { 'Access-Control-Allow-Origin': 'https://x.example' },
    });
    expect(Object.keys(decision.headers)).not.toContain('Access-Control-Allow-Credentials');
  });
});
