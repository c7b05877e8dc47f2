import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { MemoryEngine } from '../../../packages/server/src/engine/memory-engine.js';
import { traceAppends } from '../../../packages/server/src/observability/traced-engine.js';
import { tracedFetch } from '../../../packages/server/src/observability/traced-fetch.js';
import { createTracing, type Tracing } from '../../../packages/server/src/observability/tracing.js';
import { captureLog } from '../../helpers/log-capture.js';

/** docs/deploy.md, "Tracing": the parts of the tracing module the end-to-end test does not reach. */

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('--otel-endpoint', () => {
  it('must be an http(s) URL', () => {
    expect(() => loadConfig({ argv: ['--env', 'test', '--otel-endpoint', 'collector:4318'] })).toThrow(
      /--otel-endpoint "collector:4318": must be http:\/\/ or https:\/\//,
    );
    expect(() => loadConfig({ argv: ['--env', 'test', '--otel-endpoint', 'not a url'] })).toThrow(
      /--otel-endpoint "not a url": not a URL; use http:\/\/collector:4318/,
    );
    const config = loadConfig({ env: { AGENTCAST_ENV: 'test', AGENTCAST_OTEL_ENDPOINT: 'http://c:4318' } });
    expect(config).toMatchObject({ otelEndpoint: 'http://c:4318', otelServiceName: 'agentcast' });
  });
});

describe('createTracing', () => {
  /** A collector that answers every export 500 and keeps the bodies. */
  let failing: { url: string; bodies: string[]; close: () => Promise<void> };

  beforeAll(async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (p: Buffer) => parts.push(p));
      req.on('end', () => {
        bodies.push(Buffer.concat(parts).toString('utf8'));
        res.writeHead(500).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    failing = {
      url: `http://user:secret@127.0.0.1:${(server.address() as AddressInfo).port}`,
      bodies,
      close: async () => {
        server.closeAllConnections();
        server.close();
        await once(server, 'close');
      },
    };
  });
  afterAll(() => failing.close());

  it('records nothing before it is loaded and after shutdown; exports an error status; logs a failed export without the password', async () => {
    const captured = captureLog('info');
    const tracing: Tracing = createTracing({
      endpoint: failing.url,
      serviceName: 's',
      serverId: 'n1',
      log: captured.log,
    });
    // Before the SDK is loaded the parent is handed on unchanged.
    const early = tracing.start('early', PARENT);
    expect(early.traceparent).toBe(PARENT);
    early.setAttribute('k', 1);
    early.end();
    await tracing.ready;
    const span = tracing.start('agentcast.append', PARENT);
    expect(span.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    span.end(new Error('engine unavailable'));
    span.end(); // idempotent
    const root = tracing.start('agentcast.publish', undefined, 'server');
    expect(root.traceparent).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    root.end('a string');
    await tracing.shutdown();
    const after = tracing.start('late', undefined);
    expect(after.traceparent).toBeUndefined();
    await tracing.shutdown(); // idempotent
    const body = failing.bodies.join('\n');
    expect(body).toContain('"message":"engine unavailable"');
    expect(body).not.toContain('"name":"early"');
    const warn = await captured.waitFor((l) => l.msg === 'tracing: span export failed; spans dropped');
    expect(JSON.stringify(warn)).not.toContain('secret');
    expect(captured.lines.filter((l) => l.msg.startsWith('tracing: span export failed'))).toHaveLength(1);
  });
});

describe('tracedFetch', () => {
  const tracing = (): { tracing: Tracing; ended: unknown[]; started: (string | undefined)[] } => {
    const ended: unknown[] = [];
    const started: (string | undefined)[] = [];
    return {
      ended,
      started,
      tracing: {
        ready: Promise.resolve(),
        shutdown: () => Promise.resolve(),
        start(_name, parent) {
          started.push(parent);
          return {
            traceparent: undefined,
            setAttribute() {},
            end: (error?: unknown) => ended.push(error ?? 'ok'),
          };
        },
      },
    };
  };

  it('ends the span with the error when the request fails, and rethrows it', async () => {
    const t = tracing();
    const failure = new Error('connect ECONNREFUSED');
    const traced = tracedFetch(t.tracing, () => Promise.reject(failure));
    await expect(traced('http://127.0.0.1:9/', { headers: { traceparent: PARENT } })).rejects.toBe(failure);
    expect(t.started).toEqual([PARENT]);
    expect(t.ended).toEqual([failure]);
  });

  it('ends the span at once for a response without a body, and when a body is cancelled or fails', async () => {
    const t = tracing();
    const noBody = tracedFetch(t.tracing, () => Promise.resolve(new Response(null, { status: 204 })));
    expect((await noBody('http://x/')).status).toBe(204);
    expect(t.ended).toEqual(['ok']);
    const streaming = tracedFetch(t.tracing, () =>
      Promise.resolve(new Response(new ReadableStream({ pull: () => undefined }), { status: 200 })),
    );
    await (await streaming('http://x/')).body?.cancel();
    expect(t.ended).toEqual(['ok', 'ok']);
    const broken = new Error('socket hang up');
    const failingBody = tracedFetch(t.tracing, () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull: (c) => c.error(broken),
          }),
        ),
      ),
    );
    const reader = (await failingBody('http://x/')).body?.getReader();
    await expect(reader?.read()).rejects.toBe(broken);
    expect(t.ended).toEqual(['ok', 'ok', broken]);
  });
});

