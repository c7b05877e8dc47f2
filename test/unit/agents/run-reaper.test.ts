import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeLostEvent, RunReaper } from '../../../packages/server/src/agents/run-reaper.js';
import type { Engine } from '../../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { silentLogger } from '../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { captureLog } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';

const engines: Engine[] = [];
const reapers: RunReaper[] = [];
afterEach(async () => {
  for (const reaper of reapers.splice(0)) reaper.stop();
  await Promise.all(engines.splice(0).map((e) => e.close()));
  vi.useRealTimers();
});

function clocked() {
  let now = 1_000_000;
  const engine = new MemoryEngine({ now: () => now });
  engines.push(engine);
  return { engine, elapse: (ms: number) => (now += ms) };
}

describe('RunReaper', () => {
  it('ends each lapsed run with failed / NODE_LOST and its fixed message, at most batch per round', async () => {
    const { engine, elapse } = clocked();
    for (let i = 0; i < 5; i += 1) {
      await engine.startRun(`u${i}`, { runId: `r${i}`, agent: 'demo', node: 'gone', limit: 3, leaseMs: 100 });
    }
    await engine.startRun('live', { runId: 'live', agent: 'demo', node: 'here', limit: 3, leaseMs: 1_000 });
    elapse(100);
    const { log, lines } = captureLog('info');
    const metrics = new Metrics();
    const reaper = new RunReaper({ engine, intervalMs: 1_000, batch: 2, log, metrics });
    expect(await reaper.reap()).toBe(2);
    expect(await reaper.reap()).toBe(2);
    expect(await reaper.reap()).toBe(1);
    expect(await reaper.reap()).toBe(0);
    const history = await engine.history('u0', { since: 0, limit: 10 });
    expect(history.kind === 'ok' && history.events).toMatchObject([
      {
        type: 'agent_completed',
        run_id: 'r0',
        data: {
          status: 'failed',
          final_response: null,
          error: { code: 'NODE_LOST', message: 'the gateway node running the agent was lost' },
        },
      },
    ]);
    expect(nodeLostEvent('r0').data).toEqual(history.kind === 'ok' ? history.events[0]?.data : undefined);
    expect((await engine.activeRuns('live')).map((r) => r.runId)).toEqual(['live']);
    const reaped = lines.filter((l) => l.msg === 'run reaped: its node stopped renewing its lease');
    expect(reaped).toHaveLength(5);
    expect(await metricValue(metrics, 'agentcast_runs_lost_total', { reason: 'node_lost' })).toBe(5);
    expect(reaped[0]).toMatchObject({
      level: 40,
      run_id: 'r0',
      user_id: 'u0',
      node: 'gone',
      agent: 'demo',
    });
  });

  it('runs one round per jittered interval (50–150 %), and none once stopped', async () => {
    vi.useFakeTimers();
    const { engine } = clocked();
    const calls: number[] = [];
    const spy = vi.spyOn(engine, 'reapLapsedRuns').mockImplementation(async () => {
      calls.push(Date.now());
      return [];
    });
    let random = 0;
    const reaper = new RunReaper({
      engine,
      intervalMs: 1_000,
      batch: 10,
      log: silentLogger(),
      random: () => [0, 0.999, 0.5][random++ % 3] ?? 0,
    });
    reapers.push(reaper);
    const started = Date.now();
    reaper.start();
    await vi.advanceTimersByTimeAsync(500);
    await vi.advanceTimersByTimeAsync(1_499);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls.map((t) => t - started)).toEqual([500, 1_999, 2_999]);
    expect(spy).toHaveBeenCalledWith(10, nodeLostEvent);
    reaper.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(3);
  });

  it('skips rounds while the engine is unhealthy, says nothing of an outage, and reports any other failure', async () => {
    const { engine } = clocked();
    const { log, lines } = captureLog('debug');
    const reaper = new RunReaper({ engine, intervalMs: 1_000, batch: 10, log });
    const health = vi.spyOn(engine, 'health').mockReturnValue({ ok: false, reason: 'down' });
    const reap = vi.spyOn(engine, 'reapLapsedRuns');
    expect(await reaper.reap()).toBe(0);
    expect(reap).not.toHaveBeenCalled();
    health.mockRestore();
    reap.mockRejectedValueOnce(new EngineUnavailableError('redis is down', { nothingApplied: true }));
    expect(await reaper.reap()).toBe(0);
    expect(lines).toEqual([]);
    reap.mockRejectedValueOnce(new Error('a bug'));
    expect(await reaper.reap()).toBe(0);
    expect(lines.map((l) => l.msg)).toEqual(['run reaper failed']);
  });
});
