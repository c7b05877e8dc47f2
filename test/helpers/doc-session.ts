import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ShellCommand } from './doc-blocks.js';

/**
 * Runs the shell commands of the docs' blocks (parsed by doc-blocks.ts) the way a reader would: as real
 * processes, in the repository, on loopback. What it changes, and only that: every port a server is told
 * (`--port N`, or the default 8080 through AGENTCAST_PORT) becomes 0, so the system picks a free one, and
 * every `http://127.0.0.1:N` URL of a later command becomes the port the server on N really got; the
 * inherited environment loses its AGENTCAST_* variables (the commands say what they set). Servers are
 * awaited on the line they print when listening, never on a timer, and {@link DocSession.close} stops
 * every process the session started.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** What `npx agentcast` runs in this repository: the server package's bin, linked by npm. */
export const AGENTCAST_BIN = join(ROOT, 'node_modules/.bin/agentcast');
const SERVER_DIST = join(ROOT, 'packages/server/dist/cli.js');
/** The default ports of the servers the docs start: the gateway's --port, the Python example's. */
const DEFAULT_PORT = { gateway: 8080, python: 8787 } as const;
const SERVER_READY_MS = 15_000;
const COMMAND_MS = 20_000;
const STOP_MS = 5_000;

/** Lines a process writes, kept, with a way to await one. */
export class Lines {
  readonly all: string[] = [];
  readonly #events = new EventEmitter();

  constructor(stream: NodeJS.ReadableStream) {
    createInterface({ input: stream }).on('line', (line) => {
      this.all.push(line);
      this.#events.emit('line', line);
    });
  }

  /** Resolves with the first line (written or to come) that matches; rejects after `timeoutMs`. */
  wait(
    pattern: RegExp,
    timeoutMs: number,
    what: string,
    exited?: Promise<unknown>,
  ): Promise<RegExpExecArray> {
    for (const line of this.all) {
      const m = pattern.exec(line);
      if (m !== null) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#events.off('line', onLine);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: no line matched ${pattern} in ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string): void => {
        const m = pattern.exec(line);
        if (m === null) return;
        done();
        resolve(m);
      };
      this.#events.on('line', onLine);
      void exited?.then((code) => {
        done();
        reject(new Error(`${what} exited (${String(code)}) before printing a line matching ${pattern}`));
      });
    });
  }

  get text(): string {
    return this.all.join('\n');
  }
}

/** A long-running process a command started (`agentcast serve`, `python3 … serve`), listening. */
export interface DocServer {
  readonly kind: 'gateway' | 'python';
  readonly command: ShellCommand;
  readonly child: ChildProcess;
  /** The port the docs gave it, and the one it got. */
  readonly docPort: number;
  readonly port: number;
  readonly stdout: Lines;
  readonly stderr: Lines;
}

/** A command that ran to its end. */
export interface DocExit {
  readonly command: ShellCommand;
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** What running a command did: started a server, ran to its end, or only set or checked something. */
export type DocOutcome =
  | { readonly kind: 'server'; readonly server: DocServer }
  | { readonly kind: 'exit'; readonly exit: DocExit }
  | { readonly kind: 'setup'; readonly command: ShellCommand; readonly note: string };

/** The command as it reads in the doc, for messages. */
export function show(command: ShellCommand): string {
  const env = Object.entries(command.env).map(([k, v]) => `${k}=${v}`);
  return [...env, ...command.words].join(' ');
}

export class DocSession {
  readonly #label: string;
  readonly #env: Record<string, string>;
  readonly #rewrites: readonly (readonly [string, string])[];
  readonly #ports = new Map<number, number>();
  readonly #children = new Set<ChildProcess>();
  readonly servers: DocServer[] = [];

  /**
   * @param env variables the test adds to every process (e.g. a Redis key prefix of its own)
   * @param rewrites literal replacements in every word (e.g. the doc's Redis URL by the test's)
   */
  constructor(label: string, options: { env?: Record<string, string>; rewrites?: [string, string][] } = {}) {
    this.#label = label;
    this.#env = { ...options.env };
    this.#rewrites = options.rewrites ?? [];
  }

