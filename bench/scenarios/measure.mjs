import { sleep } from '../lib/clock.mjs';
import { latencySummary, mergedHistogram, snapshot } from '../lib/load.mjs';
import { cpuMeter, cpuWaitMeter, loadAverage } from '../lib/proc-stats.mjs';
import { API_KEY } from '../lib/servers.mjs';

/** Waits (bounded) until the receivers stop receiving, and returns the last snapshot. */
async function settle(clients, maxMs = 5000) {
  let last = await snapshot(clients);
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    await sleep(300);
    const now = await snapshot(clients);
    if (now.received === last.received) return now;
    last = now;
  }
  return last;
}

/**
 * Fan-out throughput: the publisher posts batches back to back to `publishTo` for warmup + measure; events
 * delivered per second are counted at the receivers over the measure window only, with the CPU used by every
 * server process in that window.
 */
export async function measureFanout({
  publisher,
  clients,
  publishTo,
  servers,
  users,
  warmupMs,
  measureMs,
  progress,
}) {
  const running = publisher.call(
    'run',
    {
      base: publishTo.base,
      apiKey: API_KEY,
      users,
      mode: 'max',
      durationMs: warmupMs + measureMs + 300,
      batchSize: 100,
      concurrency: 4,
      protocol: publishTo.publishProtocol,
    },
    warmupMs + measureMs + 60_000,
  );
  await progress.wait(warmupMs, 'warm-up');
  const meters = servers.map((s) => cpuMeter(s.pid));
  const loadMeters = [publisher, ...clients].map((p) => cpuMeter(p.pid));
  const load = loadAverage();
  const before = await snapshot(clients);
  for (const m of [...meters, ...loadMeters]) m.start();
  await progress.wait(measureMs, 'measuring', async () => {
    const now = await snapshot(clients);
    return `${Math.round((now.received - before.received) / ((now.at - before.at) / 1e6)).toLocaleString('en-US')} ev/s`;
  });
  const after = await snapshot(clients);
  const cpu = meters.map((m) => m.stop());
  const loadCpu = loadMeters.map((m) => round(m.stop().cores, 3));
  const published = await running;
  const final = await settle(clients);
  const seconds = (after.at - before.at) / 1e6;
  const delivered = after.received - before.received;
  const cpuCores = cpu.reduce((sum, c) => sum + c.cores, 0);
  return {
    delivered_per_s: Math.round(delivered / seconds),
    server_cpu_cores: round(cpuCores, 3),
    load_cpu_cores: { publisher: loadCpu[0], receivers: loadCpu.slice(1) },
    delivered_per_cpu_s: Math.round(delivered / seconds / cpuCores),
    accepted_per_s: Math.round(published.accepted / published.seconds),
    published_total: published.accepted,
    delivered_total: final.received,
    publish_failures: published.failedRequests,
    publish_statuses: published.statuses,
    connections_open_at_end: final.open,
    closes: final.closes,
    load_average: load,
    window_s: round(seconds, 2),
  };
}

/**
 * Latency at a fixed publish rate: after the warm-up the receivers' histograms are reset, so only the
 * measure window is reported. Publish -> receive, same host clock.
 */
export async function measureLatency({
  publisher,
  clients,
  publishTo,
  servers,
  users,
  rate,
  warmupMs,
  measureMs,
  progress,
}) {
  const running = publisher.call(
    'run',
    {
      base: publishTo.base,
      apiKey: API_KEY,
      users,
      mode: 'rate',
      rate,
      durationMs: warmupMs + measureMs,
      tickMs: 5,
      protocol: publishTo.publishProtocol,
    },
    warmupMs + measureMs + 60_000,
  );
  await progress.wait(warmupMs, 'warm-up');
  await Promise.all(clients.map((c) => c.call('resetHistogram')));
  const meters = servers.map((s) => cpuMeter(s.pid));
  // Time the event loops were ready but had no CPU: the servers', and the load's (publisher, receivers).
  const serverWaits = servers.map((s) => cpuWaitMeter(s.pid));
  const loadWaits = [publisher, ...clients].map((p) => cpuWaitMeter(p.pid));
  const load = loadAverage();
  for (const m of [...meters, ...serverWaits, ...loadWaits]) m.start();
  await progress.wait(measureMs, `measuring at ${rate.toLocaleString('en-US')} ev/s`);
  const cpu = meters.map((m) => m.stop());
  const serverWait = Math.max(...serverWaits.map((m) => m.stop()));
  const loadWait = Math.max(...loadWaits.map((m) => m.stop()));
  const published = await running;
  const final = await settle(clients, 3000);
  const summary = latencySummary(await mergedHistogram(clients));
  return {
    rate,
    ...summary,
    server_cpu_cores: round(
      cpu.reduce((sum, c) => sum + c.cores, 0),
      3,
    ),
    // Share of the window (0..1) the busiest server's / load process's event loop waited for a CPU.
    server_cpu_wait: round(serverWait, 3),
    load_cpu_wait: round(loadWait, 3),
    published_total: published.accepted,
    achieved_publish_rate: Math.round(published.sent / published.seconds),
    delivered_total: final.received,
    publish_failures: published.failedRequests,
    connections_open_at_end: final.open,
    closes: final.closes,
    load_average: load,
  };
}

export function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
