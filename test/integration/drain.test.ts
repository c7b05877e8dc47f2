import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import { Client } from '../helpers/gateway-harness.js';
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
});
