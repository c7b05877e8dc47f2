import { Agent, request } from 'node:http';
import { nowMicros, sleep } from '../lib/clock.mjs';
import { serveRpc } from '../lib/worker-rpc.mjs';

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

function post(agent, url, apiKey, body) {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('publish timed out')));
    req.on('error', () => {
      failedRequests++;
      resolve(0);
    });
    req.end(body);
  });
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
}) {
  const agent = new Agent({ keepAlive: true, maxSockets: mode === 'max' ? concurrency : 32 });
  const url = `${base}/v1/publish`;
  const text = 'x'.repeat(textBytes);
  const deadline = Date.now() + durationMs;
  let cursor = 0;
  let sent = 0;
  const begin = nowMicros();
  if (mode === 'max') {
    async function lane() {
      // Bounded by time; each iteration waits for the server's answer.
      while (Date.now() < deadline) {
        const body = batch(users, cursor, batchSize, text);
        cursor += batchSize;
        sent += batchSize;
        if ((await post(agent, url, apiKey, body)) === 202) accepted += batchSize;
        else await sleep(5); // an error answer must not turn into a busy loop
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
        const body = batch(users, cursor, count, text);
        cursor += count;
        sent += count;
        const p = post(agent, url, apiKey, body).then((status) => {
          if (status === 202) accepted += count;
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
  return { sent, accepted, failedRequests, statuses, seconds: (nowMicros() - begin) / 1e6 };
}

serveRpc({
  run,
  snapshot: () => ({ accepted, at: nowMicros() }),
});
