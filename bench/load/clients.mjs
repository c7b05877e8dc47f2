import { request } from 'node:http';
import * as hdr from 'hdr-histogram-js';
import { nowMicros } from '../lib/clock.mjs';
import { signHs256 } from '../lib/jwt.mjs';
import { serveRpc } from '../lib/worker-rpc.mjs';
import { openRawWebSocket } from './raw-ws-client.mjs';

/**
 * A load worker holding WebSocket clients of one server kind. The same minimal client (raw-ws-client.mjs)
 * speaks to all three servers (for Socket.IO it speaks Engine.IO v4 / Socket.IO v5 framing by hand), so the
 * client cost is the same whatever is under test. A connection counts as connected when the server's first
 * application message arrives: agentcast's welcome, bare ws's welcome, Socket.IO's namespace CONNECT
 * ("40…"); all three have verified the JWT by then.
 *
 * Commands: connect, snapshot, setLatency, resetHistogram, histogram, closeAll.
 */

const CONNECT_TIMEOUT_MS = 15_000;
const sockets = [];
let received = 0;
let recordLatency = false;
let histogram = newHistogram();
const closes = {};
let errors = 0;
let lastError = '';

function newHistogram() {
  // Microseconds, 1 µs .. 120 s, 3 significant digits.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Records publish -> receive for one event frame; its data.t is the publisher's CLOCK_MONOTONIC stamp (µs). */
function record(buf, start, end) {
  const text = buf.toString('latin1', start, end);
  const at = text.indexOf('"t":');
  if (at === -1) return;
  const latency = nowMicros() - Number.parseInt(text.slice(at + 4, at + 24), 10);
  if (latency > 0) histogram.recordValue(Math.min(latency, 119_000_000));
}

/** Where each server kind listens for WebSockets. */
const PATHS = {
  agentcast: '/ws',
  'agentcast-sse': '/v1/events',
  'bare-ws': '/ws',
  socketio: '/socket.io/?EIO=4&transport=websocket',
};

/** nchan subscribers connect to their user's channel, `/sub/<user>`, and get no welcome (no auth either). */
const NCHAN_KINDS = new Set(['nchan', 'nchan-wspub']);

const CHAR_0 = 0x30;
const CHAR_2 = 0x32;
const CHAR_3 = 0x33;
const CHAR_4 = 0x34;

function open({ host, port, kind, userId, secret, localAddress }) {
  const socketio = kind === 'socketio';
  const nchan = NCHAN_KINDS.has(kind);
  return new Promise((resolve) => {
    let ready = false;
    const timer = setTimeout(() => settle(false, 'no welcome in time'), CONNECT_TIMEOUT_MS);
    function settle(ok, why) {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      if (!ok) {
        errors++;
        lastError = why;
        ws.close();
      }
      resolve(ok ? ws : undefined);
    }
    const ws = openRawWebSocket({
      host,
      port,
      path: nchan ? `/sub/${encodeURIComponent(userId)}` : PATHS[kind],
      headers: { Authorization: `Bearer ${signHs256(secret, userId)}` },
      localAddress,
      // nchan sends nothing on subscribe: the 101 is its whole answer.
      onOpen: () => nchan && settle(true),
      onFrame: (buf, start, end) => {
        const c0 = buf[start];
        if (!ready) {
          if (!socketio) settle(true);
          // Engine.IO OPEN ("0{…}") -> send Socket.IO CONNECT ("40"); "40{sid}" means connected, "44" refused.
          else if (c0 === CHAR_0) ws.sendText('40');
          else if (c0 === CHAR_4 && buf[start + 1] === CHAR_0) settle(true);
          else if (c0 === CHAR_4 && buf[start + 1] === CHAR_4)
            settle(false, 'socket.io refused the connection');
          return;
        }
        if (socketio) {
          // "42[…]" is an EVENT; a lone "2" is an Engine.IO ping that must be answered with "3".
          if (c0 === CHAR_4 && buf[start + 1] === CHAR_2) {
            received++;
            if (recordLatency) record(buf, start, end);
          } else if (c0 === CHAR_2 && end - start === 1) {
            ws.sendText(String.fromCharCode(CHAR_3));
          }
          return;
        }
        received++;
        if (recordLatency) record(buf, start, end);
      },
      onClose: (code) => {
        closes[code] = (closes[code] ?? 0) + 1;
        settle(false, `closed with ${code} before the welcome`);
      },
    });
  });
}

const EVENT_END = Buffer.from('\n\n');

/**
 * One Server-Sent Events stream of agentcast (docs/protocol.md H), read as raw bytes: connected at its
 * first message (the welcome); then every message with an `id:` line is one event. Same face as a raw
 * WebSocket for the rest of the worker: `open`, `close()`.
 */
function openSse({ host, port, userId, secret, localAddress }) {
  return new Promise((resolve) => {
    let ready = false;
    let welcomed = false;
    const stream = { open: false, close: () => req.destroy() };
    const timer = setTimeout(() => settle(false, 'no welcome in time'), CONNECT_TIMEOUT_MS);
    function settle(ok, why) {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      if (!ok) {
        errors++;
        lastError = why;
        req.destroy();
      }
      resolve(ok ? stream : undefined);
    }
    const req = request(
      {
        host,
        port,
        path: '/v1/events',
        localAddress,
        agent: false,
        headers: { Authorization: `Bearer ${signHs256(secret, userId)}` },
      },
      (res) => {
        if (res.statusCode !== 200) {
          settle(false, `HTTP ${res.statusCode}`);
          return;
        }
        stream.open = true;
        let rest = Buffer.alloc(0);
        res.on('data', (chunk) => {
          const buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
          let start = 0;
          for (let end = buf.indexOf(EVENT_END, start); end !== -1; end = buf.indexOf(EVENT_END, start)) {
            // 'i' of `id:` starts an event; `data:` alone is a control frame, ':' a comment, 'r' the retry hint.
            if (buf[start] === 0x69) {
              received++;
              if (recordLatency) record(buf, start, end);
            } else if (buf[start] === 0x64 && !welcomed) {
              welcomed = true;
              settle(true);
            }
            start = end + 2;
          }
          rest = buf.subarray(start);
        });
        res.on('close', () => {
          stream.open = false;
          closes.sse = (closes.sse ?? 0) + 1;
          settle(false, 'stream ended before the welcome');
        });
      },
    );
    req.on('error', (err) => settle(false, err.message));
    req.end();
  });
}

async function connect({ base, kind, users, secret, concurrency = 200, localAddress, latency = false }) {
  recordLatency = latency;
  const url = new URL(base);
  const startedAt = nowMicros();
  let next = 0;
  let opened = 0;
  let failed = 0;
  async function lane() {
    while (next < users.length) {
      const userId = users[next++];
      const ws = await (kind === 'agentcast-sse' ? openSse : open)({
        host: url.hostname,
        port: Number(url.port),
        kind,
        userId,
        secret,
        localAddress,
      });
      if (ws === undefined) failed++;
      else {
        opened++;
        sockets.push(ws);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane));
  return { opened, failed, startedAt, endedAt: nowMicros(), lastError };
}

serveRpc({
  connect,
  snapshot: () => ({
    received,
    closes,
    errors,
    open: sockets.filter((s) => s.open).length,
    at: nowMicros(),
  }),
  setLatency: ({ latency }) => {
    recordLatency = latency;
    return true;
  },
  resetHistogram: () => {
    histogram = newHistogram();
    return true;
  },
  histogram: () => hdr.encodeIntoCompressedBase64(histogram),
  closeAll: () => {
    for (const ws of sockets) ws.close();
    sockets.length = 0;
    return true;
  },
});
