import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { type GatewayProcess, spawnGateway } from '../../helpers/gateway-process.js';
import { SseStream } from '../../helpers/sse-stream.js';

/**
 * deploy/prometheus/alerts.yaml and deploy/grafana/agentcast.json (issue 19, "Observe"): the rules pass
 * `promtool check rules` (Debian's prometheus package; .ci/run installs it), and every metric the rules
 * and the dashboard query is one a running gateway process serves on /metrics.
 */

const ALERTS = fileURLToPath(new URL('../../../deploy/prometheus/alerts.yaml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/agentcast.json', import.meta.url));

/** The metric names a PromQL expression reads (names of ours and prom-client's default ones). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:agentcast|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
}

/**
 * Every name a sample of /metrics can have: each `# TYPE` family, and for histograms and summaries
 * their `_bucket`, `_sum` and `_count` series. A family without samples yet (a counter never
 * incremented) still has its TYPE line, so it counts as served.
 */
function servedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram' || type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

interface Rule {
  readonly alert: string;
  readonly expr: string;
}

const rules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
};

describe('deploy/prometheus/alerts.yaml', () => {
  it('alerts on no ready nodes, event-loop lag, 5xx ratio, Redis down, slow-consumer closes and lost runs', () => {
    const uses = (metric: string) => rules.some((r) => metricNames(r.expr).includes(metric));
    expect(rules.map((r) => r.alert)).toHaveLength(6);
    for (const metric of [
      'agentcast_ready',
      'nodejs_eventloop_lag_p99_seconds',
      'agentcast_http_requests_total',
      'agentcast_engine_up',
      'agentcast_connections_closed_total',
      'agentcast_runs_lost_total',
    ])
      expect(uses(metric), metric).toBe(true);
    expect(rules.find((r) => r.expr.includes('closed_total'))?.expr).toContain('code="4013"');
  });

  it('passes promtool check rules', (ctx) => {
    if (spawnSync('promtool', ['--version']).status !== 0) {
      const message = 'promtool check rules: no promtool here (apt-get install -y prometheus)';
      if (process.env.CI === 'true') throw new Error(`${message} and CI=true`);
      console.warn(`\n*** SKIPPING ${message}. ***\n`);
      return ctx.skip();
    }
    const result = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(result.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.status, result.stderr).toBe(0);
  });
});

describe('deploy/grafana/agentcast.json', () => {
  it('is a dashboard whose panels have unique ids and a query each, on the datasource variable', () => {
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    const ids = dashboard.panels.map((p) => (p as { id?: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
    // Grafana's variable syntax, not a template literal: `$` and `{datasource}` are joined on purpose.
    const variable = ['$', '{datasource}'].join('');
    for (const panel of graphs)
      expect((panel as { datasource?: { uid: string } }).datasource?.uid).toBe(variable);
  });
});

const SECRET = 'm'.repeat(40);

describe('every metric the alerts and the dashboard use exists in /metrics of a running gateway', () => {
  let gw: GatewayProcess | undefined;
  let served = new Set<string>();
  beforeAll(async () => {
    gw = await spawnGateway(['--port', '0', '--env', 'test', '--jwt-secret', SECRET, '--no-demo']);
    served = servedNames(await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text());
  });
  afterAll(async () => {
    gw?.child.kill('SIGKILL');
    await gw?.exited;
  });

  it('counts SSE streams beside WebSocket connections (the dashboard splits the two)', async () => {
    const scrape = async () => {
      const text = await (await fetch(`http://127.0.0.1:${gw?.port}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      return { sse: value('agentcast_sse_streams'), all: value('agentcast_connections') };
    };
    const token = await signToken(SECRET, 'u1', 60);
    const stream = await SseStream.open(`http://127.0.0.1:${gw?.port}/v1/events`, {
      Authorization: `Bearer ${token}`,
    });
    await stream.next('welcome');
    expect(await scrape()).toEqual({ sse: 1, all: 1 });
    stream.close();
    await expect.poll(scrape, { timeout: 5000 }).toEqual({ sse: 0, all: 0 });
  });

  it('finds the names in an expression (so the checks below can fail)', () => {
    expect(metricNames('sum(rate(agentcast_x_total{a="b"}[5m])) / nodejs_y > process_z')).toEqual([
      'agentcast_x_total',
      'nodejs_y',
      'process_z',
    ]);
    expect(served.has('agentcast_no_such_metric')).toBe(false);
  });

  it.each(rules.map((r) => [r.alert, r.expr] as const))('alert %s', (_, expr) => {
    const names = metricNames(expr);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(served, name).toContain(name);
  });

  it.each(dashboard.panels.filter((p) => p.targets !== undefined).map((p) => [p.title, p] as const))(
    'panel %s',
    (_, panel) => {
      for (const target of panel.targets ?? []) {
        const names = metricNames(target.expr);
        expect(names.length, target.expr).toBeGreaterThan(0);
        for (const name of names) expect(served, name).toContain(name);
      }
    },
  );
});
