import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { REQUIRE_REDIS } from './redis-fixture.js';

/**
 * A redis-server child process of one test: on a free loopback port, with no persistence unless the
 * test asks for it (so a restart comes back empty). The shared Redis on 6379 is never started, stopped
 * or frozen here.
 */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Whether the process is up (started and not stopped). */
  readonly running: boolean;
  /** Kills the server with SIGKILL, like a crash: nothing is saved. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same options (empty, unless its args persist). */
  restart(): Promise<void>;
  /**
   * Freezes the process for `ms` (SIGSTOP, then SIGCONT) and resolves once it runs again: a hung
   * Redis, not a lost one. Connections stay open, commands wait in the socket and run on the thaw.
   */
  freeze(ms: number): Promise<void>;
}

export interface RedisServerOptions {
  /** More redis-server options, after the defaults (so a later `--appendonly yes` wins). */
  readonly args?: readonly string[];
  /** The port to listen on; a free one by default. A cluster node needs its bus port free too. */
  readonly port?: number;
}

/** Whether `command --version` runs here. */
async function runs(command: string): Promise<boolean> {
  const child = spawn(command, ['--version'], { stdio: 'ignore' });
  const [code] = await Promise.race([once(child, 'exit'), once(child, 'error').then(() => [1])]);
  return code === 0;
}

/**
 * Decides whether tests that start their own redis-server (and, with `cli`, use redis-cli) run: true
 * when the binaries are installed; otherwise false with a loud warning, or an error under
 * REQUIRE_REDIS=1 (CI), so a suite can never pass by silently skipping there.
 */
export async function requireRedisServer(what: string, options: { readonly cli?: boolean } = {}) {
  const needed = options.cli === true ? ['redis-server', 'redis-cli'] : ['redis-server'];
  const found = await Promise.all(needed.map(runs));
  if (found.every(Boolean)) return true;
  const message = `${what}: no ${needed.join(' / ')} binary to start a private Redis`;
  if (REQUIRE_REDIS) throw new Error(`${message} and REQUIRE_REDIS=1`);
  console.warn(`\n*** SKIPPING ${message}. ***\n`);
  return false;
}

/**
 * Starts a private redis-server (`--save "" --appendonly no`, then `options.args`) and resolves once it
 * has said it is ready and answered a PING.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server ${port} did not start:\n${output}`)),
        10_000,
      );
      started.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server ${port} exited with ${code}:\n${output}`));
      });
    });
    const ping = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await ping.connect();
      const answer = await ping.ping();
      if (answer !== 'PONG') throw new Error(`redis-server ${port} answered PING with ${answer}`);
    } finally {
      ping.disconnect();
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (running === undefined) return;
    child = undefined;
    if (running.exitCode === null && running.signalCode === null) {
      running.kill('SIGKILL');
      await once(running, 'exit');
    }
  }

  await start();
  return {
    port,
    url,
    get running() {
      return child !== undefined;
    },
    stop,
    async restart() {
      await stop();
      await start();
    },
    async freeze(ms) {
      const frozen = child;
      if (frozen === undefined) throw new Error(`redis-server ${port} is not running`);
      frozen.kill('SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        frozen.kill('SIGCONT');
      }
    },
  };
}
