import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
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
});
