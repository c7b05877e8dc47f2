import { describe, expect, it } from 'vitest';
import { type ConnectOptions, resolveOptions } from '../../../packages/client/src/client-options.js';
import { systemTimers } from '../../../packages/client/src/timers.js';
import { FakeSockets } from './fake-web-socket.js';

const base: ConnectOptions = {
  url: 'wss://gw.example/ws',
  getToken: () => 't',
  WebSocket: new FakeSockets().WebSocket,
};

describe('resolveOptions', () => {
  it('applies the documented defaults', () => {
    const o = resolveOptions(base);
    expect(o).toMatchObject({
      tokenTransport: 'subprotocol',
      catchUp: 'snapshot',
      backoff: { initialMs: 500, maxMs: 30_000, resetAfterMs: 5_000 },
      restartJitterMs: 1_000,
      ackTimeoutMs: 30_000,
      refreshBeforeExpiryMs: 30_000,
      maxAuthFailures: 3,
      heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 },
      connectTimeoutMs: 15_000,
      maxFrameBytes: 65_536,
      resumeFrom: undefined,
      random: Math.random,
      now: Date.now,
      timers: systemTimers,
      onListenerError: undefined,
    });
    expect(o.url.href).toBe('wss://gw.example/ws');
    expect(o.generateId()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts a URL object and keeps its query', () => {
    expect(resolveOptions({ ...base, url: new URL('ws://localhost:8080/ws?x=1') }).url.search).toBe('?x=1');
  });

  it('takes heartbeat: false to turn pings off', () => {
    expect(resolveOptions({ ...base, heartbeat: false }).heartbeat).toBe(false);
  });

  it('generates 128-bit hex ids where crypto.randomUUID is missing (insecure browser contexts)', () => {
    const original = crypto.randomUUID;
    Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
    try {
      expect(resolveOptions(base).generateId()).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      Object.defineProperty(crypto, 'randomUUID', { value: original, configurable: true });
    }
  });

  it('defaults to the global WebSocket when there is one', () => {
    const { WebSocket } = new FakeSockets();
    const g = globalThis as { WebSocket?: unknown };
    const original = g.WebSocket;
    g.WebSocket = WebSocket;
    try {
      expect(resolveOptions({ url: base.url, getToken: base.getToken }).WebSocket).toBe(WebSocket);
    } finally {
      g.WebSocket = original;
    }
  });

  it.each([
    ['url', { url: 'not a url' }, 'options.url must be an absolute ws:// or wss:// URL, got "not a url"'],
    ['url scheme', { url: 'https://gw.example/ws' }, 'options.url must use ws: or wss:, got "https:"'],
    ['getToken', { getToken: 'token' }, 'options.getToken must be a function'],
    [
      'tokenTransport',
      { tokenTransport: 'query' },
      'options.tokenTransport must be "subprotocol" or "frame", got "query"',
    ],
    ['catchUp', { catchUp: 'all' }, 'options.catchUp must be "snapshot" or "none", got "all"'],
    [
      'backoff.initialMs',
      { backoff: { initialMs: 0 } },
      'options.backoff.initialMs must be a number >= 1, got 0',
    ],
    [
      'backoff.maxMs',
      { backoff: { initialMs: 1000, maxMs: 10 } },
      'options.backoff.maxMs must be a number >= 1000, got 10',
    ],
    ['ackTimeoutMs', { ackTimeoutMs: Number.NaN }, 'options.ackTimeoutMs must be a number >= 1, got NaN'],
    ['maxAuthFailures', { maxAuthFailures: 0 }, 'options.maxAuthFailures must be a number >= 1, got 0'],
    [
      'heartbeat.intervalMs',
      { heartbeat: { intervalMs: -5 } },
      'options.heartbeat.intervalMs must be a number >= 1, got -5',
    ],
  ])('throws a TypeError naming %s', (_name, patch, message) => {
    expect(() => resolveOptions({ ...base, ...(patch as Partial<ConnectOptions>) })).toThrow(
      new TypeError(message),
    );
  });

  it('throws a TypeError that says what to do when the runtime has no WebSocket (Node 20)', () => {
    const g = globalThis as { WebSocket?: unknown };
    const original = g.WebSocket;
    g.WebSocket = undefined;
    try {
      expect(() => resolveOptions({ url: base.url, getToken: base.getToken })).toThrow(/in Node, pass `ws`/);
    } finally {
      g.WebSocket = original;
    }
  });
});
