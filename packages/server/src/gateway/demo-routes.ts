import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../auth/dev-token.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { demoTokenQuerySchema, parseQuery, queryObject } from '../protocol/http-bodies.js';
import { sendError, sendJson } from './http-api.js';

/** Where `npm run build` puts the demo page (from src/gateway or dist/gateway alike). */
export const DEMO_DIR = fileURLToPath(new URL('../../dist/demo/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

/** How long a demo token lives. */
const DEMO_TOKEN_TTL_S = 3600;

/** Options for {@link createDemoRoutes}. */
export interface DemoRoutesOptions {
  /** The HS256 secret demo tokens are signed with: the dev secret, or the configured one with --demo-tokens. */
  readonly secret: string | undefined;
  /** Folder of the built page; defaults to dist/demo. */
  readonly dir?: string;
  /** `--default-agent`, told to the page so its hint fits the agent that answers. Default `demo`. */
  readonly defaultAgent?: string;
}

/**
 * The demo page (development only): `/` and its assets, read once into memory from a fixed folder (no
 * path from the request ever reaches the file system), and `/demo/token`, a short-lived token for the
 * user `demo` (or `?user=`) so the page can connect.
 */
export function createDemoRoutes(
  options: DemoRoutesOptions,
): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const dir = options.dir ?? DEMO_DIR;
  const files = new Map<string, { body: Buffer; type: string }>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const type = CONTENT_TYPES[extname(name)];
      if (type !== undefined) files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
    }
  }
  return async (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/demo/token') {
      await demoToken(req, res, options.secret, options.defaultAgent ?? 'demo');
      return true;
    }
    const file = files.get(path === '/' ? '/index.html' : path);
    if (file === undefined) {
      if (path !== '/') return false;
      sendError(res, 503, ErrorCode.Unavailable, 'the demo page is not built; run npm run build');
      return true;
    }
    res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Length': file.body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy':
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'",
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}

async function demoToken(
  req: IncomingMessage,
  res: ServerResponse,
  secret: string | undefined,
  defaultAgent: string,
): Promise<void> {
  if (secret === undefined) {
    sendError(
      res,
      404,
      ErrorCode.NotFound,
      'demo tokens are signed only with the generated dev secret (start without --jwt-secret) or with --demo-tokens',
    );
    return;
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const parsed = parseQuery(demoTokenQuerySchema, queryObject(query, false));
  if (!parsed.ok) {
    sendError(res, 400, ErrorCode.InvalidMessage, parsed.message);
    return;
  }
  const user = parsed.value.user ?? 'demo';
  sendJson(
    res,
    200,
    {
      token: await signToken(secret, user, DEMO_TOKEN_TTL_S),
      user_id: user,
      expires_in_s: DEMO_TOKEN_TTL_S,
      default_agent: defaultAgent,
    },
    { 'Cache-Control': 'no-store' },
  );
}
