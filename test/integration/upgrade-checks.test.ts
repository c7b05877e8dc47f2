import { randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import type { Config } from '../../packages/server/src/config/config.js';
import type { GatewayDeps } from '../../packages/server/src/gateway/gateway.js';
import { Client, type Harness, startGateway } from '../helpers/gateway-harness.js';

/**
 * docs/protocol.md §1 with raw `node:http` upgrade requests: refused upgrades get a plain HTTP answer (never
 * a WebSocket) with the exact status, headers and JSON body, and the checks answer in the order of the
 * table: 429, 503, 403, 400.
 */

const GOOD_ORIGIN = 'https://app.example.com';
const WITH_ORIGINS = { origins: [GOOD_ORIGIN] } as const;

/** What the server answered to an upgrade request: 101 (and the handshake headers), or a plain HTTP error. */
interface UpgradeAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

interface UpgradeRequest {
  readonly path?: string;
  /** Extra headers; an array value sends the header several times. */
  readonly headers?: Record<string, string | string[]>;
  /** Source address, to be another client IP (any 127.x.y.z works on loopback). */
  readonly localAddress?: string;
}

/** Sends one WebSocket upgrade request and resolves with the answer; a 101 socket is closed at once. */
function upgrade(port: number, req: UpgradeRequest = {}): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const r = request({
      host: '127.0.0.1',
      port,
      path: req.path ?? '/ws',
      localAddress: req.localAddress,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...req.headers,
      },
    });
    r.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: null });
    });
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) });
      });
    });
    r.on('error', reject);
    r.end();
  });
}

/** The error body of a refused upgrade; `code` is checked separately (see the table below). */
function errorBody(message: string | RegExp) {
  return {
    error: {
      code: expect.any(String),
      message: typeof message === 'string' ? message : expect.stringMatching(message),
    },
  };
}

