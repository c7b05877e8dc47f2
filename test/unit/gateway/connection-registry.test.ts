import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Connection, ConnectionState } from '../../../packages/server/src/gateway/connection.js';
import { ConnectionRegistry } from '../../../packages/server/src/gateway/connection-registry.js';
import type { Logger } from '../../../packages/server/src/observability/logger.js';
import { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { captureLog, type LogLine } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';

/**
 * The registry's own logic, on a fake clock: which connections each sweep pings, drops or closes, and
 * how closeAll waits. Connections are stand-ins with the few members the registry touches; the sweeps
 * through real sockets are in test/integration/heartbeat.test.ts and auth.test.ts. Like a real
 * connection's, each stand-in's logger is bound to its conn_id, so its lines are found by that field.
 */
class StandIn {
  pingsUnanswered = 0;
  expiresAtMs = Number.POSITIVE_INFINITY;
  pings = 0;
  terminated = false;
  readonly closes: [number, string][] = [];
  constructor(
    public state: ConnectionState,
    readonly log: Logger,
  ) {}
  ping(): void {
    this.pings++;
    this.pingsUnanswered++;
  }
  close(code: number, reason: string): void {
    this.closes.push([code, reason]);
  }
  terminate(): void {
    this.terminated = true;
  }
  get conn(): Connection {
    return this as unknown as Connection;
  }
}

describe('ConnectionRegistry', () => {
  let now = 0;
  let lines: LogLine[];
  let capture: ReturnType<typeof captureLog>;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
    capture = captureLog();
    lines = capture.lines;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(heartbeatMs = 25_000) {
    const metrics = new Metrics();
    const registry = new ConnectionRegistry({ heartbeatMs, now: () => now, metrics });
    let connections = 0;
    const add = (state: ConnectionState = 'open') => {
      const c = new StandIn(state, capture.log.child({ conn_id: `c_${++connections}` }));
      registry.add(c.conn);
      return c;
    };
    return { registry, metrics, add };
  }

  it('counts connections opened and held', async () => {
    const { registry, metrics, add } = setup();
    const a = add();
    add();
    registry.delete(a.conn);
    registry.delete(a.conn); // twice is once
    expect(registry.size).toBe(1);
    expect(await metricValue(metrics, 'agentcast_connections_opened_total')).toBe(2);
    expect(await metricValue(metrics, 'agentcast_connections')).toBe(1);
  });

  it('pings open connections each heartbeat and drops one that answered none of the last two', () => {
    const { registry, add } = setup(100);
    const open = add('open');
    const joining = add('joining');
    registry.start();
    vi.advanceTimersByTime(100);
    expect([open.pings, joining.pings]).toEqual([1, 0]);
    vi.advanceTimersByTime(100);
    expect([open.pings, open.terminated]).toEqual([2, false]);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(100);
    expect([open.pings, open.terminated]).toEqual([2, true]);
    // The drop is logged once, at info, on the dropped connection's logger (c_1 is `open`).
    expect(lines).toEqual([expect.objectContaining({ level: 30, conn_id: 'c_1' })]);
  });

  it('closes an open connection with 4002 once its token expiry is reached, within a second', () => {
    const { registry, add } = setup();
    const expiring = add('open');
    const joining = add('joining');
    const fresh = add('open');
    expiring.expiresAtMs = now + 500;
    joining.expiresAtMs = now;
    fresh.expiresAtMs = now + 5000;
    registry.start();
    now += 500;
    vi.advanceTimersByTime(1000);
    expect(expiring.closes).toEqual([[CloseCode.TokenExpired, CloseReason.TokenExpired]]);
    expect([joining.closes, fresh.closes]).toEqual([[], []]);
  });

  it('sweeps expiry at the heartbeat when the heartbeat is shorter than a second', () => {
    const { registry, add } = setup(100);
    const expiring = add('open');
    expiring.expiresAtMs = now;
    registry.start();
    vi.advanceTimersByTime(100);
    expect(expiring.closes).toHaveLength(1);
  });

  it('stops both sweeps', () => {
    const { registry, add } = setup(100);
    const c = add('open');
    c.expiresAtMs = now;
    registry.start();
    registry.stop();
    vi.advanceTimersByTime(5000);
    expect([c.pings, c.closes]).toEqual([0, []]);
  });

  it('closeAll waits for the last connection to go, then ends without terminating anyone', async () => {
    const { registry, add } = setup();
    const [a, b] = [add(), add()];
    let done = false;
    const closing = registry.closeAll(CloseCode.ServiceRestart, CloseReason.Draining, 2000).then(() => {
      done = true;
    });
    expect([a.closes, b.closes]).toEqual([
      [[CloseCode.ServiceRestart, CloseReason.Draining]],
      [[CloseCode.ServiceRestart, CloseReason.Draining]],
    ]);
    registry.delete(a.conn);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    registry.delete(b.conn);
    await closing;
    expect([a.terminated, b.terminated]).toEqual([false, false]);
  });

  it('closeAll drops the peers that have not finished closing after the grace period', async () => {
    const { registry, add } = setup();
    const stuck = add();
    const closing = registry.closeAll(CloseCode.ServiceRestart, CloseReason.Draining, 2000);
    await vi.advanceTimersByTimeAsync(1999);
    expect(stuck.terminated).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(stuck.terminated).toBe(true);
  });
});
