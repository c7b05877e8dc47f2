import { EventEmitter } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** `up`: client → gateway; `down`: gateway → client. */
export type Direction = 'up' | 'down';

/** Options of {@link TcpProxy.start}. */
export interface TcpProxyOptions {
  /** Where to forward; loopback only. */
  readonly targetPort: number;
  /** Refuse (reset) connections beyond this many open at once. Default 32. */
  readonly maxConnections?: number;
  /** Bytes a stalled direction may hold before the pair is dropped. Default 4 MiB. */
  readonly maxHeldBytes?: number;
}

/** One client connection and its upstream twin. */
interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  readonly held: Record<Direction, Buffer[]>;
  heldBytes: number;
}

const LOOPBACK = '127.0.0.1';

/**
 * A loopback TCP proxy between a client and a gateway, for network-failure tests: it counts connections,
 * cuts them all at any moment (TCP reset, as a dropped network looks to both ends), holds new connections
 * while paused, and stalls one direction (bytes are held, then delivered on `unstall()` or lost on a cut).
 * `retarget()` sends later connections to another gateway. Everything stays on 127.0.0.1.
 *
 * `listening → closed`; `close()` is idempotent and destroys every socket it made.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  /** Every socket not yet closed, including both ends of pairs that are closing gracefully. */
  readonly #sockets = new Set<Socket>();
  readonly #events = new EventEmitter();
  readonly #maxConnections: number;
  readonly #maxHeldBytes: number;
  #targetPort: number;
  #paused = false;
  readonly #stalled: Record<Direction, boolean> = { up: false, down: false };
  #accepted = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: Server, options: TcpProxyOptions) {
    this.#server = server;
    this.#targetPort = options.targetPort;
    this.#maxConnections = options.maxConnections ?? 32;
    this.#maxHeldBytes = options.maxHeldBytes ?? 4 * 1024 * 1024;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Starts a proxy on a free loopback port. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  /** `ws://127.0.0.1:<proxy port>/ws`. */
  get wsUrl(): string {
    return `ws://${LOOPBACK}:${this.port}/ws`;
  }

  /** Client connections accepted since start (including refused and held ones). */
  get connections(): number {
    return this.#accepted;
  }

  /** Client connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Later connections go to `port` (open ones stay where they are). */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  /** Resets every open connection, both sides, at once; returns how many pairs were cut. */
  cutAll(): number {
    const pairs = [...this.#pairs];
    for (const pair of pairs) this.#drop(pair);
    return pairs.length;
  }

  /** New connections are accepted but not forwarded until {@link resume}; open ones keep flowing. */
  pause(): void {
    this.#paused = true;
  }

  /** Forwards the connections held by {@link pause}, and later ones at once. */
  resume(): void {
    this.#paused = false;
    for (const pair of this.#pairs) if (pair.upstream === undefined) this.#dial(pair);
  }

  /** Stops forwarding `direction` on every connection, now and later; bytes are held. */
  stall(direction: Direction): void {
    this.#stalled[direction] = true;
  }

  /** Delivers the bytes held by {@link stall} and forwards again. */
  unstall(direction: Direction): void {
    this.#stalled[direction] = false;
    for (const pair of this.#pairs) {
      const chunks = pair.held[direction];
      pair.held[direction] = [];
      for (const chunk of chunks) this.#write(pair, direction, chunk);
    }
    this.#recount();
  }

  /** Bytes held right now in `direction` by a stall, over all connections. */
  heldBytes(direction: Direction): number {
    let total = 0;
    for (const pair of this.#pairs) for (const chunk of pair.held[direction]) total += chunk.length;
    return total;
  }

  /** Resolves once {@link connections} reaches `count`. */
  waitForConnections(count: number, timeoutMs = 10_000): Promise<void> {
    return this.#until(() => this.#accepted >= count, timeoutMs, `${count} proxied connection(s)`);
  }

  /** Resolves once at least `bytes` are held in `direction` by a stall. */
  waitForHeld(direction: Direction, bytes = 1, timeoutMs = 10_000): Promise<void> {
    return this.#until(
      () => this.heldBytes(direction) >= bytes,
      timeoutMs,
      `${bytes} held byte(s) going ${direction}`,
    );
  }

  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.cutAll();
      for (const socket of this.#sockets) reset(socket);
    });
    return this.#closing;
  }

  #accept(client: Socket): void {
    this.#accepted += 1;
    this.#track(client);
    if (this.#pairs.size >= this.#maxConnections || this.#closing !== undefined) {
      reset(client);
      this.#events.emit('change');
      return;
    }
    const pair: Pair = { client, upstream: undefined, held: { up: [], down: [] }, heldBytes: 0 };
    this.#pairs.add(pair);
    client.on('data', (chunk: Buffer) => this.#forward(pair, 'up', chunk));
    client.on('close', () => this.#finish(pair));
    if (!this.#paused) this.#dial(pair);
    this.#events.emit('change');
  }

  #dial(pair: Pair): void {
    const upstream = connect({ port: this.#targetPort, host: LOOPBACK });
    pair.upstream = upstream;
    // ECONNREFUSED (gateway down) closes the upstream; the client then sees its connection drop.
    this.#track(upstream);
    upstream.on('data', (chunk: Buffer) => this.#forward(pair, 'down', chunk));
    upstream.on('close', () => this.#finish(pair));
    const early = pair.held.up;
    pair.held.up = [];
    for (const chunk of early) this.#write(pair, 'up', chunk);
  }

  #forward(pair: Pair, direction: Direction, chunk: Buffer): void {
    // Before the upstream exists (paused), client bytes wait with the stalled ones.
    if (this.#stalled[direction] || (direction === 'up' && pair.upstream === undefined)) {
      pair.held[direction].push(chunk);
      pair.heldBytes += chunk.length;
      if (pair.heldBytes > this.#maxHeldBytes) this.#drop(pair);
      this.#events.emit('change');
      return;
    }
    this.#write(pair, direction, chunk);
  }

  #write(pair: Pair, direction: Direction, chunk: Buffer): void {
    const [from, to] = direction === 'up' ? [pair.client, pair.upstream] : [pair.upstream, pair.client];
    if (to === undefined || from === undefined || to.destroyed) return;
    // Backpressure: stop reading the source until the sink drains.
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  }

  #recount(): void {
    for (const pair of this.#pairs) {
      pair.heldBytes = 0;
      for (const chunk of [...pair.held.up, ...pair.held.down]) pair.heldBytes += chunk.length;
    }
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    // Resets are how cuts and killed gateways look; the 'close' that follows does the cleanup.
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  /** A cut: both ends get a TCP reset, and bytes in flight are lost. */
  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    reset(pair.client);
    if (pair.upstream !== undefined) reset(pair.upstream);
    this.#events.emit('change');
  }

  /**
   * One side closed on its own (a close handshake, a gateway shutting down): end the other side gracefully,
   * so the bytes already written (the close frame with its code) still reach it.
   */
  #finish(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.end();
    pair.upstream?.end();
    this.#events.emit('change');
  }

  /** Resolves when `done()` holds, re-checked on every connection or held-byte change; never polls. */
  #until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#events.off('change', check);
        reject(new Error(`proxy: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.#events.off('change', check);
        resolve();
      };
      this.#events.on('change', check);
    });
  }
}

function reset(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}
