import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import { Client } from '../helpers/gateway-harness.js';
import { logged } from '../helpers/gateway-nodes.js';
import { type GatewayProcess, spawnGateway } from '../helpers/gateway-process.js';

const SECRET = 'drain-test-secret-drain-test-secret!!';

describe('graceful drain on SIGTERM (docs/protocol.md §9)', () => {
  let gw: GatewayProcess | undefined;
  afterEach(() => {
    gw?.child.kill('SIGKILL');
  });

  it('ends running runs with agent_completed cancelled/SHUTDOWN, closes clients with 1012 and exits 0', async () => {
    gw = await spawnGateway([
      '--port',
      '0',
      '--env',
      'test',
      '--jwt-secret',
      SECRET,
      '--api-key',
      'drain-api-key-0123',
      '--demo-delay-ms',
      '2000',
      '--drain-timeout-ms',
      '200',
      '--drain-delay-ms',
      '0',
    ]);
    const token = await signToken(SECRET, 'u1', 600);
    const clients = [0, 1].map(() =>
      Client.open(`ws://127.0.0.1:${gw?.port}/ws`, { headers: { Authorization: `Bearer ${token}` } }),
    );
    await Promise.all(clients.map((c) => c.next('welcome')));
    const [first] = clients as [Client, Client];
    first.send({ type: 'user_message', id: 'm1', data: { text: 'what is 2+2?' } });
    const ack = await first.next('ack');
    await first.next('agent_started');
    gw.child.kill('SIGTERM');
    const completed = await first.next('agent_completed', 5000);
    expect(completed).toMatchObject({
      run_id: (ack.data as { run_id: string }).run_id,
      data: { status: 'cancelled', error: { code: 'SHUTDOWN' } },
    });
    expect(await Promise.all(clients.map((c) => c.closedWith()))).toEqual([1012, 1012]);
    expect(await gw.exited).toBe(0);
    // Nothing of the run after its terminal event.
    const runFrames = first.frames.filter((f) => f.run_id === completed.run_id);
    expect(runFrames.at(-1)?.type).toBe('agent_completed');
  });

  it('answers /readyz 503 while draining', async () => {
    gw = await spawnGateway([
      '--port',
      '0',
      '--env',
      'test',
      '--jwt-secret',
      SECRET,
      '--demo-delay-ms',
      '5000',
      '--drain-timeout-ms',
      '1500',
      '--drain-delay-ms',
      '0',
    ]);
    const token = await signToken(SECRET, 'u1', 600);
    const client = Client.open(`ws://127.0.0.1:${gw.port}/ws`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    await client.next('welcome');
    client.send({ type: 'user_message', id: 'm1', data: { text: 'hello' } });
    await client.next('agent_started');
    expect((await fetch(`http://127.0.0.1:${gw.port}/readyz`)).status).toBe(200);
    gw.child.kill('SIGTERM');
    // The run keeps the process draining for up to 1.5 s; readiness flips at once.
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++)
      status = (await fetch(`http://127.0.0.1:${gw.port}/readyz`)).status;
    expect(status).toBe(503);
    expect(await gw.exited).toBe(0);
  });

  it('with --drain-delay-ms answers /readyz 503 at once and keeps serving for the delay, then refuses, closes 1012 and exits 0', async () => {
    const DELAY_MS = 1200;
    gw = await spawnGateway([
      ...['--port', '0', '--env', 'test', '--jwt-secret', SECRET, '--api-key', API_KEY],
      ...['--demo-delay-ms', '3000', '--drain-timeout-ms', '1500', '--drain-delay-ms', String(DELAY_MS)],
    ]);
    const base = `http://127.0.0.1:${gw.port}`;
    const token = await signToken(SECRET, 'u1', 600);
    const open = () =>
      Client.open(`ws://127.0.0.1:${gw?.port}/ws`, { headers: { Authorization: `Bearer ${token}` } });
    const first = open();
    await first.next('welcome');
    const signalled = Date.now();
    gw.child.kill('SIGTERM');
    let ready = await fetch(`${base}/readyz`);
    for (let i = 0; i < 50 && ready.status === 200; i++) ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'draining' });
    // During the delay: a new connection is welcomed, a publish is stored and delivered to both.
    const second = open();
    await second.next('welcome');
    const published = await fetch(`${base}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: 'u1', type: 'note', data: { n: 1 } }),
    });
    expect(published.status).toBe(202);
    for (const client of [first, second]) expect(await client.next('note')).toMatchObject({ data: { n: 1 } });
    // A run keeps the drain going past the delay, so the refusal after it can be seen.
    second.send({ type: 'user_message', id: 'm1', data: { text: 'hello' } });
    await second.next('agent_started');
    await logged(gw, (entry) => entry.msg === 'draining', DELAY_MS + 5000);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(DELAY_MS);
    expect(await upgradeStatus(gw.port, token)).toBe(503);
    expect(await Promise.all([first, second].map((c) => c.closedWith(5000)))).toEqual([1012, 1012]);
    expect(await gw.exited).toBe(0);
    // Shutdown lines come in the order things happen, and "gateway closed" is the last line.
    const messages = gw.logs.map((entry) => entry.msg);
    const order = [
      'signal received; draining',
      'readiness off; serving until the drain delay ends',
      'draining',
      'run ended',
      'gateway closed',
    ].map((msg) => messages.indexOf(msg));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(messages.at(-1)).toBe('gateway closed');
    // Both connections' closing lines come after the run ended and before the gateway closed.
    const closing = messages.flatMap((msg, i) => (msg === 'closing connection' ? [i] : []));
    expect(closing).toHaveLength(2);
    for (const index of closing) {
      expect(index).toBeGreaterThan(messages.indexOf('run ended'));
      expect(index).toBeLessThan(messages.indexOf('gateway closed'));
    }
  });
});

const API_KEY = 'drain-api-key-0123';

/** The status of one WebSocket upgrade request (101 when accepted; the socket is then dropped). */
function upgradeStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/ws',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': 'agentcast.v1',
        Authorization: `Bearer ${token}`,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
