import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDemoRoutes,
  type DemoRoutesOptions,
} from '../../../packages/server/src/gateway/demo-routes.js';

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

  async function serve(options: DemoRoutesOptions): Promise<string> {
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
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'",
    );
    // Revalidated on every load (a rebuilt page shows at once), and never sniffed into another type.
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).toBe('<!doctype html><title>demo</title>');
    const asset = await fetch(`${base}/app.js`);
    expect(asset.headers.get('cache-control')).toBe('no-cache');
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await asset.text()).toBe('console.log(1)');
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(head.headers.get('content-length')).toBe(String('console.log(1)'.length));
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
    expect(await res.json()).toEqual({
      error: { code: 'UNAVAILABLE', message: 'the demo page is not built; run npm run build' },
    });
    expect((await fetch(`${base}/app.js`)).status).toBe(418);
  });

  it('issues a demo token for ?user= (default demo), not cached', async () => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const res = await fetch(`${base}/demo/token?user=alice`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; user_id: string; expires_in_s: number };
    expect(body).toMatchObject({ user_id: 'alice', expires_in_s: 3600, default_agent: 'demo' });
    expect(JSON.parse(Buffer.from(body.token.split('.')[1] ?? '', 'base64url').toString())).toMatchObject({
      sub: 'alice',
    });
    expect(await (await fetch(`${base}/demo/token`)).json()).toMatchObject({ user_id: 'demo' });
  });

  it('tells the page which agent answers messages that name none', async () => {
    const base = await serve({ secret: SECRET, dir: pageDir(), defaultAgent: 'webhook' });
    expect(await (await fetch(`${base}/demo/token`)).json()).toMatchObject({ default_agent: 'webhook' });
  });

  it('issues a token for a user id of exactly 128 characters', async () => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const user = 'u'.repeat(128);
    const res = await fetch(`${base}/demo/token?user=${user}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ user_id: user });
  });

  it.each([
    ['an empty user', '?user='],
    ['a user over 128 characters', `?user=${'u'.repeat(129)}`],
  ])('refuses %s with 400', async (_name, query) => {
    const base = await serve({ secret: SECRET, dir: pageDir() });
    const res = await fetch(`${base}/demo/token${query}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: 'INVALID_MESSAGE', message: 'user: must be 1..128 characters' },
    });
  });

  it('answers 404 for tokens when there is no HS256 secret to sign them', async () => {
    const base = await serve({ secret: undefined, dir: pageDir() });
    const res = await fetch(`${base}/demo/token`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message:
          'demo tokens are signed only with the generated dev secret (start without --jwt-secret) or with --demo-tokens',
      },
    });
  });
});
