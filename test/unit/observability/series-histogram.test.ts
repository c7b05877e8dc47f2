import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesHistogram } from '../../../packages/server/src/observability/series-histogram.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const options = { name: 'h_seconds', help: 'a histogram', labelNames: ['route', 'method'] as const };

/** Both histograms fed the same observations, each on its own registry. */
function both() {
  const theirs = new Registry();
  const ours = new Registry();
  return {
    prom: new Histogram({
      ...options,
      labelNames: [...options.labelNames],
      buckets: BUCKETS,
      registers: [theirs],
    }),
    lean: new SeriesHistogram({ ...options, buckets: BUCKETS, registers: [ours] }),
    theirs,
    ours,
  };
}

/** The lean histogram of the request path scrapes exactly as prom-client's own histogram. */
describe('SeriesHistogram', () => {
  it('scrapes byte for byte as prom-client’s Histogram, in text and as JSON', async () => {
    const label = fc.constantFrom('/v1/publish', '/healthz', 'other', 'a"b\\c');
    const value = fc.oneof(
      fc.constantFrom(...BUCKETS, 0, 11),
      fc.double({ min: 0, max: 20, noNaN: true, noDefaultInfinity: true }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ route: label, method: fc.constantFrom('GET', 'POST'), value }), {
          maxLength: 40,
        }),
        async (observations) => {
          const { prom, lean, theirs, ours } = both();
          for (const { route, method, value: v } of observations) {
            prom.observe({ route, method }, v);
            // Half through a kept series (the request path), half through observe (a lookup each).
            if (v > 1) lean.observe({ route, method }, v);
            else lean.series({ route, method }).observe(v);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
          expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('forgets every series on reset, as the registry asks', async () => {
    const { lean, ours } = both();
    lean.observe({ route: '/healthz', method: 'GET' }, 0.002);
    expect(await ours.metrics()).toContain('h_seconds_count{route="/healthz",method="GET"} 1');
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('h_seconds_count');
  });
});