describe('upgrade checks (docs/protocol.md §1)', () => {
  let h: Harness | undefined;
  const clients: Client[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
    await h?.close();
    h = undefined;
  });

  async function start(overrides: Partial<Config> = {}, deps: GatewayDeps = {}): Promise<Harness> {
    h = await startGateway(overrides, deps);
    return h;
  }

  /** The gateway still upgrades a well-behaved client from another address and welcomes it. */
  async function expectStillUpgrading(g: Harness, origin?: string): Promise<void> {
    const client = Client.open(g.wsUrl, {
      headers: {
        Authorization: `Bearer ${await g.token('bystander')}`,
        ...(origin === undefined ? {} : { Origin: origin }),
      },
      localAddress: '127.0.0.9',
    });
    clients.push(client);
    expect(await client.next('welcome')).toMatchObject({ data: { user_id: 'bystander' } });
  }

  async function metricsText(g: Harness): Promise<string> {
    return (await fetch(`${g.httpUrl}/metrics`)).text();
  }

  type Refusal = {
    readonly name: string;
    readonly config?: Partial<Config>;
    readonly request: UpgradeRequest;
    readonly status: 400 | 403;
    readonly message: string | RegExp;
  };
  const PROD: Partial<Config> = { env: 'production' };
  const refusals: Refusal[] = [
    {
      name: 'a path other than /ws',
      request: { path: '/socket' },
      status: 400,
      message: 'the WebSocket endpoint is /ws',
    },
    {
      name: 'a trailing slash on /ws',
      request: { path: '/ws/' },
      status: 400,
      message: 'the WebSocket endpoint is /ws',
    },
    {
      name: 'an upper-case path',
      request: { path: '/WS' },
      status: 400,
      message: 'the WebSocket endpoint is /ws',
    },
    ...['graphql-ws', 'agentcast.v2', 'AGENTCAST.V1', 'agentcast.v1x'].map(
      (protocol): Refusal => ({
        name: `only the subprotocol "${protocol}"`,
        request: { headers: { 'Sec-WebSocket-Protocol': protocol } },
        status: 400,
        message: 'offer the agentcast.v1 subprotocol (and bearer.<jwt> to carry a token)',
      }),
    ),
    ...['abc', '-1', '1e3', '1.5', '', ' 1', '0x10', '9999999999999999'].map(
      (since): Refusal => ({
        name: `since=${JSON.stringify(since)}`,
        request: { path: `/ws?since=${encodeURIComponent(since)}` },
        status: 400,
        message: 'since: must be a non-negative integer',
      }),
    ),
    {
      name: 'an empty epoch',
      request: { path: '/ws?since=1&epoch=' },
      status: 400,
      message: 'epoch: must be 1..128 characters',
    },
    ...['everything', '', 'SNAPSHOT'].map(
      (mode): Refusal => ({
        name: `catch_up=${JSON.stringify(mode)}`,
        request: { path: `/ws?catch_up=${mode}` },
        status: 400,
        message: 'catch_up: must be "snapshot" or "none"',
      }),
    ),
    {
      name: 'an epoch of 129 characters',
      request: { path: `/ws?since=1&epoch=${'e'.repeat(129)}` },
      status: 400,
      message: 'epoch: must be 1..128 characters',
    },
    ...[
      ['https://evil.example.com', 'not allowed'],
      ['https://app.example.com.evil.net', 'not allowed'],
      ['https://evil-app.example.com', 'not allowed'],
      ['http://app.example.com', 'not allowed'],
      ['https://app.example.com:8443', 'not allowed'],
      ['https://app.xn--xample-2of.com', 'not allowed'], // Cyrillic "е" in example, as a browser sends it
      ['http://localhost:3000', 'not allowed'], // the test env default is replaced by the configured list
      ['null', 'null origin'],
      ['https://user@app.example.com', 'has userinfo'],
      ['https://app.example.com/path', 'has path'],
      ['https://app.example.com?q=1', 'has query'],
      [`https://${'a'.repeat(250)}.example.com`, 'too long'],
      // Issue 13, finding 9: a URL parser repairs these into an allowed origin; the policy must not.
      ['https://app.example.com\\.evil.net', 'malformed'],
      ['http://[::1x:3000', 'malformed'],
    ].map(
      ([origin, reason]): Refusal => ({
        name: `Origin ${origin?.slice(0, 60)}`,
        config: WITH_ORIGINS,
        request: { headers: { Origin: origin as string } },
        status: 403,
        message: `origin not allowed (${reason})`,
      }),
    ),
    {
      name: 'two differing Origin headers',
      config: WITH_ORIGINS,
      request: { headers: { Origin: [GOOD_ORIGIN, 'https://evil.example.com'] } },
      status: 403,
      message: 'origin not allowed (multiple origins)',
    },
    {
      name: 'no Origin while require_origin is set',
      config: { ...WITH_ORIGINS, requireOrigin: true },
      request: {},
      status: 403,
      message: 'origin not allowed (missing origin)',
    },
    {
      name: 'a localhost Origin in production with no origins configured (fail closed)',
      config: PROD,
      request: { headers: { Origin: 'http://localhost:3000' } },
      status: 403,
      message: 'origin not allowed (not allowed)',
    },
    {
      name: 'a foreign Origin in production',
      config: { ...PROD, ...WITH_ORIGINS },
      request: { headers: { Origin: 'https://evil.example.com' } },
      status: 403,
      message: 'origin not allowed (not allowed)',
    },
  ];

  it.each(refusals)('answers $status to $name, as plain HTTP with a JSON error', async (refusal) => {
    const g = await start(refusal.config);
    const answer = await upgrade(g.port, refusal.request);
    expect(answer).toMatchObject({
      status: refusal.status,
      headers: { connection: 'close', 'content-type': 'application/json' },
      body: errorBody(refusal.message),
    });
    expect(answer.headers.upgrade).toBeUndefined();
    await expectStillUpgrading(g, refusal.config?.origins === undefined ? undefined : GOOD_ORIGIN);
  });

  // BUG (reported): the body's code is the internal reason upper-cased (BAD_PATH, ORIGIN_NOT_ALLOWED,
  // IP_BLOCKED, AT_CAPACITY, …) instead of the documented code of its status (UPGRADE_ERROR_CODES in
  // src/gateway/upgrade-rejection.ts). Flip to `it.each` once rejectUpgrade uses that table.
  const documentedCodes: {
    status: number;
    code: string;
    config: Partial<Config>;
    request: UpgradeRequest;
    fill?: boolean;
  }[] = [
    { status: 400, code: 'BAD_REQUEST', config: {}, request: { path: '/nope' } },
    {
      status: 400,
      code: 'BAD_REQUEST',
      config: {},
      request: { headers: { 'Sec-WebSocket-Protocol': 'graphql-ws' } },
    },
    {
      status: 403,
      code: 'FORBIDDEN',
      config: WITH_ORIGINS,
      request: { headers: { Origin: 'https://evil.example.com' } },
    },
    { status: 503, code: 'UNAVAILABLE', config: { maxConnections: 1 }, request: {}, fill: true },
  ];
  it.each(documentedCodes)(
    'uses the documented error code $code for a $status refusal',
    async ({ status, code, config, request: req, fill }) => {
      const g = await start(config);
      if (fill === true) clients.push(await g.connect('filler'));
      const answer = await upgrade(g.port, req);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ error: { code, message: expect.any(String) } });
    },
  );

  it('uses the documented error code RATE_LIMITED for a blocked IP', async () => {
    const g = await start({ ...WITH_ORIGINS, violationLimit: 1 });
    await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } });
    const answer = await upgrade(g.port);
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String) } });
  });

  const accepted: { name: string; config?: Partial<Config>; request: UpgradeRequest; protocol?: string }[] = [
    { name: 'no Origin header (a non-browser client)', config: WITH_ORIGINS, request: {} },
    { name: 'the configured Origin', config: WITH_ORIGINS, request: { headers: { Origin: GOOD_ORIGIN } } },
    {
      name: 'the configured Origin in other case with a trailing slash',
      config: WITH_ORIGINS,
      request: { headers: { Origin: 'HTTPS://APP.Example.COM/' } },
    },
    {
      name: 'the configured Origin sent twice',
      config: WITH_ORIGINS,
      request: { headers: { Origin: [GOOD_ORIGIN, GOOD_ORIGIN] } },
    },
    {
      name: 'the configured Origin in production',
      config: { ...PROD, ...WITH_ORIGINS },
      request: { headers: { Origin: GOOD_ORIGIN } },
    },
    {
      name: 'a localhost Origin in the test env by default',
      request: { headers: { Origin: 'http://localhost:5173' } },
    },
    {
      name: 'agentcast.v1',
      request: { headers: { 'Sec-WebSocket-Protocol': 'agentcast.v1' } },
      protocol: 'agentcast.v1',
    },
    {
      name: 'agentcast.v1 among others',
      request: { headers: { 'Sec-WebSocket-Protocol': 'graphql-ws, agentcast.v1' } },
      protocol: 'agentcast.v1',
    },
    {
      name: 'agentcast.v1 with a bearer.<jwt>',
      request: { headers: { 'Sec-WebSocket-Protocol': 'agentcast.v1, bearer.eyJhbGciOiJIUzI1NiJ9.e30.sig' } },
      protocol: 'agentcast.v1',
    },
    {
      name: 'only a bearer.<jwt>',
      request: { headers: { 'Sec-WebSocket-Protocol': 'bearer.eyJhbGciOiJIUzI1NiJ9.e30.sig' } },
    },
    { name: 'since=0 and an epoch', request: { path: '/ws?since=0&epoch=e_abc' } },
    { name: 'since of 15 digits', request: { path: '/ws?since=999999999999999' } },
  ];

  it.each(accepted)('upgrades (101) with $name', async ({ config, request: req, protocol }) => {
    const g = await start(config);
    const answer = await upgrade(g.port, req);
    expect(answer.status).toBe(101);
    // §1: the server selects agentcast.v1 when offered and never echoes bearer.<jwt>.
    expect(answer.headers['sec-websocket-protocol']).toBe(protocol);
  });

  describe('origin violations and IP blocks (§5)', () => {
    it('blocks an IP with 429 and Retry-After after violation_limit origin rejections, even with a good Origin', async () => {
      const g = await start({ ...WITH_ORIGINS, violationLimit: 2, blockS: 120 });
      const bad = { headers: { Origin: 'https://evil.example.com' } };
      expect((await upgrade(g.port, bad)).status).toBe(403);
      expect((await upgrade(g.port, bad)).status).toBe(403);
      const blocked = await upgrade(g.port, { headers: { Origin: GOOD_ORIGIN } });
      expect(blocked).toMatchObject({
        status: 429,
        headers: { 'retry-after': '120', connection: 'close' },
        body: errorBody('too many origin violations from this address; retry later'),
      });
      await expectStillUpgrading(g);
    });

    it('does not count a well-formed allowed Origin or a missing one as a violation', async () => {
      const g = await start({ ...WITH_ORIGINS, violationLimit: 2 });
      expect((await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } })).status).toBe(403);
      for (let i = 0; i < 3; i++) {
        expect((await upgrade(g.port, { headers: { Origin: GOOD_ORIGIN } })).status).toBe(101);
        expect((await upgrade(g.port)).status).toBe(101);
      }
    });

    it('reports origin rejections and blocked IPs in /metrics', async () => {
      const g = await start({ ...WITH_ORIGINS, violationLimit: 2 });
      await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } });
      await upgrade(g.port, { headers: { Origin: 'null' } });
      await upgrade(g.port, { headers: { Origin: GOOD_ORIGIN } });
      const text = await metricsText(g);
      expect(text).toContain('agentcast_origin_rejections_total{reason="not_allowed"} 1');
      expect(text).toContain('agentcast_origin_rejections_total{reason="null_origin"} 1');
      expect(text).toContain('agentcast_blocked_ips 1');
      expect(text).toContain('agentcast_upgrade_rejections_total{reason="ip_blocked"} 1');
    });

    type Order = {
      name: string;
      config: Partial<Config>;
      prepare: (g: Harness) => Promise<void>;
      request: UpgradeRequest;
      status: number;
    };
    const blockLoopback = async (g: Harness): Promise<void> => {
      expect((await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } })).status).toBe(403);
    };
    /** Takes one connection slot from another address, so the loopback address can be blocked meanwhile. */
    const fillCapacity = async (g: Harness): Promise<void> => {
      const filler = Client.open(g.wsUrl, {
        headers: { Authorization: `Bearer ${await g.token('filler')}` },
        localAddress: '127.0.0.8',
      });
      clients.push(filler);
      await filler.next('welcome');
    };
    const order: Order[] = [
      {
        name: 'a blocked IP with a bad Origin gets 429, not 403',
        config: { ...WITH_ORIGINS, violationLimit: 1 },
        prepare: blockLoopback,
        request: { headers: { Origin: 'https://evil.example.com' } },
        status: 429,
      },
      {
        name: 'a blocked IP with a bad subprotocol gets 429, not 400',
        config: { ...WITH_ORIGINS, violationLimit: 1 },
        prepare: blockLoopback,
        request: { headers: { 'Sec-WebSocket-Protocol': 'graphql-ws' } },
        status: 429,
      },
      {
        name: 'a blocked IP at max_connections gets 429, not 503',
        config: { ...WITH_ORIGINS, violationLimit: 1, maxConnections: 1 },
        prepare: async (g) => {
          await blockLoopback(g);
          await fillCapacity(g);
        },
        request: { headers: { Origin: GOOD_ORIGIN } },
        status: 429,
      },
      {
        name: 'a bad Origin at max_connections gets 503, not 403',
        config: { ...WITH_ORIGINS, maxConnections: 1 },
        prepare: fillCapacity,
        request: { headers: { Origin: 'https://evil.example.com' } },
        status: 503,
      },
      {
        name: 'a bad Origin with a bad subprotocol and a bad since gets 403, not 400',
        config: WITH_ORIGINS,
        prepare: async () => undefined,
        request: {
          path: '/ws?since=x',
          headers: { Origin: 'https://evil.example.com', 'Sec-WebSocket-Protocol': 'graphql-ws' },
        },
        status: 403,
      },
    ];

    it.each(order)('checks in the §1 order: $name', async ({ config, prepare, request: req, status }) => {
      const g = await start(config);
      await prepare(g);
      expect((await upgrade(g.port, req)).status).toBe(status);
    });

    it('a 429 is not itself a violation: the block is not extended', async () => {
      const g = await start({ ...WITH_ORIGINS, violationLimit: 1, blockS: 60 });
      await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } });
      for (let i = 0; i < 3; i++) {
        const answer = await upgrade(g.port, { headers: { Origin: 'https://evil.example.com' } });
        expect(answer).toMatchObject({ status: 429, headers: { 'retry-after': '60' } });
      }
      expect(await metricsText(g)).toContain('agentcast_origin_rejections_total{reason="not_allowed"} 1');
    });
  });

  describe('capacity and drain (§1, §9)', () => {
    it('answers 503 with Retry-After to the upgrade past max_connections and keeps serving the others', async () => {
      const g = await start({ maxConnections: 2 });
      const first = await g.connect('u1');
      const second = await g.connect('u2');
      clients.push(first, second);
      const answer = await upgrade(g.port);
      expect(answer).toMatchObject({
        status: 503,
        headers: { 'retry-after': '1', connection: 'close' },
        body: errorBody('this node is at max_connections; retry later'),
      });
      await g.publish({
        events: ['u1', 'u2'].map((user_id) => ({ user_id, type: 'notification', data: {} })),
      });
      expect(await first.events(1)).toHaveLength(1);
      expect(await second.events(1)).toHaveLength(1);
    });

    it('counts connections still authenticating against max_connections', async () => {
      const g = await start({ maxConnections: 1 });
      const anonymous = Client.open(g.wsUrl);
      clients.push(anonymous);
      await anonymous.opened();
      expect((await upgrade(g.port)).status).toBe(503);
    });

    it('answers 503 to new upgrades once drain() has begun, while runs finish', async () => {
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const hold = defineAgent({
        name: 'hold',
        async *run(_input, ctx) {
          await Promise.race([gate, new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))]);
          yield { type: 'stream_chunk', data: { text: 'released' } };
          return 'done';
        },
      });
      const g = await start({}, { agents: [hold] });
      const client = await g.connect('u1');
      clients.push(client);
      client.send({ type: 'user_message', id: 'm1', data: { text: 'hold on', agent: 'hold' } });
      await client.next('ack');
      const drained = g.gateway.drain();
      const answer = await upgrade(g.port);
      expect(answer).toMatchObject({
        status: 503,
        headers: { 'retry-after': '1' },
        body: errorBody('this node is shutting down; connect to another'),
      });
      const ready = await fetch(`${g.httpUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'draining' });
      release();
      await drained;
      expect(await client.closedWith()).toBe(1012);
      const completed = client.frames.find((f) => f.type === 'agent_completed');
      expect(completed?.data).toMatchObject({ status: 'succeeded' });
    });
  });
});