describe('traceAppends', () => {
  /** A span recorder standing in for the SDK. */
  const recorder = () => {
    const spans: { name: string; parent: string | undefined; attributes: unknown; error: unknown }[] = [];
    const tracing: Tracing = {
      ready: Promise.resolve(),
      shutdown: () => Promise.resolve(),
      start(name, parent, _kind, attributes) {
        const span = { name, parent, attributes, error: undefined as unknown };
        spans.push(span);
        return {
          traceparent: parent,
          setAttribute() {},
          end: (error?: unknown) => {
            span.error = error;
          },
        };
      },
    };
    return { spans, tracing };
  };

  it('spans every kind of append, ends a failed one with its error, and leaves every other call to the engine itself', async () => {
    const { spans, tracing } = recorder();
    const engine = new MemoryEngine();
    const traced = traceAppends(engine, tracing);
    const meta = { traceparent: PARENT };
    await traced.append('u1', { type: 'note', data: {}, meta, run_id: 'r_1' });
    await traced.appendBatch([{ userId: 'u1', event: { type: 'note', data: {}, meta } }]);
    const key = { key: 'k1', fingerprint: 'f', ttlMs: 60_000 };
    expect(
      (await traced.appendBatchOnce([{ userId: 'u1', event: { type: 'note', data: {} } }], key)).outcome,
    ).toBe('stored');
    // Methods run on the engine (its private fields), bound once; properties are the engine's.
    expect(traced.head).toBe(traced.head);
    expect((await traced.head('u1')).seq).toBe(3);
    expect(traced.kind).toBe(engine.kind);
    await engine.close();
    const refused = traced.append('u1', { type: 'note', data: {}, meta });
    await expect(refused).rejects.toThrow();
    expect(spans.map((s) => [s.name, s.parent, s.attributes])).toEqual([
      ['agentcast.append', PARENT, { 'agentcast.events': 1, 'agentcast.run_id': 'r_1' }],
      ['agentcast.append', PARENT, { 'agentcast.events': 1 }],
      ['agentcast.append', PARENT, { 'agentcast.events': 1 }],
    ]);
    // The keyed append had no traceparent: no span.
    expect(spans.slice(0, 2).map((s) => s.error)).toEqual([undefined, undefined]);
    expect(spans[2]?.error).toBeInstanceOf(Error);
  });
});
