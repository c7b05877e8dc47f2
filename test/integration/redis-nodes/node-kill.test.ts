import { afterEach, describe, expect, it } from 'vitest';
import {
  Client,
  type Frame,
  type Harness,
  startGateway,
  TEST_API_KEY,
  TEST_SECRET,
} from '../../helpers/gateway-harness.js';
import { type GatewayProcess, spawnGateway } from '../../helpers/gateway-process.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../../helpers/redis-fixture.js';
import { engineReady } from './two-nodes.js';

// Issue #7: kill one gateway node (SIGKILL); its clients reconnect to the other node and resume with
// nothing lost. Node A is a child process (`node dist/cli.js serve --redis …`; `npm run build` first),
// node B runs in this process.
const available = await requireRedis(REDIS_URL, 'redis-nodes node-kill');

/** Resolves once the child logged `msg` (already or later); the timeout names what was awaited. */
function logged(gw: GatewayProcess, msg: string, timeoutMs = 5000): Promise<void> {
  const seen = () => gw.logs.some((entry) => entry.msg === msg);
  if (seen()) return Promise.resolve();
  const stdout = gw.child.stdout;
  if (stdout === null) return Promise.reject(new Error('the gateway child has no stdout'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stdout.off('data', onData);
      reject(new Error(`gateway child did not log "${msg}" in ${timeoutMs} ms`));
    }, timeoutMs);
    // spawnGateway's line reader listens first, so `logs` already holds the lines of this chunk.
    const onData = (): void => {
      if (!seen()) return;
      clearTimeout(timer);
      stdout.off('data', onData);
      resolve();
    };
    stdout.on('data', onData);
  });
}

const note = (user: string, n: number) => ({ user_id: user, type: 'notification', data: { n } });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(!available)('a gateway node killed with SIGKILL', () => {
  let prefix = '';
  let nodeA: GatewayProcess | undefined;
  let nodeB: Harness | undefined;
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    if (nodeA !== undefined && nodeA.child.exitCode === null && nodeA.child.signalCode === null) {
      nodeA.child.kill('SIGKILL');
      await nodeA.exited;
    }
    await nodeB?.close();
    nodeA = undefined;
    nodeB = undefined;
    await deleteKeys(REDIS_URL, `${prefix}*`);
  });

  async function startNodes(
    maxConnectionsPerUser: number,
    slotLeaseS = 30,
  ): Promise<{ a: GatewayProcess; b: Harness }> {
    prefix = uniquePrefix('node-kill');
    nodeA = await spawnGateway([
      ...['--port', '0', '--env', 'test', '--server-id', 'node-a', '--no-demo'],
      ...['--redis', REDIS_URL, '--redis-key-prefix', prefix],
      ...['--jwt-secret', TEST_SECRET, '--api-key', TEST_API_KEY],
      ...['--max-connections-per-user', String(maxConnectionsPerUser)],
      ...['--redis-slot-lease-s', String(slotLeaseS)],
    ]);
    nodeB = await startGateway({
      redis: REDIS_URL,
      redisKeyPrefix: prefix,
      serverId: 'node-b',
      maxConnectionsPerUser,
    });
    await Promise.all([logged(nodeA, 'redis connected'), engineReady(nodeB.gateway)]);
    return { a: nodeA, b: nodeB };
  }

  /** An authenticated connection to `port`, opened with `query`, once its welcome arrived. */
  async function connect(port: number, user: string, query = ''): Promise<Client> {
    const token = await (nodeB as Harness).token(user);
    const client = Client.open(`ws://127.0.0.1:${port}/ws${query}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    clients.push(client);
    await client.next('welcome');
    return client;
  }

  async function publishOnA(a: GatewayProcess, body: unknown): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${a.port}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.status;
  }

  /** Where a client stands: its last event's seq and epoch (what it sends to resume). */
  function position(events: readonly Frame[]): string {
    const last = events.at(-1);
    return `?since=${last?.seq}&epoch=${encodeURIComponent(String(last?.epoch))}`;
  }

  it('lets the clients of the killed node resume on the other node with nothing lost', async () => {
    const { a, b } = await startNodes(10);
    // alice: both connections on node A; bob: one on each node.
    const aliceOnA = [await connect(a.port, 'alice'), await connect(a.port, 'alice')];
    const bobOnA = await connect(a.port, 'bob');
    const bobOnB = await connect(b.port, 'bob');
    expect(aliceOnA[0]?.frames[0]?.data?.server_id).toBe('node-a');

    for (const n of range(1, 10)) {
      const body = { events: [note('alice', n), note('bob', n)] };
      expect(n % 2 === 0 ? await publishOnA(a, body) : (await b.publish(body)).status).toBe(202);
    }
    const before = new Map<Client, Frame[]>();
    for (const client of [...aliceOnA, bobOnA, bobOnB]) {
      const events = await client.events(10);
      expect(events.map((e) => e.seq)).toEqual(range(1, 10));
      before.set(client, events);
    }

    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    // No closing handshake from a killed process: the sockets just drop (1006).
    for (const client of [...aliceOnA, bobOnA]) expect(await client.closedWith()).toBe(1006);
    expect(bobOnB.closeCode).toBeUndefined();

    // Published while the clients of node A are away.
    for (const n of range(11, 30)) {
      expect((await b.publish({ events: [note('alice', n), note('bob', n)] })).status).toBe(202);
    }
    const resumed = await Promise.all(
      [...aliceOnA, bobOnA].map(async (old, i) => {
        const seen = before.get(old) ?? [];
        const client = await connect(b.port, i < 2 ? 'alice' : 'bob', position(seen));
        const epoch = seen[0]?.epoch;
        expect(client.frames[0]?.data).toMatchObject({ server_id: 'node-b', epoch, seq: 30, resume: 'ok' });
        return { client, epoch };
      }),
    );
    for (const n of range(31, 40)) {
      expect((await b.publish({ events: [note('alice', n), note('bob', n)] })).status).toBe(202);
    }
    for (const { client, epoch } of resumed) {
      const events = await client.events(30);
      expect(events.map((e) => [e.seq, e.data?.n, e.epoch])).toEqual(range(11, 40).map((n) => [n, n, epoch]));
    }
    const stayed = await bobOnB.events(40);
    expect(stayed.map((e) => e.seq)).toEqual(range(1, 40));
  });

  it('refuses with 4009, while the killed node’s slot leases last, a user who was at max_connections_per_user', async () => {
    // Slots are leases (--redis-slot-lease-s, 30 s by default): a crashed node cannot release its
    // connections' slots, so for up to one lease they still count against the user's limit across nodes.
    const { a, b } = await startNodes(2, 3);
    const killedAt = Date.now();
    await connect(a.port, 'carol');
    await connect(a.port, 'carol');
    a.child.kill('SIGKILL');
    await a.exited;

    const token = await b.token('carol');
    const refused = Client.open(b.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
    clients.push(refused);
    expect(await refused.closedWith()).toBe(4009);
    // A user below the limit is not affected.
    await connect(b.port, 'dave');
    // Once the lease has run out (renewed every second, so 2 to 3 s after the kill), carol gets in again.
    const welcomed = async (): Promise<boolean> => {
      const retry = Client.open(b.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
      clients.push(retry);
      return retry.next('welcome', 2000).then(
        () => true,
        () => false,
      );
    };
    await expect.poll(welcomed, { timeout: 8000, interval: 250 }).toBe(true);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2000);
  });
});
