import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';

/** Issue 13, findings 9 and 10, through the real gateway: CORS and /metrics are what an attacker reaches. */
describe('origins a URL parser would repair, and close codes chosen by clients', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.each(['https://app.example.com\\.evil.net', 'http://[::1x:3000'])(
    'refuses %s as malformed on the HTTP routes and never echoes it in CORS',
    async (origin) => {
      h = await startGateway({
        exposeApiToBrowsers: true,
        origins: ['https://app.example.com', 'http://[::1]:3000'],
      });
      const res = await fetch(`${h.httpUrl}/v1/publish`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: { code: 'FORBIDDEN', message: 'cross-origin request refused (malformed)' },
      });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    },
  );

  it('counts closes with codes the gateway does not define under one "other" label', async () => {
    const g = await startGateway();
    h = g;
    for (const code of [3000, 3999, 4000, 4567, 4999]) {
      const client = await g.connect(`u${code}`);
      client.ws.close(code);
      await client.closed;
    }
    const normal = await g.connect('normal');
    normal.ws.close(1000);
    await normal.closed;
    // The server's side of the close is counted once its socket is gone; the closes above were awaited
    // on the client, so wait for the gauge of open connections to reach zero.
    await expect.poll(() => metricValue(g.gateway.metrics, 'agentcast_connections')).toBe(0);
    const metric = g.gateway.metrics.registry.getSingleMetric('agentcast_connections_closed_total');
    const labels = (await metric?.get())?.values.map((v) => v.labels.code);
    expect(new Set(labels)).toEqual(new Set(['other', '1000']));
    expect(
      await metricValue(g.gateway.metrics, 'agentcast_connections_closed_total', { code: 'other' }),
    ).toBe(5);
  });
});
