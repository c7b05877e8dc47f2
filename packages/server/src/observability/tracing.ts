import type { Logger } from './logger.js';
import { packageVersion } from './package-version.js';

/**
 * OpenTelemetry spans of the gateway's event path (docs/deploy.md, "Tracing"; docs/protocol.md D, "Trace
 * context"), exported over OTLP/HTTP (JSON) when `--otel-endpoint` is set. Without the flag nothing here
 * runs and no OpenTelemetry module is loaded: every caller holds `Tracing | undefined` and skips on
 * undefined, so the hot path pays one comparison.
 */

/** Attribute values a span takes. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** `server` for a request answered (publish), `client` for one sent (webhook), else `internal`. */
export type SpanKindName = 'server' | 'client' | 'internal';

/** One started span. */
export interface TraceSpan {
  /**
   * This span as a W3C `traceparent` (its trace id, its own span id as the parent id): what the work it
   * causes carries on, so that work's spans are its children. Before the SDK is loaded: the parent.
   */
  readonly traceparent: string | undefined;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Ends the span; with an error it ends with status ERROR and the error's message. Idempotent. */
  end(error?: unknown): void;
}

/** What the gateway's event path calls. */
export interface Tracing {
  /**
   * Starts a span continuing `parent` (a valid traceparent, e.g. an event's `meta.traceparent`), or
   * starting a new trace when it is undefined.
   */
  start(
    name: string,
    parent: string | undefined,
    kind?: SpanKindName,
    attributes?: SpanAttributes,
  ): TraceSpan;
  /** Resolves once the exporter is loaded (spans started before are not recorded). */
  readonly ready: Promise<void>;
  /** Exports what is buffered, then stops. Idempotent. */
  shutdown(): Promise<void>;
}

/** What {@link createTracing} needs. */
export interface TracingOptions {
  /** `--otel-endpoint`: the collector's base URL, or its full `/v1/traces` URL. */
  readonly endpoint: string;
  readonly serviceName: string;
  /** `--server-id`, as `service.instance.id`. */
  readonly serverId: string;
  readonly log: Logger;
}

/** The OTLP/HTTP traces URL of `--otel-endpoint`: `<base>/v1/traces`, unless it already names that path. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.toString();
}

/** A span that records nothing: the one handed out until the SDK is loaded, or when it failed to load. */
function unrecordedSpan(parent: string | undefined): TraceSpan {
  return { traceparent: parent, setAttribute() {}, end() {} };
}

/** How often a failing export is logged at most. */
const EXPORT_FAILURE_LOG_MS = 60_000;

type Api = typeof import('@opentelemetry/api');
type Tracer = import('@opentelemetry/api').Tracer;
type Provider = import('@opentelemetry/sdk-trace-base').BasicTracerProvider;

/**
 * Starts loading the OpenTelemetry SDK and its OTLP/HTTP exporter (dynamic imports: the modules are read
 * only now) and returns at once; `ready` resolves when spans are recorded. A failure to load is logged
 * and leaves tracing off: tracing never stops the gateway.
 */
export function createTracing(options: TracingOptions): Tracing {
  let api: Api | undefined;
  let tracer: Tracer | undefined;
  let provider: Provider | undefined;
  let closed: Promise<void> | undefined;
  const ready = load(options).then(
    (loaded) => {
      ({ api, tracer, provider } = loaded);
      options.log.info({ endpoint: redactUrl(loaded.url) }, 'tracing: exporting spans over OTLP/HTTP');
    },
    (err: unknown) => options.log.error({ err }, 'tracing: could not load OpenTelemetry; no spans exported'),
  );
  return {
    ready,
    start(name, parent, kind = 'internal', attributes) {
      if (api === undefined || tracer === undefined || closed !== undefined) return unrecordedSpan(parent);
      const context = parent === undefined ? api.ROOT_CONTEXT : parentContext(api, parent);
      const span = tracer.startSpan(
        name,
        { kind: SPAN_KINDS[kind], ...(attributes && { attributes }) },
        context,
      );
      const sc = span.spanContext();
      let ended = false;
      const spanApi = api;
      return {
        traceparent: `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}`,
        setAttribute: (key, value) => span.setAttribute(key, value),
        end(error?: unknown) {
          if (ended) return;
          ended = true;
          if (error !== undefined) {
            const message = error instanceof Error ? error.message : String(error);
            span.setStatus({ code: spanApi.SpanStatusCode.ERROR, message });
          }
          span.end();
        },
      };
    },
    shutdown() {
      // The last flush may fail like any export (logged by the exporter's wrapper): closing goes on.
      closed ??= ready.then(() => provider?.shutdown()).catch(() => undefined);
      return closed;
    },
  };
}

/** api.SpanKind values by name (SERVER 1, CLIENT 2, INTERNAL 0: fixed by the OpenTelemetry API). */
const SPAN_KINDS = { internal: 0, server: 1, client: 2 } as const;

/** The context of a remote parent span named by a traceparent (already validated by the caller). */
function parentContext(api: Api, traceparent: string): import('@opentelemetry/api').Context {
  const [, traceId = '', spanId = '', flags = '00'] = traceparent.split('-');
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & 1,
    isRemote: true,
  });
}

async function load(
  options: TracingOptions,
): Promise<{ api: Api; tracer: Tracer; provider: Provider; url: string }> {
  const [api, sdk, exporterModule, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const url = tracesUrl(options.endpoint);
  const otlp = new exporterModule.OTLPTraceExporter({ url });
  let lastFailureLog = Number.NEGATIVE_INFINITY;
  // The exporter itself reports failures to OpenTelemetry's global diagnostics, which are silent unless
  // a process registers a logger: report them here instead, at most once a minute.
  const exporter: import('@opentelemetry/sdk-trace-base').SpanExporter = {
    export(spans, done) {
      otlp.export(spans, (result) => {
        if (result.code !== 0 && Date.now() - lastFailureLog >= EXPORT_FAILURE_LOG_MS) {
          lastFailureLog = Date.now();
          options.log.warn(
            { err: result.error, spans: spans.length, endpoint: redactUrl(url) },
            'tracing: span export failed; spans dropped',
          );
        }
        done(result);
      });
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  };
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': options.serviceName,
      'service.version': packageVersion(),
      'service.instance.id': options.serverId,
    }),
    // The SDK's defaults: parent-based sampling (a backend's unsampled traceparent stays unsampled),
    // a bounded queue that drops spans rather than grow; OTEL_BSP_* environment variables tune it.
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  return { api, tracer: provider.getTracer('agentcast', packageVersion()), provider, url };
}

/** A URL as it may be logged: without a password. */
function redactUrl(text: string): string {
  return text.replace(/\/\/([^/@]*):[^/@]*@/, '//$1:[redacted]@');
}
