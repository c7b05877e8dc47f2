import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));

/** A gateway running as a real child process (`node packages/server/dist/cli.js serve`). */
export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every log line it wrote to stdout, parsed. */
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves with the first stderr line (seen or to come) that matches. */
  stderrLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Starts `agentcast serve` with `args` and resolves once it logged "gateway listening". */
export async function spawnGateway(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  if (!existsSync(CLI_PATH))
    throw new Error(`${CLI_PATH} is missing: run "npm run build" first (npm test does)`);
  const child = spawn(process.execPath, [CLI_PATH, 'serve', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const lines = new EventEmitter();
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line);
    lines.emit('line', line);
  });
  const stderrLine = (pattern: RegExp, timeoutMs = 5000): Promise<string> => {
    const seen = stderr.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no stderr line matched ${pattern} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onLine = (line: string): void => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        lines.off('line', onLine);
        resolve(line);
      };
      lines.on('line', onLine);
    });
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway did not start in 10 s; stderr: ${stderr.join('\n')}`)),
      10_000,
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        // The line that says where it listens: the only one with a port and the engine's kind.
        if (typeof entry.port === 'number' && typeof entry.engine === 'string') {
          clearTimeout(timer);
          resolve(entry.port as number);
        }
      } catch {
        stderr.push(line);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  return { child, port, logs, stderr, exited, stderrLine };
}
