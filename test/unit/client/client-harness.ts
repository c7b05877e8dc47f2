import { vi } from 'vitest';
import type { AgentEvent } from '../../../packages/client/src/agent-event.js';
import type { AgentcastClient } from '../../../packages/client/src/agentcast-client.js';
import type { ConnectOptions } from '../../../packages/client/src/client-options.js';
import { connect } from '../../../packages/client/src/connect.js';
import type { LifecycleEvents } from '../../../packages/client/src/lifecycle-events.js';
import { FakeSockets, makeJwt } from './fake-web-socket.js';

/** Fake "now" for every client test (ms). */
export const NOW = 1_800_000_000_000;
/** A token valid for one hour from NOW. */
export const TOKEN = makeJwt({ sub: 'u1', exp: NOW / 1000 + 3600 });

type Lifecycle = { [K in keyof LifecycleEvents]: [K, LifecycleEvents[K]] }[keyof LifecycleEvents];

/** Lets promises (getToken) settle without moving fake time. */
export const flush = () => vi.advanceTimersByTimeAsync(0);

/** Everything a client test observes. */
export interface Harness {
  readonly client: AgentcastClient;
  readonly sockets: FakeSockets;
  readonly getToken: ReturnType<typeof vi.fn<() => Promise<string>>>;
  /** Every event delivered to the '*' handler. */
  readonly events: AgentEvent[];
  /** Every lifecycle event, in order. */
  readonly lifecycle: Lifecycle[];
  readonly listenerErrors: unknown[];
  /** The payloads of one lifecycle event, in order. */
  of<K extends keyof LifecycleEvents>(name: K): LifecycleEvents[K][];
  /** The seqs delivered so far. */
  seqs(): number[];
}

/**
 * Connects a client to FakeSockets with fake timers already installed (the caller's beforeEach), random
 * fixed at 0.5 so backoff delays are exactly half the window, and lets the first token arrive.
 */
export async function startClient(options: Partial<ConnectOptions> = {}): Promise<Harness> {
  const sockets = new FakeSockets();
  const getToken = vi.fn(async () => TOKEN);
  const listenerErrors: unknown[] = [];
  const client = connect({
    url: 'wss://gw.test/ws',
    getToken,
    WebSocket: sockets.WebSocket,
    random: () => 0.5,
    generateId: sequentialIds(),
    onListenerError: (error) => listenerErrors.push(error),
    ...options,
  });
  const events: AgentEvent[] = [];
  const lifecycle: Lifecycle[] = [];
  client.on('*', (event) => events.push(event));
  for (const name of ['statechange', 'welcome', 'reset', 'disconnect', 'error'] as const) {
    client.onLifecycle(name, (payload) => lifecycle.push([name, payload] as Lifecycle));
  }
  await flush();
  return {
    client,
    sockets,
    getToken,
    events,
    lifecycle,
    listenerErrors,
    of: <K extends keyof LifecycleEvents>(name: K) =>
      lifecycle.filter((entry) => entry[0] === name).map((entry) => entry[1] as LifecycleEvents[K]),
    seqs: () => events.map((event) => event.seq),
  };
}

function sequentialIds(): () => string {
  let n = 0;
  return () => {
    n += 1;
    return `id-${n}`;
  };
}
