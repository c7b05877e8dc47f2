import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type AgentcastClient,
  type AgentEvent,
  connect,
  type WebSocketConstructor,
  type WelcomeData,
} from '../../../packages/client/src/index.js';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { Client } from '../../helpers/gateway-harness.js';
import { logged } from '../../helpers/gateway-nodes.js';
import { type GatewayProcess, spawnGateway } from '../../helpers/gateway-process.js';
import { type NginxProcess, requireNginx, startNginx } from '../../helpers/nginx-process.js';
import { type RedisServer, requireRedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { SseStream } from '../../helpers/sse-stream.js';

/**
 * deploy/nginx.conf for real (issue 19, "Deploy"): Debian's nginx, from the shipped file with only its
 * `# templated` lines replaced, in front of two gateway processes on a private Redis: WebSocket, SSE
 * (GET /v1/events, docs/protocol.md H) and the HTTP API through it, and a SIGTERMed node whose clients of
 * either transport resume through nginx on the other node.
 */

const SECRET = 'nginx-test-secret-0123456789abcdef0123';
const API_KEY = 'nginx-test-api-key-0123456789';
/** Generous: two shared cores, other suites running. Only reached when something is broken. */
const WAIT_MS = 20_000;

/** An SDK client and what it reported; `until()` re-checks a condition on each report. */
class Observed {
  readonly client: AgentcastClient;
  readonly events: AgentEvent[] = [];
  readonly welcomes: WelcomeData[] = [];
  readonly closes: number[] = [];
  readonly #wakers = new Set<() => void>();

  constructor(url: string, user: string) {
    this.client = connect({
      url,
      getToken: () => signToken(SECRET, user, 3600),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      heartbeat: false,
      backoff: { initialMs: 20, maxMs: 200 },
      restartJitterMs: 50,
    });
    this.client.on('*', (event) => this.#push(() => this.events.push(event)));
    this.client.onLifecycle('welcome', (welcome) => this.#push(() => this.welcomes.push(welcome)));
    this.client.onLifecycle('disconnect', ({ code }) => this.#push(() => this.closes.push(code)));
  }

  #push(record: () => void): void {
    record();
    for (const wake of this.#wakers) wake();
  }

  /** Resolves once `condition` holds, re-checked on every report; fails after WAIT_MS naming `what`. */
  until(condition: () => boolean, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wakers.delete(wake);
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
      const wake = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      this.#wakers.add(wake);
    });
  }
}

/** Resolves once `condition` holds, re-checked on every call of the returned `wake`; fails after WAIT_MS. */
function waiter(): { wake: () => void; until: (condition: () => boolean, what: string) => Promise<void> } {
  const wakers = new Set<() => void>();
  return {
    wake: () => {
      for (const wake of wakers) wake();
    },
    until(condition, what) {
      if (condition()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          wakers.delete(wake);
          reject(new Error(`timed out waiting for ${what}`));
        }, WAIT_MS);
        const wake = (): void => {
          if (!condition()) return;
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        };
        wakers.add(wake);
      });
    },
  };
}

/**
 * A client nobody here wrote on GET /v1/events: the `eventsource` package, which reconnects by itself
 * after a stream ends, sending the last `id:` it saw as Last-Event-ID (as a browser's EventSource does).
 */
class ObservedSse {
  readonly source: EventSource;
  readonly seqs: number[] = [];
  readonly ns: number[] = [];
  readonly welcomes: { server_id: string; resume: string }[] = [];
  /** The close codes of STREAM_CLOSED error frames (docs/protocol.md H). */
  readonly closes: number[] = [];
  /** The Last-Event-ID header of each request EventSource made. */
  readonly lastEventIds: (string | null)[] = [];
  readonly #waiter = waiter();

