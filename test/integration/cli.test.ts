import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TempDir } from '../helpers/auth-tokens.js';
import { Client } from '../helpers/gateway-harness.js';
import { CLI_PATH, type GatewayProcess, spawnGateway } from '../helpers/gateway-process.js';

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
}

describe('agentcast CLI', () => {
  let gw: GatewayProcess | undefined;
  afterEach(() => {
    gw?.child.kill('SIGKILL');
  });

  it('prints every flag with --help and exits 0', () => {
    const res = run(['serve', '--help']);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('--max-connections-per-user');
    expect(res.stdout).toContain('AGENTCAST_JWT_SECRET');
  });

  it('exits 2 with a message naming the bad field', () => {
    const res = run(['serve', '--port', 'x', '--history-size', '0']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('--port "x": must be a whole number');
    expect(res.stderr).toContain('--history-size "0": must be between 1');
  });

  it('exits 2 when production lacks its secrets, and for bad origins', () => {
    expect(run(['serve', '--env', 'production']).status).toBe(2);
    const res = run(['serve', '--env', 'production', '--origins', 'http://app.example.com'], {
      AGENTCAST_JWT_SECRET: 'x'.repeat(40),
      AGENTCAST_API_KEY: 'y'.repeat(20),
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('http://app.example.com');
  });

  it('prints the version of @agentcast/server with --version, -v and version', () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../packages/server/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-v', 'version']) {
      const res = run([flag]);
      expect(res.status).toBe(0);
      expect(res.stdout).toBe(`${version}\n`);
    }
  });

  it('exits 2 on an unknown command', () => {
    expect(run(['launch']).status).toBe(2);
  });

  it('signs a token with `agentcast token`', () => {
    const res = run(['token', 'alice', '--jwt-secret', 'z'.repeat(40), '--ttl-s', '60']);
    expect(res.status).toBe(0);
    const payload = JSON.parse(
      Buffer.from(res.stdout.trim().split('.')[1] as string, 'base64url').toString(),
    ) as { sub: string; exp: number };
    expect(payload.sub).toBe('alice');
  });

  it('generates a dev-only secret in development, prints a working token, and never logs it', async () => {
    gw = await spawnGateway(['--port', '0', '--no-demo']);
    await gw.stderrLine(/DEVELOPMENT ONLY/);
    const token = (await gw.stderrLine(/^\s*ey[\w-]+\.[\w-]+\.[\w-]+$/)).trim();
    const client = Client.open(`ws://127.0.0.1:${gw.port}/ws`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(await client.next('welcome')).toMatchObject({ data: { user_id: 'demo' } });
    client.ws.close();
    await client.closedWith();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(JSON.stringify(gw.logs)).not.toContain(token);
  });

  it('prints the token help, not the serve help, with token --help', () => {
    for (const args of [
      ['token', '--help'],
      ['token', 'alice', '-h'],
    ]) {
      const res = run(args);
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/^Usage: agentcast token <user> --jwt-secret <secret>/);
      expect(res.stdout).toContain('--ttl-s <seconds>');
      expect(res.stdout).not.toContain('--max-connections-per-user');
    }
  });

  it.each([
    [
      ['token', 'alice', '--ttl-s', '0'],
      '--jwt-secret: needed to sign the token; pass the secret the gateway verifies with (or set AGENTCAST_JWT_SECRET)\n  - --ttl-s "0": must be a positive whole number of seconds',
    ],
    [
      ['token', 'alice', '--jwt-secret', 'z'.repeat(40), '--ttl-s', '1.5'],
      '--ttl-s "1.5": must be a positive whole number of seconds',
    ],
  ])('refuses token %j in the words of every configuration problem', (args, problems) => {
    const res = run(args);
    expect(res.status).toBe(2);
    expect(res.stderr).toBe(`agentcast: invalid configuration:\n  - ${problems}\n`);
    expect(res.stdout).toBe('');
  });

  it('asks for the user id of a token, with the token help', () => {
    const res = run(['token', '--jwt-secret', 'z'.repeat(40)]);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/^agentcast: a user id is needed\nUsage: agentcast token <user>/);
  });

  it('suggests the flag a typo meant and does not report its value as a second mistake', () => {
    const res = run(['serve', '--prot', '18100']);
    expect(res.status).toBe(2);
    expect(res.stderr).toBe(
      'agentcast: invalid configuration:\n  - --prot: unknown flag; did you mean --port?\n',
    );
  });

  it('refuses a list flag with an empty entry', () => {
    const res = run(['serve', '--origins', 'http://localhost:1,,http://localhost:2']);
    expect(res.status).toBe(2);
    expect(res.stderr).toBe(
      'agentcast: invalid configuration:\n  - --origins "http://localhost:1,,http://localhost:2": entry 2 is empty; remove the extra comma\n',
    );
  });

  it('warns about an unknown AGENTCAST_* variable, names the one it likely means, and starts anyway', async () => {
    gw = await spawnGateway(['--port', '0', '--no-demo'], { AGENTCAST_PROT: '18100' });
    expect(await gw.stderrLine(/AGENTCAST_PROT/)).toBe(
      'agentcast: warning: AGENTCAST_PROT: not an agentcast option, ignored; did you mean AGENTCAST_PORT?',
    );
    expect(gw.port).not.toBe(18100);
  });

  it('logs in the order things happen on SIGTERM: signal, draining, closed', async () => {
    gw = await spawnGateway(['--port', '0', '--no-demo']);
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.logs.map((l) => l.msg)).toEqual([
      'gateway listening',
      'signal received; draining',
      'draining',
      'gateway closed',
    ]);
  });
});

