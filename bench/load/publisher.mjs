import { Agent } from 'node:http';
import { nowMicros, sleep } from '../lib/clock.mjs';
import { postJson } from '../lib/post-json.mjs';
import { serveRpc } from '../lib/worker-rpc.mjs';
import { openRawWebSocket } from './raw-ws-client.mjs';

/**
 * The publishing backend: `POST /v1/publish` with `{"events":[…]}` batches, the same body for all three
 * servers. Each event is `stream_chunk` with `data: {t, text}`, where `t` is a CLOCK_MONOTONIC stamp (µs)
 * taken when the batch is built, so queueing in the publisher counts as latency (no coordinated omission).
 *
 * Modes: `max` keeps `concurrency` requests in flight back to back (the server's acceptance paces it);
 * `rate` sends `rate` events/s in batches every `tickMs`, whatever the answers' speed.
 */

let accepted = 0;
let failedRequests = 0;
const statuses = {};

/** One POST; its status counted (0: the request failed). */
async function post(agent, url, apiKey, body) {
  const status = await postJson(agent, url, apiKey, body, 30_000);
  if (status === 0) failedRequests++;
  else statuses[status] = (statuses[status] ?? 0) + 1;
  return status;
}

/**
 * nchan publishes one message per request to one channel (`POST /pub/<user>`): a batch is `count` POSTs at
 * once over the keep-alive agent, the message the same event JSON the batch would carry.
 */
async function postEach(agent, base, users, cursor, count, text) {
  const t = nowMicros();
  const posts = new Array(count);
  for (let i = 0; i < count; i++) {
    const user = users[(cursor + i) % users.length];
    posts[i] = post(
      agent,
      `${base}/pub/${user}`,
      '',
      `{"type":"stream_chunk","data":{"t":${t},"text":"${text}"}}`,
    );
  }
  const statuses = await Promise.all(posts);
  return statuses.filter((s) => s === 201 || s === 202).length;
}

/**
 * nchan's WebSocket publisher: one publishing socket per user (`/pub/<user>`), one message per frame; nchan
 * answers each with the channel's status, which paces the batch (its last answer ends it).
 */
class WsPublishers {
  #base;
  #sockets = new Map();
  constructor(base) {
    this.#base = new URL(base);
  }
  #socket(user) {
    let entry = this.#sockets.get(user);
    if (entry !== undefined) return entry;
    entry = { waiters: [], ready: undefined };
    const e = entry;
    e.ready = new Promise((resolve, reject) => {
      e.ws = openRawWebSocket({
        host: this.#base.hostname,
        port: Number(this.#base.port),
        path: `/pub/${user}`,
        headers: {},
        onOpen: () => resolve(),
        onFrame: () => e.waiters.shift()?.(true),
        onClose: (code) => {
          reject(new Error(`publisher socket closed ${code}`));
          for (const w of e.waiters.splice(0)) w(false);
          this.#sockets.delete(user);
        },
      });
    });
    this.#sockets.set(user, e);
    return e;
  }
  async send(users, cursor, count, text) {
    const t = nowMicros();
    const acks = new Array(count);
    for (let i = 0; i < count; i++) {
      const entry = this.#socket(users[(cursor + i) % users.length]);
      acks[i] = entry.ready.then(
        () =>
          new Promise((resolve) => {
            entry.waiters.push(resolve);
            entry.ws.sendText(`{"type":"stream_chunk","data":{"t":${t},"text":"${text}"}}`);
          }),
        () => false,
      );
    }
    return (await Promise.all(acks)).filter(Boolean).length;
  }
  close() {
    for (const e of this.#sockets.values()) e.ws?.close();
    this.#sockets.clear();
  }
}

/** Builds a batch of `count` events for users round-robin from `cursor`. */
function batch(users, cursor, count, text) {
  const t = nowMicros();
  const parts = new Array(count);
  for (let i = 0; i < count; i++) {
    const user = users[(cursor + i) % users.length];
    parts[i] = `{"user_id":"${user}","type":"stream_chunk","data":{"t":${t},"text":"${text}"}}`;
  }
  return `{"events":[${parts.join(',')}]}`;
}

async function run({
  base,
  apiKey,
  users,
  mode,
  durationMs,
  batchSize = 100,
  concurrency = 4,
  rate = 0,
  tickMs = 5,
  textBytes = 90,
  protocol = 'agentcast',
}) {
  const nchanHttp = protocol === 'nchan-http';
  // One POST per event to nchan: a lane's batch is many requests at once, so the agent gets more sockets.
  const maxSockets = nchanHttp ? 32 : mode === 'max' ? concurrency : 32;
  const agent = new Agent({ keepAlive: true, maxSockets });
  const wsPublishers = protocol === 'nchan-ws' ? new WsPublishers(base) : undefined;
  let cursor = 0;
  let sent = 0;
  const url = `${base}/v1/publish`;
  const text = 'x'.repeat(textBytes);
  /** Publishes `count` events from `cursor` the way the server takes them; resolves with how many it accepted. */
  const publish = async (count) => {
    const from = cursor;
    cursor += count;
    sent += count;
    if (nchanHttp) return postEach(agent, base, users, from, count, text);
    if (wsPublishers !== undefined) return wsPublishers.send(users, from, count, text);
    return (await post(agent, url, apiKey, batch(users, from, count, text))) === 202 ? count : 0;
  };
  const deadline = Date.now() + durationMs;
  const begin = nowMicros();
  if (mode === 'max') {
    async function lane() {
      // Bounded by time; each iteration waits for the server's answer.
      while (Date.now() < deadline) {
        const ok = await publish(batchSize);
        accepted += ok;
        if (ok < batchSize) await sleep(5); // an error answer must not turn into a busy loop
      }
    }
    await Promise.all(Array.from({ length: concurrency }, lane));
  } else {
    const inFlight = new Set();
    const maxTicks = Math.ceil(durationMs / tickMs) + 10;
    for (let tick = 0; tick < maxTicks && Date.now() < deadline; tick++) {
      const due = Math.floor((rate * (nowMicros() - begin)) / 1e6) - sent;
      for (let left = due; left > 0; left -= 500) {
        const count = Math.min(left, 500);
        const p = publish(count).then((ok) => {
          accepted += ok;
          inFlight.delete(p);
        });
        inFlight.add(p);
      }
      await sleep(tickMs);
    }
    // Let the last answers arrive, bounded.
    await Promise.race([Promise.all(inFlight), sleep(10_000)]);
  }
  agent.destroy();
  wsPublishers?.close();
  return { sent, accepted, failedRequests, statuses, seconds: (nowMicros() - begin) / 1e6 };
}

serveRpc({
  run,
  snapshot: () => ({ accepted, at: nowMicros() }),
});
