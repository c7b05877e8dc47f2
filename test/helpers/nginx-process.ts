import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  chmodSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

/** The nginx configuration the repository ships (docs/deploy.md). */
export const NGINX_CONF = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));

/** Where Debian's nginx-light puts the binary; `nginx` on the PATH wins. */
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary here, or undefined. */
export function nginxBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, 'nginx');
    if (isExecutable(candidate)) return candidate;
  }
  return NGINX_CANDIDATES.find(isExecutable);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false; // ENOENT or EACCES: not this one
  }
}

/**
 * Decides whether tests that run nginx run: true when the binary is installed; otherwise false with a
 * loud warning, or an error under CI (.ci/run installs nginx-light), so CI can never pass by skipping.
 */
export function requireNginx(what: string): boolean {
  if (nginxBinary() !== undefined) return true;
  const message = `${what}: no nginx binary (apt-get install -y nginx-light)`;
  if (process.env.CI === 'true') throw new Error(`${message} and CI=true`);
  console.warn(`\n*** SKIPPING ${message}. ***\n`);
  return false;
}

/**
 * deploy/nginx.conf with only its `# templated` lines replaced: the listen address, the upstream
 * servers (in order), and pid, logs and temp paths under `prefix`. Everything else is the shipped file,
 * so the test exercises what users deploy. Throws when the file no longer has the lines it replaces.
 */
export function templateNginxConf(
  text: string,
  options: { readonly port: number; readonly upstreams: readonly number[]; readonly prefix: string },
): string {
  let server = 0;
  let replaced = 0;
  const out = text.split('\n').map((line) => {
    if (!line.includes('# templated')) return line;
    replaced++;
    const indent = /^\s*/.exec(line)?.[0] ?? '';
    const directive = line.trim().split(/\s+/)[0];
    switch (directive) {
      case 'listen':
        return `${indent}listen 127.0.0.1:${options.port};`;
      case 'server': {
        const port = options.upstreams[server++];
        if (port === undefined) throw new Error('deploy/nginx.conf has more upstream servers than the test');
        // Keep the rest of the line (max_fails, fail_timeout): it is part of what is tested.
        return line.replace(/server\s+\S+/, `server 127.0.0.1:${port}`).replace(/\s*# templated$/, '');
      }
      case 'pid':
        return `${indent}pid ${join(options.prefix, 'nginx.pid')};`;
      case 'error_log':
        return `${indent}error_log ${join(options.prefix, 'error.log')} warn;`;
      case 'access_log':
        return `${indent}access_log ${join(options.prefix, 'access.log')};`;
      case 'client_body_temp_path':
      case 'proxy_temp_path':
        return `${indent}${directive} ${join(options.prefix, directive)};`;
      default:
        throw new Error(`deploy/nginx.conf: no template rule for "${line.trim()}"`);
    }
  });
  if (server !== options.upstreams.length || replaced === 0) {
    throw new Error(`deploy/nginx.conf has ${server} upstream servers, the test ${options.upstreams.length}`);
  }
  return out.join('\n');
}

/** nginx running as a child process of the test (`daemon off`), on a free loopback port. */
export interface NginxProcess {
  readonly port: number;
  readonly prefix: string;
  readonly child: ChildProcess;
  /** nginx's error log so far. */
  errorLog(): string;
  /** Stops nginx (SIGQUIT, SIGKILL after 5 s) and removes its prefix. Idempotent. */
  stop(): Promise<void>;
}

/** Starts nginx from deploy/nginx.conf in front of `upstreams` and resolves once it accepts connections. */
export async function startNginx(upstreams: readonly number[]): Promise<NginxProcess> {
  const binary = nginxBinary();
  if (binary === undefined) throw new Error('no nginx binary');
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'agentcast-nginx-'));
  // Run as root, nginx's workers drop to nobody: they must be able to reach and write the temp paths.
  chmodSync(prefix, 0o755);
  for (const dir of ['client_body_temp_path', 'proxy_temp_path']) {
    mkdirSync(join(prefix, dir));
    chmodSync(join(prefix, dir), 0o777);
  }
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, templateNginxConf(readFileSync(NGINX_CONF, 'utf8'), { port, upstreams, prefix }));
  const child = spawn(
    binary,
    ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const errorLog = (): string => {
    try {
      return `${stderr}${readFileSync(join(prefix, 'error.log'), 'utf8')}`;
    } catch {
      return stderr; // no error log written yet
    }
  };
  const exited = once(child, 'exit');
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await acceptsConnections(port, child, errorLog);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, prefix, child, errorLog, stop };
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; fails if nginx exits or 10 s pass. */
async function acceptsConnections(port: number, child: ChildProcess, errorLog: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errorLog()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} in 10 s: ${errorLog()}`);
    // Retried on the next turn of the loop: nginx binds within milliseconds of starting.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