  constructor(url: string, token: string) {
    this.source = new EventSource(url, {
      // Node's EventSource may set headers through its fetch; a browser's would use ?ticket= instead.
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        this.lastEventIds.push(headers.get('last-event-id'));
        headers.set('Authorization', `Bearer ${token}`);
        return fetch(input, { ...init, headers });
      },
    });
    this.source.onmessage = (message) => {
      const frame = JSON.parse(message.data) as {
        type: string;
        seq?: number;
        data: { n?: number; server_id?: string; resume?: string; close_code?: number };
      };
      if (typeof frame.seq === 'number') {
        this.seqs.push(frame.seq);
        this.ns.push(frame.data.n ?? -1);
      } else if (frame.type === 'welcome') {
        this.welcomes.push({ server_id: String(frame.data.server_id), resume: String(frame.data.resume) });
      } else if (frame.type === 'error' && frame.data.close_code !== undefined) {
        this.closes.push(frame.data.close_code);
      }
      this.#waiter.wake();
    };
  }

  until(condition: () => boolean, what: string): Promise<void> {
    return this.#waiter.until(condition, what);
  }
}

async function publish(port: number, userId: string, n: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: userId, type: 'note', data: { n } }),
  });
  if (res.status !== 202) throw new Error(`publish ${n} for ${userId}: ${res.status} ${await res.text()}`);
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('deploy/nginx.conf in front of two gateway nodes (real nginx, real processes, private Redis)', async () => {
  const enabled = requireNginx('nginx deploy test') && (await requireRedisServer('nginx deploy test'));
  let redis: RedisServer | undefined;
  let nginx: NginxProcess | undefined;
  const nodes: GatewayProcess[] = [];
  const observed: Observed[] = [];
  const sources: ObservedSse[] = [];
  /** One key prefix per test, shared by its nodes. */
  let prefix = '';

  beforeAll(async () => {
    if (enabled) redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach((ctx) => {
    prefix = `nginx-${process.pid}-${ctx.task.id}:`;
  });
  afterEach(async () => {
    await Promise.all(observed.splice(0).map((o) => o.client.close()));
    for (const sse of sources.splice(0)) sse.source.close();
    for (const node of nodes.splice(0)) if (node.child.exitCode === null) node.child.kill('SIGKILL');
    await nginx?.stop();
    nginx = undefined;
  });

  async function startNode(name: string, args: readonly string[] = []): Promise<GatewayProcess> {
    const node = await spawnGateway([
      ...['--port', '0', '--env', 'test', '--server-id', name, '--no-demo'],
      ...['--redis', redis?.url ?? '', '--redis-key-prefix', prefix],
      ...['--jwt-secret', SECRET, '--api-key', API_KEY],
      // The pairing deploy/nginx.conf asks for: believe the X-Forwarded-For the proxy appends.
      ...['--trust-proxy', 'loopback', '--proxy-header', 'x-forwarded-for'],
      ...args,
    ]);
    nodes.push(node);
    return node;
  }

  it.runIf(enabled)(
    'carries a WebSocket and the HTTP API, and the gateway sees the client IP nginx forwards',
    async () => {
      const a = await startNode('a', ['--access-log']);
      const b = await startNode('b', ['--access-log']);
      nginx = await startNginx([a.port, b.port]);
      const token = await signToken(SECRET, 'walt', 600);
      const client = Client.open(`ws://127.0.0.1:${nginx.port}/ws`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const welcome = await client.next('welcome', WAIT_MS);
      expect(['a', 'b']).toContain((welcome.data as { server_id: string }).server_id);
      const published = await fetch(`http://127.0.0.1:${nginx.port}/v1/publish`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${API_KEY}`,
          'Content-Type': 'application/json',
          'X-Forwarded-For': '198.51.100.7',
        },
        body: JSON.stringify({ user_id: 'walt', type: 'note', data: { via: 'nginx' } }),
      });
      expect(published.status).toBe(202);
      expect(await client.next('note', WAIT_MS)).toMatchObject({ seq: 1, data: { via: 'nginx' } });
      // nginx appended its peer (127.0.0.1, trusted) to the header; the gateway walked past it.
      const isPublish = (l: Record<string, unknown>) => l.msg === 'http request' && l.route === '/v1/publish';
      await Promise.any([a, b].map((node) => logged(node, isPublish, WAIT_MS)));
      const accessLines = [...a.logs, ...b.logs].filter(isPublish);
      expect(accessLines).toEqual([expect.objectContaining({ status: '202', ip: '198.51.100.7' })]);
      // Metrics stay inside: nginx does not pass /metrics on.
      expect((await fetch(`http://127.0.0.1:${nginx.port}/metrics`)).status).toBe(404);
      client.ws.close(1000);
      await client.closedWith();
    },
  );

  it.runIf(enabled)(
    'carries an SSE stream unbuffered and uncompressed: each event within 100 ms of its publish',
    async () => {
      const a = await startNode('a');
      const b = await startNode('b');
      const proxy = await startNginx([a.port, b.port]);
      nginx = proxy;
      const token = await signToken(SECRET, 'sally', 600);
      // A client that accepts gzip still gets the stream as it is (docs/protocol.md H: never compressed).
      const stream = await SseStream.open(`http://127.0.0.1:${proxy.port}/v1/events`, {
        Authorization: `Bearer ${token}`,
        'Accept-Encoding': 'gzip',
      });
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(stream.headers['content-encoding']).toBeUndefined();
      expect(stream.headers['cache-control']).toBe('no-cache, no-transform');
      const welcome = await stream.next('welcome', WAIT_MS);
      expect(['a', 'b']).toContain((welcome.frame.data as { server_id: string }).server_id);
      // Buffered by nginx, a few hundred bytes would wait for a full buffer (or the end of the stream);
      // unbuffered each is passed on at once. Published through nginx too, one at a time.
      const elapsed: number[] = [];
      for (const n of range(1, 5)) {
        const started = performance.now();
        const arrived = stream.next('note', WAIT_MS).then(() => performance.now() - started);
        const published = await fetch(`http://127.0.0.1:${proxy.port}/v1/publish`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ user_id: 'sally', type: 'note', data: { n } }),
        });
        expect(published.status).toBe(202);
        elapsed.push(await arrived);
      }
      expect(stream.messages.filter((m) => m.id !== undefined).map((m) => m.frame.seq)).toEqual(range(1, 5));
      // Every one well within 100 ms; the bound is checked on the median so one scheduling hiccup of a
      // shared 2-core machine cannot fail it, while buffering (which holds them all) would.
      const sorted = [...elapsed].sort((x, y) => x - y);
      expect(sorted[2], `publish -> SSE event through nginx, ms: ${elapsed.map(Math.round)}`).toBeLessThan(
        100,
      );
      stream.close();
    },
  );

  it.runIf(enabled)(
    'a SIGTERMed node: its clients resume through nginx on the other node with nothing lost or doubled',
    async () => {
      const a = await startNode('a', ['--drain-delay-ms', '300', '--drain-timeout-ms', '500']);
      const b = await startNode('b');
      nginx = await startNginx([a.port, b.port]);
      const url = `ws://127.0.0.1:${nginx.port}/ws`;
      // Round robin spreads them; open until both nodes hold some (bounded: 12 users at most).
      const users: string[] = [];
      for (let i = 0; i < 12; i++) {
        const user = `u${i}`;
        const obs = new Observed(url, user);
        observed.push(obs);
        users.push(user);
        await obs.until(() => obs.welcomes.length === 1, `the welcome of ${user}`);
        const on = observed.map((o) => o.welcomes[0]?.server_id);
        if (i >= 5 && on.includes('a') && on.includes('b')) break;
      }
      const onA = observed.filter((o) => o.welcomes[0]?.server_id === 'a');
      expect(onA.length).toBeGreaterThan(0);
      expect(onA.length).toBeLessThan(observed.length);

      const TOTAL = 30;
      // Published straight to node B, which stays up: the test is about the clients' path through nginx.
      const publishRange = async (from: number, to: number): Promise<void> => {
        for (const n of range(from, to)) await Promise.all(users.map((user) => publish(b.port, user, n)));
      };
      await publishRange(1, 10);
      await Promise.all(observed.map((o) => o.until(() => o.client.lastSeq === 10, 'events 1..10')));

      a.child.kill('SIGTERM');
      await publishRange(11, 20); // while node A is deregistering, draining and exiting
      expect(await a.exited).toBe(0);
      await publishRange(21, TOTAL);

      await Promise.all(observed.map((o) => o.until(() => o.client.lastSeq === TOTAL, `events 1..${TOTAL}`)));
      for (const obs of observed) {
        // Every event once, in order: nothing lost, nothing doubled.
        expect(obs.events.map((e) => e.seq)).toEqual(range(1, TOTAL));
        expect(obs.events.map((e) => (e.data as { n: number }).n)).toEqual(range(1, TOTAL));
      }
      for (const obs of onA) {
        // One close and no failed attempt after it: nginx passed a reconnect that reached the draining
        // node (503) or the exited one (refused) on to node B (proxy_next_upstream). Without that
        // directive this fails with [1012, 1006].
        expect(obs.closes).toEqual([1012]);
        // The SDK asks for catch-up by default (docs/client.md): a first connection is welcomed `snapshot`.
        expect(obs.welcomes.map((w) => [w.server_id, w.resume])).toEqual([
          ['a', 'snapshot'],
          ['b', 'ok'],
        ]);
      }
      for (const obs of observed.filter((o) => !onA.includes(o))) expect(obs.closes).toEqual([]);
    },
    60_000,
  );

  it.runIf(enabled)(
    'a SIGTERMed node: its SSE clients (EventSource) resume through nginx on the other node by Last-Event-ID, nothing lost or doubled',
    async () => {
      // A short retry: EventSource waits the stream's retry: hint before it reconnects.
      const retry = ['--sse-retry-ms', '20'];
      const a = await startNode('a', [...retry, '--drain-delay-ms', '300', '--drain-timeout-ms', '500']);
      const b = await startNode('b', retry);
      nginx = await startNginx([a.port, b.port]);
      const url = `http://127.0.0.1:${nginx.port}/v1/events`;
      const users: string[] = [];
      // Round robin spreads them; open until both nodes hold some (bounded: 12 users at most).
      for (let i = 0; i < 12; i++) {
        const user = `s${i}`;
        const sse = new ObservedSse(url, await signToken(SECRET, user, 3600));
        sources.push(sse);
        users.push(user);
        await sse.until(() => sse.welcomes.length === 1, `the welcome of ${user}`);
        const on = sources.map((o) => o.welcomes[0]?.server_id);
        if (i >= 3 && on.includes('a') && on.includes('b')) break;
      }
      const onA = sources.filter((o) => o.welcomes[0]?.server_id === 'a');
      expect(onA.length).toBeGreaterThan(0);
      expect(onA.length).toBeLessThan(sources.length);

      const TOTAL = 30;
      // Published straight to node B, which stays up: the test is about the clients' path through nginx.
      const publishRange = async (from: number, to: number): Promise<void> => {
        for (const n of range(from, to)) await Promise.all(users.map((user) => publish(b.port, user, n)));
      };
      await publishRange(1, 10);
      await Promise.all(sources.map((o) => o.until(() => o.seqs.length === 10, 'events 1..10')));

      a.child.kill('SIGTERM');
      await publishRange(11, 20); // while node A is deregistering, draining and exiting
      expect(await a.exited).toBe(0);
      await publishRange(21, TOTAL);

      await Promise.all(sources.map((o) => o.until(() => o.seqs.length >= TOTAL, `events 1..${TOTAL}`)));
      for (const sse of sources) {
        // Every event once, in order: nothing lost, nothing doubled.
        expect(sse.seqs).toEqual(range(1, TOTAL));
        expect(sse.ns).toEqual(range(1, TOTAL));
        expect(sse.source.readyState).toBe(EventSource.OPEN);
      }
      for (const sse of onA) {
        // Node A ended the stream with 1012 (docs/protocol.md H); EventSource's one reconnect carried the
        // last id it saw and, passed on by nginx (proxy_next_upstream) past the draining or exited node,
        // resumed on B: a refused reconnect would have closed the EventSource for good.
        expect(sse.closes).toEqual([1012]);
        expect(sse.welcomes).toEqual([
          { server_id: 'a', resume: 'none' },
          { server_id: 'b', resume: 'ok' },
        ]);
        expect(sse.lastEventIds).toHaveLength(2);
        expect(sse.lastEventIds[0]).toBeNull();
        expect(sse.lastEventIds[1]).toMatch(/^e_[\w-]+:(\d+)$/);
      }
      for (const sse of sources.filter((o) => !onA.includes(o))) {
        expect(sse.closes).toEqual([]);
        expect(sse.welcomes).toHaveLength(1);
      }
    },
    60_000,
  );
});
