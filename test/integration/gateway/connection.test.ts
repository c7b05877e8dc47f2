import { afterEach, describe, expect, it } from 'vitest';
import type { Metrics } from '../../../packages/server/src/observability/metrics.js';
import { AgentcastError, AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { ErrorCode } from '../../../packages/server/src/protocol/error-codes.js';
import { gate } from '../../helpers/deferred.js';
import { DelegatingEngine } from '../../helpers/delegating-engine.js';
import { Client, type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { captureLog } from '../../helpers/log-capture.js';
import { metricValue } from '../../helpers/metric-value.js';
import { eventsOf, eventWithSeq } from '../../property/support/frame-wait.js';

/**
 * Connection (docs/protocol.md §2–§5) as an operator sees it: what it logs and counts, and the joins that go
 * wrong at their very end. The close paths themselves are in test/integration/close-codes.test.ts.
 * A connection's lines carry its conn_id (and user_id once known); the close is the line with a
 * close_code.
 */

describe('Connection', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('logs each close with its connection, user, code and reason, and counts it by code', async () => {
    const { log, lines } = captureLog();
    h = await startGateway({}, { log });
    const client = await h.connect('u1');
    const connectionId = client.frames[0]?.data?.connection_id;
    expect(h.gateway.disconnectUser('u1')).toBe(1);
    expect(await client.closure()).toEqual({
      code: CloseCode.ServiceRestart,
      reason: CloseReason.Disconnected,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 30,
        conn_id: connectionId,
        user_id: 'u1',
        close_code: CloseCode.ServiceRestart,
        reason: CloseReason.Disconnected,
      }),
    );
    await expect
      .poll(() => metricValue(h!.gateway.metrics, 'agentcast_connections_closed_total', { code: '1012' }))
      .toBe(1);
  });

  it('counts the replayed events it delivers', async () => {
    h = await startGateway();
    for (let i = 0; i < 3; i++) await h.gateway.publish('u1', { type: 'notification', data: { i } });
    const client = await h.connect('u1', { query: '?since=0' });
    await eventWithSeq(client, 3, 'the replay');
    expect(await metricValue(h.gateway.metrics, 'agentcast_events_delivered_total')).toBe(3);
  });

  it('counts a refresh token for another user as an auth failure of reason sub_mismatch', async () => {
    h = await startGateway();
    const client = await h.connect('u1');
    client.send({ type: 'auth', token: await h.token('u2') });
    expect(await client.closure()).toEqual({
      code: CloseCode.Unauthorized,
      reason: CloseReason.RefreshOtherUser,
    });
    expect(
      await metricValue(h.gateway.metrics, 'agentcast_auth_failures_total', { reason: 'sub_mismatch' }),
    ).toBe(1);
  });

  it('logs what the WebSocket library reports, at debug, without the frame', async () => {
    const { log, lines } = captureLog();
    h = await startGateway({ maxPayload: 256 }, { log });
    const client = await h.connect('u1');
    client.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(300) }));
    expect(await client.closedWith()).toBe(CloseCode.FrameTooLarge);
    // The line that carries what ws said (a string err naming the limit it enforced).
    const line = lines.find((l) => typeof l.err === 'string' && /max payload/i.test(l.err));
    expect(line).toMatchObject({ level: 20, user_id: 'u1', err: expect.stringMatching(/max payload/i) });
    expect(JSON.stringify(line)).not.toContain('xxxx');
  });

  it('logs an engine outage during a join at debug, and an unexpected join failure at error', async () => {
    const { log, lines } = captureLog();
    const engine = new DelegatingEngine();
    h = await startGateway({}, { engine, log });
    const mend = engine.fail('history', new Error('disk on fire'));
    const refused = h.open(await h.token('u1'), '?since=0');
    expect(await refused.closure()).toEqual({ code: CloseCode.InternalError, reason: CloseReason.Internal });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        user_id: 'u1',
        err: expect.objectContaining({ message: 'disk on fire' }),
      }),
    );
    mend();
    engine.fail('history', new AgentcastError(AgentcastErrorCode.EngineUnavailable, 'down'));
    const outage = h.open(await h.token('u2'), '?since=0');
    expect(await outage.closure()).toEqual({
      code: CloseCode.InternalError,
      reason: CloseReason.EngineUnavailable,
    });
    // Only a debug line (no err: the engine logs its outage once itself), then the close, then the
    // socket's debug `connection closed` line (docs/deploy.md, "Logs").
    await expect.poll(() => lines.filter((l) => l.user_id === 'u2').length).toBe(3);
    expect(
      lines.filter((l) => l.user_id === 'u2').map((l) => [l.level, l.err, l.close_code, l.reason]),
    ).toEqual([
      [20, undefined, undefined, undefined],
      [30, undefined, CloseCode.InternalError, CloseReason.EngineUnavailable],
      [20, undefined, CloseCode.InternalError, undefined],
    ]);
  });

  it('closes with 1011 when the replay cannot be joined to the live stream, and the resume fills the gap', async () => {
    const { log, lines } = captureLog();
    const engine = new DelegatingEngine();
    h = await startGateway({}, { engine, log });
    const stale = gate();
    const fresh = engine.hold('history', stale, { after: true });
    engine.lostLive.add(1);
    const client = h.open(await h.token('u1'), '?since=0');
    await stale.wasReached;
    // History was read empty; live event 1 is lost, so the replay ends at 0 with 2 buffered: a gap.
    await h.gateway.publish('u1', { type: 'notification', data: { n: 1 } });
    await h.gateway.publish('u1', { type: 'notification', data: { n: 2 } });
    stale.open();
    expect(await client.closure()).toEqual({
      code: CloseCode.InternalError,
      reason: CloseReason.ReplayIncomplete,
    });
    expect(eventsOf(client)).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        outcome: 'gap',
        user_id: 'u1',
      }),
    );
    fresh();
    const epoch = String(client.frames[0]?.data?.epoch ?? (await engine.head('u1')).epoch);
    const resumed = await h.connect('u1', { query: `?since=0&epoch=${epoch}` });
    await eventWithSeq(resumed, 2, 'the resumed replay');
    expect(eventsOf(resumed).map((f) => f.seq)).toEqual([1, 2]);
  });

  it('gives back a connection slot taken after the client had already gone', async () => {
    const engine = new DelegatingEngine();
    h = await startGateway({ maxConnectionsPerUser: 1 }, { engine });
    const slot = gate();
    const unheld = engine.hold('acquireConnectionSlot', slot);
    const gone = h.open(await h.token('u1'));
    await slot.wasReached;
    gone.ws.terminate();
    // The gateway has seen the close (the slot request is still pending).
    await expect.poll(() => h?.gateway.stats().connections).toBe(0);
    expect(engine.calls.releaseConnectionSlot).toBe(0);
    unheld();
    slot.open();
    await expect.poll(() => engine.calls.releaseConnectionSlot).toBe(1);
    const next = await h.connect('u1');
    expect(next.frames[0]).toMatchObject({ type: 'welcome' });
  });

  it('logs an unauthenticated close without a user, and gives back no slot it never took', async () => {
    const { log, lines } = captureLog();
    const engine = new DelegatingEngine();
    h = await startGateway({ authTimeoutMs: 50 }, { engine, log });
    const anonymous = Client.open(h.wsUrl);
    expect(await anonymous.closure()).toEqual({
      code: CloseCode.AuthTimeout,
      reason: CloseReason.AuthTimeout,
    });
    const closing = lines.find((l) => l.close_code !== undefined);
    expect(closing).toMatchObject({
      conn_id: expect.stringMatching(/^c_/),
      close_code: CloseCode.AuthTimeout,
    });
    expect(closing).not.toHaveProperty('user_id');
    await expect.poll(() => h?.gateway.stats().connections).toBe(0);
    expect([engine.calls.releaseConnectionSlot, h.gateway.stats().users]).toEqual([0, 0]);
  });

  it('resumes from an auth frame that carries only since: 0, which needs no epoch', async () => {
    h = await startGateway();
    for (let i = 0; i < 2; i++) await h.gateway.publish('u1', { type: 'notification', data: { i } });
    const client = Client.open(h.wsUrl);
    await client.opened();
    client.send({ type: 'auth', token: await h.token('u1'), since: 0 });
    expect(await client.next('welcome')).toMatchObject({ data: { resume: 'ok', seq: 2 } });
    await eventWithSeq(client, 2, 'the replay after since=0');
    expect(eventsOf(client).map((f) => f.seq)).toEqual([1, 2]);
  });

  it('counts error frames by code, and says why a binary frame is refused', async () => {
    h = await startGateway();
    const client = await h.connect('u1');
    client.ws.send(Buffer.from('{"type":"ping","id":1}'));
    expect(await client.next('error')).toMatchObject({
      data: {
        code: ErrorCode.InvalidMessage,
        message: 'binary frames are not accepted; send JSON text frames',
      },
    });
    client.send('not json');
    await client.next('error');
    const errors = (code: string) =>
      metricValue(h?.gateway.metrics as Metrics, 'agentcast_frame_errors_total', { code });
    expect([await errors(ErrorCode.InvalidMessage), await errors(ErrorCode.InvalidJson)]).toEqual([1, 1]);
  });

  it('closes once, however often it is asked to', async () => {
    const { log, lines } = captureLog();
    h = await startGateway({}, { log });
    const client = await h.connect('u1');
    h.gateway.disconnectUser('u1');
    h.gateway.disconnectUser('u1', CloseCode.Normal, 'second');
    expect(await client.closure()).toEqual({
      code: CloseCode.ServiceRestart,
      reason: CloseReason.Disconnected,
    });
    expect(lines.filter((l) => l.close_code !== undefined)).toHaveLength(1);
  });

  it("judges token expiry by the gateway's clock: a token it deems expired closes with 4002 on connect", async () => {
    const hourAhead = () => Date.now() + 3_600_000;
    h = await startGateway({}, { now: hourAhead });
    const client = h.open(await h.token('u1', 60));
    expect(await client.closure()).toEqual({
      code: CloseCode.TokenExpired,
      reason: CloseReason.TokenExpired,
    });
    expect(client.frames).toEqual([]);
  });
});
