import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracesUrl } from '../../../packages/server/src/observability/tracing.js';
import { type Harness, startGateway, TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { type LocalBackend, line, localBackend } from '../agents/local-backend.js';

/**
 * Issue 19, "Trace propagation": with --otel-endpoint the gateway exports spans over OTLP/HTTP (JSON) to a
 * collector, here a plain node:http server on 127.0.0.1 that keeps every POST /v1/traces body. One trace id
 * follows a backend's publish through append and fan-out, and a run through its webhook exchange
 * (docs/deploy.md, "Tracing").
 */

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: { key: string; value: Record<string, unknown> }[];
}

interface Collector {
  readonly url: string;
  readonly spans: OtlpSpan[];
  readonly services: Set<string>;
  readonly contentTypes: Set<string>;
  /** Resolves once a span matching `test` arrived (bounded by the test's timeout). */
  until(test: (span: OtlpSpan) => boolean): Promise<OtlpSpan>;
  close(): Promise<void>;
}

async function startCollector(): Promise<Collector> {
  const spans: OtlpSpan[] = [];
  const services = new Set<string>();
  const contentTypes = new Set<string>();
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
        resourceSpans: {
          resource: { attributes: OtlpSpan['attributes'] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const name = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
        services.add(String(name));
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const wake of waiters) wake();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    services,
    contentTypes,
    until(test) {
      return new Promise((resolve) => {
        const check = () => {
          const found = spans.find(test);
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const attr = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? value?.intValue ?? value?.boolValue;
};

const ofTrace = (traceId: string | undefined, name: string) => (s: OtlpSpan) =>
  s.traceId === traceId && s.name === name;

/** SpanKind in OTLP: SPAN_KIND_INTERNAL 1, SERVER 2, CLIENT 3. */
const KIND = { internal: 1, server: 2, client: 3 } as const;

describe('OTLP export of spans (--otel-endpoint)', () => {
  let collector: Collector;
  let backend: LocalBackend;
  let gw: Harness;
  const received: string[] = [];

  const scheduleDelay = process.env.OTEL_BSP_SCHEDULE_DELAY;

  beforeAll(async () => {
    // The SDK's own knob (docs/deploy.md, "Tracing"): export every 50 ms instead of every 5 s.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    collector = await startCollector();
    backend = await localBackend((request, res: ServerResponse) => {
      received.push(String(request.req.headers.traceparent));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(line({ type: 'stream_chunk', data: { text: 'hi' } }));
      res.end(line({ type: 'agent_completed', data: { status: 'succeeded', final_response: 'hi' } }));
    });
    gw = await startGateway({
      otelEndpoint: collector.url,
      otelServiceName: 'agentcast-test',
      defaultAgent: 'webhook',
      agentUrl: backend.url,
      agentSecret: 'a-secret',
    });
  });

  afterAll(async () => {
    if (scheduleDelay === undefined) delete process.env.OTEL_BSP_SCHEDULE_DELAY;
    else process.env.OTEL_BSP_SCHEDULE_DELAY = scheduleDelay;
    await gw?.close();
    await backend?.close();
    await collector?.close();
  });

  it('follows one trace id from a backend publish through append and fan-out to the event on screen', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const backendSpan = '00f067aa0ba902b7';
    const alice = await gw.connect('alice');
    const res = await fetch(`${gw.httpUrl}/v1/publish`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${TEST_API_KEY}`,
        'Content-Type': 'application/json',
        traceparent: `00-${traceId}-${backendSpan}-01`,
      },
      body: JSON.stringify({ user_id: 'alice', type: 'notification', data: { n: 1 } }),
    });
    expect(res.status).toBe(202);
    const frame = await alice.next('notification');
    const publish = await collector.until(ofTrace(traceId, 'agentcast.publish'));
    const append = await collector.until(ofTrace(traceId, 'agentcast.append'));
    const fanout = await collector.until(ofTrace(traceId, 'agentcast.fanout'));
    expect(publish).toMatchObject({ parentSpanId: backendSpan, kind: KIND.server });
    expect(attr(publish, 'agentcast.events')).toBe(1);
    // The event carries the publish span on, so the screen and the fan-out continue it.
    expect(frame.meta).toEqual({ traceparent: `00-${traceId}-${publish.spanId}-01` });
    expect(append).toMatchObject({ parentSpanId: publish.spanId, kind: KIND.internal });
    expect(fanout).toMatchObject({ parentSpanId: publish.spanId, kind: KIND.internal });
    expect(attr(fanout, 'agentcast.sessions')).toBe(1);
    expect(collector.services).toEqual(new Set(['agentcast-test']));
    expect(collector.contentTypes).toEqual(new Set(['application/json']));
  });

  it("follows a run's trace through its webhook exchange, whose span the backend receives as its parent", async () => {
    const bob = await gw.connect('bob');
    bob.send({ type: 'user_message', id: 'm1', data: { text: 'hello' } });
    const chunk = await bob.next('stream_chunk');
    await bob.next('agent_completed');
    const [, traceId, runSpan] = String((chunk.meta as { traceparent: string }).traceparent).split('-');
    const webhook = await collector.until(ofTrace(traceId, 'agentcast.webhook'));
    expect(webhook).toMatchObject({ parentSpanId: runSpan, kind: KIND.client });
    expect(attr(webhook, 'http.response.status_code')).toBe(200);
    expect(received).toEqual([`00-${traceId}-${webhook.spanId}-01`]);
    const appends = await collector.until(ofTrace(traceId, 'agentcast.append'));
    expect(appends.parentSpanId).toBe(runSpan);
    expect(attr(appends, 'agentcast.run_id')).toBe(chunk.run_id);
    const fanout = await collector.until(ofTrace(traceId, 'agentcast.fanout'));
    expect(fanout.parentSpanId).toBe(runSpan);
  });

  it('loads no OpenTelemetry module without --otel-endpoint (the built gateway, a fresh process)', () => {
    // The SDK's packages are CommonJS: whatever was imported of them is in the require cache.
    const dist = new URL('../../../packages/server/dist/', import.meta.url).href;
    const script = `
      import { createRequire } from 'node:module';
      const { createGateway } = await import('${dist}gateway/gateway.js');
      const { loadConfig } = await import('${dist}config/load-config.js');
      const { silentLogger } = await import('${dist}observability/logger.js');
      const cache = createRequire(import.meta.url).cache;
      for (const otelEndpoint of [undefined, 'http://127.0.0.1:9']) {
        const config = loadConfig({ overrides: { env: 'test', port: 0, jwtSecret: 'x'.repeat(40), otelEndpoint } });
        const gateway = createGateway(config, { log: silentLogger() });
        await gateway.listen();
        await gateway.close();
        const loaded = Object.keys(cache).filter((path) => path.includes('/@opentelemetry/'));
        console.log(JSON.stringify([...new Set(loaded.map((path) => path.split('/@opentelemetry/')[1].split('/')[0]))]));
      }`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const [without, withFlag] = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as string[]);
    // The API package alone is loaded anyway: prom-client's process CPU metric requires it (exemplars).
    expect(without?.filter((name) => name !== 'api')).toEqual([]);
    expect(withFlag).toEqual(expect.arrayContaining(['api', 'sdk-trace-base', 'exporter-trace-otlp-http']));
  });

  it('takes a collector base URL or its full /v1/traces URL', () => {
    expect(tracesUrl('http://127.0.0.1:4318')).toBe('http://127.0.0.1:4318/v1/traces');
    expect(tracesUrl('http://c:4318/otlp/')).toBe('http://c:4318/otlp/v1/traces');
    expect(tracesUrl('https://c/v1/traces')).toBe('https://c/v1/traces');
  });
});
