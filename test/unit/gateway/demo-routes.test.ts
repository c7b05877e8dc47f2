import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoRoutes } from '../../../src/gateway/demo-routes.js';

/**
 * The demo routes (development only): the page and its assets from a fixed folder, a 503 that says how
 * to build a missing page, and /demo/token with its refusals. Served by a bare HTTP server on port 0.
 */

const SECRET = 'demo-routes-secret-that-is-long-enough!';

describe('createDemoRoutes', () => {
  let server: Server | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function serve(options: { secret: string | undefined; dir: string }): Promise<string> {
    const routes = createDemoRoutes(options);
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      void routes(req, res, path).then((handled) => {
        if (!handled) res.writeHead(418).end('not handled');
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function pageDir(): string {
    dir = mkdtempSync(join(tmpdir(), 'agentcast-demo-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>demo</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'notes.txt'), 'not served: unknown type');
    return dir;
  }

  it('serves the page at / and its assets with their types, no body for HEAD, and nothing else', async () => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<title>demo</title>');
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await head.text()).toBe('');
    // Unknown types, other paths and other methods fall through to the router.
    expect((await fetch(`${base}/notes.txt`)).status).toBe(418);
    expect((await fetch(`${base}/../etc/passwd`)).status).toBe(418);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(418);
  });

  it('answers / with 503 and how to build when the page was not built', async () => {
    const base = await serve({ secret: SECRET, dir: join(tmpdir(), 'agentcast-no-such-demo-dir') });
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      error: { code: 'UNAVAILABLE', message: expect.stringContaining('npm run build') },
    });
    expect((await fetch(`${base}/app.js`)).status).toBe(418);
  });

  it('issues a demo token for ?user= (default demo), not cached', async () => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const res = await fetch(`${base}/demo/token?user=alice`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; user_id: string; expires_in_s: number };
    expect(body).toMatchObject({ user_id: 'alice', expires_in_s: 3600 });
    expect(JSON.parse(Buffer.from(body.token.split('.')[1] ?? '', 'base64url').toString())).toMatchObject({
      sub: 'alice',
    });
    expect(await (await fetch(`${base}/demo/token`)).json()).toMatchObject({ user_id: 'demo' });
  });

  it.each([
    ['an empty user', '?user=', 400, 'INVALID_MESSAGE'],
    ['a user over 128 characters', `?user=${'u'.repeat(129)}`, 400, 'INVALID_MESSAGE'],
  ])('refuses %s with %i', async (_name, query, status, code) => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const res = await fetch(`${base}/demo/token${query}`);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error: { code } });
  });

  it('answers 404 for tokens when there is no HS256 secret to sign them', async () => {
    const base = await serve({ secret: undefined, dir: pageDir() });
    const res = await fetch(`${base}/demo/token`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});
