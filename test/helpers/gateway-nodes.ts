import { afterAll, afterEach, beforeAll } from 'vitest';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import { Client, type Frame, TEST_API_KEY, TEST_SECRET } from './gateway-harness.js';
import { type GatewayProcess, spawnGateway } from './gateway-process.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Options of {@link useGatewayNodes}. */
export interface GatewayNodesOptions {
  /** `--redis-key-prefix` of every node. */
  readonly keyPrefix: string;
  /** Further `serve` flags every node gets (lease, limits, demo delay…). */
  readonly args?: readonly string[];
}

/** The gateway processes of one describe, on one redis-server of their own. */
export interface GatewayNodes {
  /**
   * Spawns `agentcast serve --server-id <name>` with the shared flags, then `args` (which win); resolves
   * once its Redis is up.
   */
  start(name: string, args?: readonly string[]): Promise<GatewayProcess>;
  /** A WebSocket client of `user` on `node` (`query` added to its URL), past its welcome; terminated after the test. */
  connect(node: GatewayProcess, user: string, query?: string): Promise<Client>;
  /** SIGKILLs `node` (waking it first if it was SIGSTOPped) and waits for its exit. */
  kill(node: GatewayProcess): Promise<void>;
  /** The redis-server's URL (inside a test). */
  redisUrl(): string;
}

/**
 * Registers hooks that start a private `redis-server` for the enclosing describe (stopped after it),
 * and after each test terminate its clients and SIGKILL every node still running (SIGCONT first, so a
 * SIGSTOPped one dies too). Nodes are real gateway processes (`node dist/cli.js serve`; `npm run build`
 * first) with `--port 0 --env test --no-demo`, the test JWT secret and API key, the Redis and prefix.
 */
export function useGatewayNodes(options: GatewayNodesOptions): GatewayNodes {
  let redis: RedisServer | undefined;
  const nodes: GatewayProcess[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await Promise.all(nodes.splice(0).map(kill));
  });

  async function kill(node: GatewayProcess): Promise<void> {
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill('SIGCONT');
      node.child.kill('SIGKILL');
    }
    await node.exited;
  }

  const redisUrl = (): string => {
    if (redis === undefined) throw new Error('useGatewayNodes: no redis-server outside a test');
    return redis.url;
  };

  return {
    redisUrl,
    kill,
    async start(name, args = []) {
      const node = await spawnGateway([
        ...['--port', '0', '--env', 'test', '--server-id', name, '--no-demo'],
        ...['--redis', redisUrl(), '--redis-key-prefix', options.keyPrefix],
        ...['--jwt-secret', TEST_SECRET, '--api-key', TEST_API_KEY],
        ...(options.args ?? []),
        ...args,
      ]);
      nodes.push(node);
      await logged(node, (entry) => entry.msg === 'redis connected');
      return node;
    },
    async connect(node, user, query = '') {
      const token = await signToken(TEST_SECRET, user, 3600);
      const client = Client.open(`ws://127.0.0.1:${node.port}/ws${query}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      clients.push(client);
      await client.next('welcome');
      return client;
    },
  };
}

/** Resolves once the child logged a line `match` accepts; rejects after `timeoutMs`. */
export async function logged(
  node: GatewayProcess,
  match: (entry: Record<string, unknown>) => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!node.logs.some(match)) {
    if (Date.now() > deadline) throw new Error(`gateway did not log the awaited line in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The terminal of a run whose node was lost (docs/protocol.md, run error codes). */
export const NODE_LOST = {
  status: 'failed',
  final_response: null,
  error: { code: 'NODE_LOST', message: 'the gateway node running the agent was lost' },
} as const;

/** Starts a run on `client`'s node and resolves once its agent_started arrived; returns its id. */
export async function startRun(client: Client, id: string): Promise<string> {
  client.send({ type: 'user_message', id, data: { text: 'What is 17 * 23?' } });
  const ack = await client.next('ack', 10_000);
  const runId = (ack.data as { run_id: string }).run_id;
  for (;;) {
    const frame = await client.next(undefined, 10_000);
    if (frame.type === 'agent_started' && frame.run_id === runId) return runId;
  }
}

/** The next agent_completed of `runId` that `client` receives. */
export async function terminalOf(client: Client, runId: string, timeoutMs = 10_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = await client.next(undefined, Math.max(1, deadline - Date.now()));
    if (frame.type === 'agent_completed' && frame.run_id === runId) return frame;
  }
}

/** The user's stored history, read on `node` with the API key. */
export async function history(node: GatewayProcess, user: string): Promise<Frame[]> {
  const res = await fetch(`http://127.0.0.1:${node.port}/v1/users/${encodeURIComponent(user)}/history`, {
    headers: { Authorization: `Bearer ${TEST_API_KEY}` },
  });
  if (res.status !== 200) throw new Error(`history of ${user} answered ${res.status}`);
  return ((await res.json()) as { events: Frame[] }).events;
}
