import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { packageVersion } from './package-version.js';
import { type HistogramSeries, SeriesHistogram } from './series-histogram.js';

/**
 * Every Prometheus metric of one gateway instance, registered on its own Registry so two gateways
 * in one process never share counters (docs/architecture.md, "Style").
 */
export class Metrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly sseStreams: Gauge;
  readonly users: Gauge;
  readonly connectionsOpened: Counter;
  readonly closes: Counter<'code'>;
  readonly authFailures: Counter<'reason'>;
  readonly upgradeRejections: Counter<'reason'>;
  readonly originRejections: Counter<'reason'>;
  readonly blockedIps: Gauge;
  readonly eventsPublished: Counter<'source'>;
  readonly eventsDelivered: Counter;
  readonly publishToSend: Histogram;
  readonly framesReceived: Counter;
  readonly frameErrors: Counter<'code'>;
  readonly runsStarted: Counter<'agent'>;
  readonly runsEnded: Counter<'agent' | 'status'>;
  readonly runsActive: Gauge;
  readonly runsLost: Counter<'reason'>;
  readonly engineUp: Gauge;
  readonly historyBytes: Gauge;
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: SeriesHistogram;
  readonly buildInfo: Gauge<'version' | 'node'>;
  readonly ready: Gauge;
  readonly publishRejections: Counter<'code'>;
  readonly redisCommandDuration: Histogram;
  readonly redisReconnects: Counter<'role'>;
  readonly redisSubscriptions: Gauge;
  /** Read at every scrape into `agentcast_ready`: 1 while /readyz would answer 200, else 0. */
  readySource: () => boolean = () => false;
  /** Read at every scrape into `agentcast_redis_subscriptions`: users this node's subscriber listens to. */
  redisSubscriptionsSource: () => number = () => 0;
  /**
   * Read at every scrape into `agentcast_history_bytes`; the gateway points it at its engine (the memory
   * engine's histories; 0 on Redis, whose histories live in Redis).
   */
  historyBytesSource: () => number = () => 0;
  /**
   * Counts of the two counters every publish request adds to, kept here and handed to prom-client when the
   * counter is read (a scrape, `get()`, through its `collect`): prom-client's `inc` hashes and validates
   * its labels object on each call, which {@link countHttpRequest} and {@link countHttpPublished} skip.
   */
  readonly #httpCounts = new Map<
    string,
    { readonly labels: Record<string, string>; count: number; readonly duration: HistogramSeries }
  >();
  #httpPublished = 0;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    // process_*, nodejs_eventloop_lag_*, GC and heap figures, on this instance's registry only.
    collectDefaultMetrics({ register: registry });
    this.connections = new Gauge({
      name: 'agentcast_connections',
      help: 'Open sessions on this node, WebSocket connections and SSE streams, authenticated or not yet',
      registers,
    });
    this.sseStreams = new Gauge({
      name: 'agentcast_sse_streams',
      help: 'Open Server-Sent Events streams (GET /v1/events) on this node, authenticated or not yet; also counted in agentcast_connections',
      registers,
    });
    this.users = new Gauge({
      name: 'agentcast_users',
      help: 'Users with at least one open connection on this node',
      registers,
    });
    this.connectionsOpened = new Counter({
      name: 'agentcast_connections_opened_total',
      help: 'Sessions accepted: WebSocket upgrades and SSE streams past the admission checks',
      registers,
    });
    this.closes = new Counter({
      name: 'agentcast_connections_closed_total',
      help: 'Connections closed, by close code (codes the gateway does not define count as "other")',
      labelNames: ['code'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'agentcast_auth_failures_total',
      help: 'Failed authentications, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.upgradeRejections = new Counter({
      name: 'agentcast_upgrade_rejections_total',
      help: 'Upgrade requests refused before the handshake, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.originRejections = new Counter({
      name: 'agentcast_origin_rejections_total',
      help: 'Requests refused by the origin policy, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.blockedIps = new Gauge({
      name: 'agentcast_blocked_ips',
      help: 'Client IPs blocked for repeated origin violations',
      registers,
    });
    const takeHttpPublished = (): number => {
      const count = this.#httpPublished;
      this.#httpPublished = 0;
      return count;
    };
    this.eventsPublished = new Counter({
      name: 'agentcast_events_published_total',
      help: 'Events stored, by source (http, api, agent)',
      labelNames: ['source'],
      registers,
      collect() {
        const count = takeHttpPublished();
        if (count > 0) this.inc({ source: 'http' }, count);
      },
    });
    this.eventsDelivered = new Counter({
      name: 'agentcast_events_delivered_total',
      help: 'Event frames written to connections',
      registers,
    });
    this.publishToSend = new Histogram({
      name: 'agentcast_publish_to_send_seconds',
      help: 'Time from an event being stored to its frame being written to local connections (1 event in 8 sampled)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.framesReceived = new Counter({
      name: 'agentcast_frames_received_total',
      help: 'Client frames received',
      registers,
    });
    this.frameErrors = new Counter({
      name: 'agentcast_frame_errors_total',
      help: 'Error frames sent, by code',
      labelNames: ['code'],
      registers,
    });
    this.runsStarted = new Counter({
      name: 'agentcast_runs_started_total',
      help: 'Agent runs started, by agent',
      labelNames: ['agent'],
      registers,
    });
    this.runsEnded = new Counter({
      name: 'agentcast_runs_ended_total',
      help: 'Agent runs ended, by agent and status',
      labelNames: ['agent', 'status'],
      registers,
    });
    this.runsActive = new Gauge({
      name: 'agentcast_runs_active',
      help: 'Agent runs in progress on this node',
      registers,
    });
    this.runsLost = new Counter({
      name: 'agentcast_runs_lost_total',
      help: 'Runs whose end needed an operator: reaped by this node after their node was lost (node_lost), or whose terminal event could not be stored (terminal_lost)',
      labelNames: ['reason'],
      registers,
    });
    this.engineUp = new Gauge({
      name: 'agentcast_engine_up',
      help: '1 when the engine (Redis) is reachable, else 0',
      registers,
    });
    const readHistoryBytes = () => this.historyBytesSource();
    this.historyBytes = new Gauge({
      name: 'agentcast_history_bytes',
      help: 'Bytes of events (their wire frames) held for resume in this process, all users (memory engine; 0 on Redis)',
      registers,
      collect() {
        this.set(readHistoryBytes());
      },
    });
    const httpCounts = this.#httpCounts;
    this.httpRequests = new Counter({
      name: 'agentcast_http_requests_total',
      help: 'HTTP requests answered (WebSocket upgrades not included), by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect() {
        for (const entry of httpCounts.values()) {
          if (entry.count === 0) continue;
          this.inc(entry.labels, entry.count);
          entry.count = 0;
        }
      },
    });
    this.httpDuration = new SeriesHistogram({
      name: 'agentcast_http_request_duration_seconds',
      help: 'Time from an HTTP request arriving to its answer being written, by route template and method',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.buildInfo = new Gauge({
      name: 'agentcast_build_info',
      help: 'Always 1; the labels name the @agentcast/server version and the Node.js version',
      labelNames: ['version', 'node'],
      registers,
    });
    this.buildInfo.set({ version: packageVersion(), node: process.version }, 1);
    const readReady = () => this.readySource();
    this.ready = new Gauge({
      name: 'agentcast_ready',
      help: '1 while /readyz answers 200 (running, engine reachable, not draining), else 0',
      registers,
      collect() {
        this.set(readReady() ? 1 : 0);
      },
    });
    this.publishRejections = new Counter({
      name: 'agentcast_publish_rejections_total',
      help: 'POST /v1/publish requests refused, by error code (nothing of them was stored)',
      labelNames: ['code'],
      registers,
    });
    this.redisCommandDuration = new Histogram({
      name: 'agentcast_redis_command_duration_seconds',
      help: 'Time of each Redis engine call (a script or a pipeline), failures included',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.redisReconnects = new Counter({
      name: 'agentcast_redis_reconnects_total',
      help: 'Times a Redis connection of this node was lost and ioredis started reconnecting, by role',
      labelNames: ['role'],
      registers,
    });
    const readSubscriptions = () => this.redisSubscriptionsSource();
    this.redisSubscriptions = new Gauge({
      name: 'agentcast_redis_subscriptions',
      help: 'Users whose Redis pub/sub channel this node subscribes to (0 on the memory engine)',
      registers,
      collect() {
        this.set(readSubscriptions());
      },
    });
  }

  /**
   * One answered HTTP request: adds one to `agentcast_http_requests_total{route,method,status}` (read at the
   * counter's next collect) and observes `seconds` in `agentcast_http_request_duration_seconds{route,method}`.
   * One map lookup per request; both series are found once per label set.
   */
  countHttpRequest(route: string, method: string, status: string, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let entry = this.#httpCounts.get(key);
    if (entry === undefined) {
      entry = {
        labels: { route, method, status },
        count: 0,
        duration: this.httpDuration.series({ route, method }),
      };
      this.#httpCounts.set(key, entry);
    }
    entry.count += 1;
    entry.duration.observe(seconds);
  }

  /** Adds `count` to `agentcast_events_published_total{source="http"}` (read at the counter's next collect). */
  countHttpPublished(count: number): void {
    this.#httpPublished += count;
  }
}
