import { describe, expect, it } from 'vitest';
import { isAgUiRoute } from '../../../../packages/server/src/edges/ag-ui/ag-ui-endpoint.js';
import { httpRoute } from '../../../../packages/server/src/gateway/http-route.js';
import { corsDecision, isUserRoute } from '../../../../packages/server/src/security/cors-policy.js';
import { OriginPolicy } from '../../../../packages/server/src/security/origin-policy.js';

// docs/protocol.md I: the AG-UI routes are user routes (CORS without --expose-api-to-browsers) and have
// bounded metric labels.

describe('the AG-UI routes', () => {
  it('are recognised, and nothing else is', () => {
    expect(isAgUiRoute('/v1/ag-ui')).toBe(true);
    expect(isAgUiRoute('/v1/ag-ui/runs/r_1')).toBe(true);
    expect(isAgUiRoute('/v1/ag-ui/runs/r_1/more')).toBe(false);
    expect(isAgUiRoute('/v1/ag-ui/')).toBe(false);
  });

  it('are labelled by their template, never by a run id', () => {
    expect(httpRoute('/v1/ag-ui')).toBe('/v1/ag-ui');
    expect(httpRoute('/v1/ag-ui/runs/r_secret')).toBe('/v1/ag-ui/runs/:run_id');
  });

  it('answer preflights from an allowed origin without --expose-api-to-browsers, with Last-Event-ID allowed', () => {
    const policy = new OriginPolicy({ env: 'production', origins: ['https://app.example.com'] });
    for (const path of ['/v1/ag-ui', '/v1/ag-ui/runs/r_1']) {
      expect(isUserRoute(path)).toBe(true);
      const decision = corsDecision({
        policy,
        method: 'OPTIONS',
        path,
        origin: 'https://app.example.com',
        accessControlRequestMethod: 'POST',
        exposeApiToBrowsers: false,
      });
      expect(decision).toMatchObject({ action: 'preflight', status: 204 });
      expect(decision.headers['Access-Control-Allow-Headers']).toContain('Last-Event-ID');
    }
  });
});
