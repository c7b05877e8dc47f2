import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Redis Cluster puts each node's bus on its port + 10000. */
const BUS_OFFSET = 10_000;

/** Whether `port` can be bound on loopback right now. */
async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  const outcome = await Promise.race([
    once(server, 'listening').then(() => true),
    once(server, 'error').then(() => false),
  ]);
  if (outcome) {
    server.close();
    await once(server, 'close');
  }
  return outcome;
}

/** A free loopback port whose cluster bus port (port + 10000) is free too; at most 20 tries. */
async function freeClusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await freePort();
    if (port + BUS_OFFSET > 65_535 || taken.has(port)) continue;
    if (await bindable(port + BUS_OFFSET)) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node in 20 tries');
}

/** Runs a program to its end; resolves with its exit code and output. */
async function run(command: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, output };
}

/**
 * A Redis Cluster of this test only: `masters` cluster-enabled redis-servers (test/helpers/redis-server.ts)
 * on free loopback ports, in a temporary directory, joined by `redis-cli --cluster create …
 * --cluster-replicas 0`, no persistence. `stop()` kills every node and removes the directory. Whether it
 * can run here: `requireRedisServer(what, { cli: true })`.
 */
export class RedisCluster {
  readonly ports: readonly number[];
  readonly #nodes: RedisServer[];
  readonly #dir: string;

  private constructor(ports: readonly number[], nodes: RedisServer[], dir: string) {
    this.ports = ports;
    this.#nodes = nodes;
    this.#dir = dir;
  }

  /** Starts the nodes and creates the cluster; resolves when every node reports cluster_state:ok. */
  static async start(masters = 3): Promise<RedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'agentcast-cluster-'));
    const ports: number[] = [];
    for (let i = 0; i < masters; i += 1) ports.push(await freeClusterPort(new Set(ports)));
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(ports, nodes, dir);
    try {
      for (const port of ports) {
        const args = [
          ...['--dir', dir, '--cluster-enabled', 'yes'],
          ...['--cluster-config-file', join(dir, `nodes-${port}.conf`)],
        ];
        nodes.push(await startRedisServer({ port, args }));
      }
      const created = await run('redis-cli', [
        ...['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`)],
        ...['--cluster-replicas', '0', '--cluster-yes'],
      ]);
      if (created.code !== 0 || !created.output.includes('All 16384 slots covered')) {
        throw new Error(`redis-cli --cluster create failed (${created.code}):\n${created.output}`);
      }
      await cluster.#converged();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `redis://127.0.0.1:<port>` of each master. */
  get urls(): string[] {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`);
  }

  /** Kills every node (SIGKILL) and removes the temporary directory. Idempotent. */
  async stop(): Promise<void> {
    for (const node of this.#nodes.splice(0)) await node.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }

  /**
   * Waits until every node says cluster_state:ok. Nodes learn the final configuration by gossip, with no
   * event a client can await, so this polls: every 50 ms, for at most 10 s.
   */
  async #converged(): Promise<void> {
    const deadline = Date.now() + 10_000;
    const clients = this.ports.map((port) => new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    try {
      for (;;) {
        const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO')));
        if (infos.every((info) => String(info).includes('cluster_state:ok'))) return;
        if (Date.now() > deadline) throw new Error(`cluster did not converge in 10 s:\n${infos.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
  }
}
