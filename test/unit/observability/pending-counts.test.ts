import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';

/** The publish path's counts are kept by Metrics and handed to prom-client at each read, once. */
describe('Metrics.countHttpRequest / countHttpPublished', () => {
  const line = async (m: Metrics, series: string) =>
    (await m.registry.metrics()).split('\n').find((l) => l.startsWith(series));

  it('shows every count at the next scrape, and counts each once', async () => {
    const m = new Metrics();
    m.countHttpRequest('/v1/publish', 'POST', '202', 0.002);
    m.countHttpRequest('/v1/publish', 'POST', '202', 0.002);
    m.countHttpRequest('/v1/publish', 'POST', '400', 0.002);
    m.countHttpPublished(3);
    m.eventsPublished.inc({ source: 'http' }, 2);
    const ok = 'agentcast_http_requests_total{route="/v1/publish",method="POST",status="202"}';
    const bad = 'agentcast_http_requests_total{route="/v1/publish",method="POST",status="400"}';
    const http = 'agentcast_events_published_total{source="http"}';
    expect(await line(m, ok)).toBe(`${ok} 2`);
    expect(await line(m, bad)).toBe(`${bad} 1`);
    expect(await line(m, http)).toBe(`${http} 5`);
    // A second scrape adds nothing; new counts add to the totals.
    expect(await line(m, ok)).toBe(`${ok} 2`);
    m.countHttpRequest('/v1/publish', 'POST', '202', 0.002);
    m.countHttpPublished(1);
    expect(await line(m, ok)).toBe(`${ok} 3`);
    expect(await line(m, http)).toBe(`${http} 6`);
    expect((await m.httpRequests.get()).values).toContainEqual({
      value: 3,
      labels: { route: '/v1/publish', method: 'POST', status: '202' },
    });
  });

  it('shows no http series before the first count', async () => {
    const m = new Metrics();
    expect(await line(m, 'agentcast_events_published_total{source="http"}')).toBeUndefined();
    expect(await line(m, 'agentcast_http_requests_total{')).toBeUndefined();
  });
});