  /** The real port of the server the docs started on `docPort`. */
  port(docPort: number): number {
    const port = this.#ports.get(docPort);
    if (port === undefined)
      throw new Error(`${this.#label}: no server of the docs listens on ${docPort} yet`);
    return port;
  }

  /** Text with its loopback URLs pointed at the servers' real ports (for a snippet that is not shell). */
  substitute(text: string): string {
    let out = text;
    for (const [from, to] of this.#rewrites) out = out.split(from).join(to);
    return out.replace(
      /\b((?:https?|wss?):\/\/(?:127\.0\.0\.1|localhost)):(\d+)/g,
      (_, base: string, port: string) => `${base}:${this.port(Number(port))}`,
    );
  }

  /**
   * Runs commands in order, as a reader types them: a foreground command to its end, a server until it
   * listens. Background commands (`&`) start together and are awaited before the next foreground one.
   */
  async runAll(commands: readonly ShellCommand[]): Promise<DocOutcome[]> {
    const outcomes: DocOutcome[] = [];
    let pending: Promise<DocOutcome>[] = [];
    for (const command of commands) {
      if (command.background) {
        pending.push(this.run(command));
        continue;
      }
      outcomes.push(...(await Promise.all(pending)));
      pending = [];
      outcomes.push(await this.run(command));
    }
    outcomes.push(...(await Promise.all(pending)));
    return outcomes;
  }

  /** Runs one command; throws for a command it has no way to run (teach it here, or excuse the block). */
  async run(command: ShellCommand): Promise<DocOutcome> {
    const [program, ...args] = command.words;
    const words = command.words.join(' ');
    if (program === 'export') {
      for (const [k, v] of Object.entries(command.env)) this.#env[k] = this.substitute(v);
      return { kind: 'setup', command, note: 'exported' };
    }
    if (words === 'npm ci') {
      // Not run: it deletes and reinstalls node_modules under the tests running beside this one.
      if (!existsSync(join(ROOT, 'node_modules/.package-lock.json')))
        throw new Error('node_modules is missing: run `npm ci` first');
      return { kind: 'setup', command, note: 'node_modules installed (npm ci ran before the tests)' };
    }
    if (words === 'npm run build') {
      // Not run: `npm test` builds before the tests, and rebuilding would rewrite dist/ under the others.
      requireBuild();
      return { kind: 'setup', command, note: 'dist/ built (npm test builds first)' };
    }
    if (words === 'npm start') return this.#npmStart(command);
    if ((program === 'npx' && args[0] === 'agentcast') || program === 'agentcast') {
      const rest = program === 'npx' ? args.slice(1) : args;
      requireBin();
      if (rest[0] === 'serve') return this.#serve(command, 'gateway', AGENTCAST_BIN, rest);
      return { kind: 'exit', exit: await this.#runToEnd(command, AGENTCAST_BIN, rest) };
    }
    if (program === 'python3' && args[0] === 'examples/python_backend.py') {
      if (args[1] === 'serve') return this.#serve(command, 'python', 'python3', args);
      return { kind: 'exit', exit: await this.#runToEnd(command, 'python3', args) };
    }
    if (program === 'curl') return { kind: 'exit', exit: await this.#runToEnd(command, 'curl', args) };
    throw new Error(`${this.#label}: no way to run "${show(command)}"; teach DocSession or excuse the block`);
  }

  /** Stops every process the session started: SIGTERM (a gateway drains), SIGKILL after 5 s. */
  async close(): Promise<void> {
    await Promise.all([...this.#children].map((child) => stop(child)));
  }

  #childEnv(command: ShellCommand, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const inherited = Object.entries(process.env).filter(([k]) => !k.startsWith('AGENTCAST_'));
    const own = Object.fromEntries(Object.entries(command.env).map(([k, v]) => [k, this.substitute(v)]));
    return { ...Object.fromEntries(inherited), ...this.#env, ...own, ...extra };
  }

  #spawn(program: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(program, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  async #runToEnd(command: ShellCommand, program: string, rawArgs: readonly string[]): Promise<DocExit> {
    const args = rawArgs.map((a) => this.substitute(a));
    const child = this.#spawn(program, args, this.#childEnv(command));
    const stdout = new Lines(child.stdout as NodeJS.ReadableStream);
    const stderr = new Lines(child.stderr as NodeJS.ReadableStream);
    const code = await new Promise<number | string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${this.#label}: "${show(command)}" did not end in ${COMMAND_MS} ms`));
      }, COMMAND_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${this.#label}: "${show(command)}" could not start: ${err.message}`));
      });
      child.once('close', (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? signal ?? -1);
      });
    });
    return { command, code, stdout: stdout.text, stderr: stderr.text };
  }

  async #serve(
    command: ShellCommand,
    kind: DocServer['kind'],
    program: string,
    rawArgs: readonly string[],
  ): Promise<DocOutcome> {
    const args = rawArgs.map((a) => this.substitute(a));
    const extra: Record<string, string> = {};
    const portAt = args.indexOf('--port');
    let docPort: number;
    if (portAt >= 0) {
      docPort = Number(args[portAt + 1]);
      args[portAt + 1] = '0';
    } else if (kind === 'gateway') {
      docPort = Number(this.#env.AGENTCAST_PORT ?? command.env.AGENTCAST_PORT ?? DEFAULT_PORT.gateway);
      extra.AGENTCAST_PORT = '0';
    } else {
      docPort = DEFAULT_PORT.python;
      args.push('--port', '0');
    }
    if (this.#ports.has(docPort))
      throw new Error(
        `${this.#label}: "${show(command)}": a server of this session already has port ${docPort}`,
      );
    return this.#startServer(command, kind, program, args, docPort, extra);
  }

  /** `npm start`: the root package's start script, whose build step `npm test` already ran. */
  async #npmStart(command: ShellCommand): Promise<DocOutcome> {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const start = /^npm run build && node (\S+) (serve\b.*)$/.exec(manifest.scripts.start ?? '');
    if (start === null)
      throw new Error(`package.json "start" is "${manifest.scripts.start}"; teach DocSession how to run it`);
    requireBuild();
    const [, script = '', rest = ''] = start;
    return this.#startServer(
      command,
      'gateway',
      process.execPath,
      [script, ...rest.split(' ')],
      DEFAULT_PORT.gateway,
      {
        AGENTCAST_PORT: '0',
      },
    );
  }

