import type { Metric, Registry } from 'prom-client';

/** One label set of a {@link SeriesHistogram}: observed through {@link HistogramSeries.observe}. */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Readonly<Record<string, string>>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Adds one observation: a bucket search over a dozen bounds, no label handling. */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/** What prom-client's Registry reads of a metric: these fields and `get()` (its histograms' value layout). */
interface HistogramValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName: string;
  /** prom-client gives bucket values `exemplar: null` (no exemplars kept). */
  readonly exemplar?: null;
}

/**
 * A Prometheus histogram for the request path (issue 20): prom-client's `Histogram.observe` validates and
 * hashes the labels object on every call, about as much work as the rest of a request's bookkeeping. Here a
 * caller asks once for the {@link HistogramSeries} of its label set and keeps it; an observation is then a
 * bucket search and three additions. The registry reads it as it reads a prom-client histogram: the same
 * `_bucket` (cumulative, `le`, `+Inf`), `_sum` and `_count` series, in the same order, with the same labels
 * (a test compares both scrapes).
 */
export class SeriesHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  /** By the label values joined with a NUL, in label-name order; insertion order is scrape order. */
  readonly #series = new Map<string, HistogramSeries>();

  constructor(options: {
    readonly name: string;
    readonly help: string;
    readonly labelNames: readonly string[];
    readonly buckets: readonly number[];
    readonly registers: readonly Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#labelNames = options.labelNames;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    // prom-client's registry takes any object with this shape (name, help, type, aggregator, get, reset);
    // its TypeScript type lists only its own classes.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels` (one value per label name), created empty on first use. */
  series(labels: Readonly<Record<string, string>>): HistogramSeries {
    const key = this.#labelNames.map((name) => labels[name] ?? '').join('\0');
    let series = this.#series.get(key);
    if (series === undefined) {
      const own: Record<string, string> = {};
      for (const name of this.#labelNames) own[name] = labels[name] ?? '';
      series = new HistogramSeries(own, this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  /** One observation for `labels` (looks the series up: on a hot path keep the series instead). */
  observe(labels: Readonly<Record<string, string>>, value: number): void {
    this.series(labels).observe(value);
  }

  /** Forgets every series (prom-client's `Registry.resetMetrics`). */
  reset(): void {
    this.#series.clear();
  }

  /** The values in prom-client's histogram layout. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i] as number;
        values.push({
          value: cumulative,
          labels: { le: bound, ...series.labels },
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push({
        value: series.count,
        labels: { le: '+Inf', ...series.labels },
        metricName: bucket,
        exemplar: null,
      });
      values.push({ value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` });
      values.push({ value: series.count, labels: { ...series.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