describe('agentcast serve: start-up mistakes exit 2 with the flag named and no stack trace', () => {
  const dir = new TempDir();
  let busy: Server | undefined;
  afterAll(() => dir.remove());
  afterEach(() => {
    busy?.close();
    busy = undefined;
  });

  /** A port something else listens on. */
  async function takenPort(): Promise<number> {
    const server = createServer();
    busy = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  const ed25519 = () =>
    generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it.each([
    {
      name: '--default-agent webhook without --agent-url',
      args: async () => ['--default-agent', 'webhook'],
      line: '--default-agent "webhook": the webhook agent needs --agent-url and --agent-secret; set them or use --default-agent demo',
    },
    {
      name: '--default-agent naming no agent',
      args: async () => ['--default-agent', 'ghost'],
      line: '--default-agent "ghost": not one of the agents (demo); pass one of them',
    },
    {
      name: '--jwt-public-key pointing at a file that is not PEM',
      args: async () => ['--jwt-public-key', dir.write('id.pub', 'ssh-ed25519 AAAAC3Nz me@host\n')],
      line: 'not a PEM public key; expected "-----BEGIN PUBLIC KEY-----" (SPKI)',
    },
    {
      name: '--jwt-public-key with an Ed25519 key',
      args: async () => ['--jwt-public-key', dir.write('ed.pem', ed25519())],
      line: 'the key is neither RSA nor EC P-256',
    },
    {
      name: '--jwks with no usable key',
      args: async () => ['--jwks', dir.write('jwks.json', '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}')],
      line: 'none of its 1 keys can verify RS256 or ES256 tokens',
    },
    {
      name: '--redis with an http:// URL',
      args: async () => ['--redis', 'http://127.0.0.1:6379'],
      line: '--redis "http://127.0.0.1:6379": must be a redis:// or rediss:// URL (redis://host:6379/0)',
    },
    {
      name: 'a port in use',
      args: async () => ['--port', String(await takenPort())],
      line: /^--port "(\d+)": port \1 is in use on 127\.0\.0\.1; pass --port with another port \(0 picks a free one\)$/,
    },
  ])('$name', async ({ args, line }) => {
    const given = await args();
    const res = run(['serve', '--no-demo', ...given]);
    expect(res.status, res.stderr).toBe(2);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('agentcast: invalid configuration:');
    expect(lines).toHaveLength(2);
    const problem = (lines[1] ?? '').replace(/^ {2}- /, '');
    if (typeof line === 'string') expect(problem).toContain(line);
    else expect(problem).toMatch(line);
    const flag = given[0] ?? '';
    expect(problem.startsWith(`${flag} `)).toBe(true);
    expect(res.stderr).not.toMatch(/\bat .+:\d+:\d+|Error:|error:0/);
    expect(res.stdout).toBe('');
  });
});