  async #startServer(
    command: ShellCommand,
    kind: DocServer['kind'],
    program: string,
    args: readonly string[],
    docPort: number,
    extra: Record<string, string>,
  ): Promise<DocOutcome> {
    const child = this.#spawn(program, args, this.#childEnv(command, extra));
    const stdout = new Lines(child.stdout as NodeJS.ReadableStream);
    const stderr = new Lines(child.stderr as NodeJS.ReadableStream);
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
      child.once('error', (err) => resolve(`an error: ${err.message}`));
    });
    const ready =
      kind === 'gateway'
        ? /"port":(\d+).*"msg":"gateway listening"/
        : /^listening on http:\/\/[^/]+:(\d+)\/$/;
    let port: number;
    try {
      const m = await stdout.wait(ready, SERVER_READY_MS, `${this.#label}: "${show(command)}"`, exited);
      port = Number(m[1]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstderr:\n${stderr.text}\nstdout:\n${stdout.text}`);
    }
    this.#ports.set(docPort, port);
    const server: DocServer = { kind, command, child, docPort, port, stdout, stderr };
    this.servers.push(server);
    return { kind: 'server', server };
  }
}

function requireBuild(): void {
  if (!existsSync(SERVER_DIST))
    throw new Error(`${SERVER_DIST} is missing: run "npm run build" first (npm test does)`);
}

function requireBin(): void {
  requireBuild();
  if (!existsSync(AGENTCAST_BIN))
    throw new Error(
      `${AGENTCAST_BIN} is missing, so \`npx agentcast\` would fetch the unrelated "agentcast" package from ` +
        'the registry: run `npm ci` (it links packages/server/bin/agentcast.js)',
    );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
  await exited;
  clearTimeout(timer);
}

/** Runs a program to its end with stdin text (a Python snippet), bounded in time. */
export async function runWithInput(
  program: string,
  args: readonly string[],
  input: string,
  timeoutMs = COMMAND_MS,
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(program, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  child.stdin.end(input);
  const code = await new Promise<number | string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not end in ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (c, signal) => {
      clearTimeout(timer);
      resolve(c ?? signal ?? -1);
    });
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export const execFileAsync = promisify(execFile);
