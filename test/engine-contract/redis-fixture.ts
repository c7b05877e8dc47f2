import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from '../helpers/free-port.js';

/** The shared Redis of the test run (TESTING.md). Never stopped by tests. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** CI sets REQUIRE_REDIS=1: there a missing Redis fails the run instead of skipping. */
export const REQUIRE_REDIS = process.env.REQUIRE_REDIS === '1';

/** A key prefix no other test run or test file shares. */
export function uniquePrefix(label: string): string {
  return `actest:${label}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

function probe(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
}

/** Whether a Redis answers PING at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = probe(url);
  redis.on('error', () => undefined); // the answer is the return value
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Decides whether Redis tests run: true when Redis answers; otherwise false with a loud warning, or an
 * error under REQUIRE_REDIS=1 (CI), so the suite can never pass by silently skipping there.
 */
export async function requireRedis(url: string, what: string): Promise<boolean> {
  if (await redisAnswers(url)) return true;
  const message = `${what}: no Redis answers at ${url}`;
  if (REQUIRE_REDIS) throw new Error(`${message} and REQUIRE_REDIS=1`);
  console.warn(
    `\n*** SKIPPING ${message}. Start redis-server or set REDIS_URL; CI sets REQUIRE_REDIS=1. ***\n`,
  );
  return false;
}

/** Deletes every key matching `pattern` (a test's prefix). */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server child process of this test only, on a free port, with no persistence (so a restart
 * comes back empty). The shared Redis on 6379 is never stopped.
 */
export class PrivateRedis {
  readonly port: number;
  readonly #extraArgs: readonly string[];
  #child: ChildProcess | undefined;

  private constructor(port: number, extraArgs: readonly string[]) {
    this.port = port;
    this.#extraArgs = extraArgs;
  }

  /** Whether a redis-server binary can be started here. */
  static async available(): Promise<boolean> {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    const [code] = await Promise.race([once(child, 'exit'), once(child, 'error').then(() => [1])]);
    return code === 0;
  }

  /** `extraArgs` are more redis-server options, e.g. `['--enable-debug-command', 'yes']`. */
  static async start(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), extraArgs);
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts (or restarts, empty) the server; resolves when it accepts connections. */
  async start(): Promise<void> {
    const args = [
      ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...this.#extraArgs,
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
    });
  }

  /** Kills the server (SIGKILL: like a crash, nothing is saved). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}
