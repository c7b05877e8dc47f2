import { Agent, createServer, request } from 'node:http';
import { nowMicros, sleep } from '../lib/clock.mjs';
import { signHs256 } from '../lib/jwt.mjs';
import { postJson } from '../lib/post-json.mjs';
import { serveRpc } from '../lib/worker-rpc.mjs';

/**
 * The token-streaming backend (issue 20): N runs, each streaming `stream_chunk` tokens at `tokensPerS` to
 * its user, for `durationMs`. Each token's `data.t` is a CLOCK_MONOTONIC stamp (µs) taken when it is due,
 * so a publisher that falls behind counts as latency. Run i starts i/N of a token period late, so the runs'
 * tokens are spread over the period as independent runs' would be. Three ways to publish:
 *
 * - `post`: one `POST /v1/publish` per token, `{"events":[one event]}` (the body all three servers take),
 *   keep-alive, at most `maxSockets` requests in flight;
 * - `ndjson`: one chunked `POST /v1/publish` per run, `Content-Type: application/x-ndjson`, a line per token
 *   (docs/protocol.md D, "Streamed publish"; agentcast only);
 * - `webhook`: this worker is the webhook agent's backend (`backend()` first, its URL to `--agent-url`):
 *   each run is started with `POST /v1/messages` and the gateway reads its tokens from the NDJSON answer.
 */

const TEXT = 'tok ';
let backendRuns = { tokensPerS: 30, durationMs: 0 };
let backendServer;

function tokenLine(user, runId, withUser) {
  const head = withUser
    ? `{"user_id":"${user}","type":"stream_chunk","run_id":"${runId}"`
    : '{"type":"stream_chunk"';
  return `${head},"data":{"t":${nowMicros()},"text":"${TEXT}"}}`;
}

/** Calls `each(i, tokenIndex)` for every token due, run i's tokens spread over the period; bounded by time. */
async function schedule(n, tokensPerS, durationMs, each) {
  const periodUs = 1e6 / tokensPerS;
  const sent = new Array(n).fill(0);
  const begin = nowMicros();
  const end = begin + durationMs * 1000;
  const maxTicks = Math.ceil(durationMs / 2) + 100;
  for (let tick = 0; tick < maxTicks; tick++) {
    const now = nowMicros();
    if (now >= end) break;
    for (let i = 0; i < n; i++) {
      const offset = (i / n) * periodUs;
      const due = Math.floor((now - begin - offset) / periodUs) + 1;
      while (sent[i] < due) each(i, sent[i]++);
    }
    await sleep(2);
  }
  return sent.reduce((a, b) => a + b, 0);
}

async function postOnce(agent, url, apiKey, body, counters) {
  const status = await postJson(agent, url, apiKey, body, 30_000);
  if (status === 0) {
    counters.failed++;
    return;
  }
  counters.statuses[status] = (counters.statuses[status] ?? 0) + 1;
  if (status === 202) counters.accepted++;
}

async function runPost({ base, apiKey, users, tokensPerS, durationMs, maxSockets = 64 }) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const url = `${base}/v1/publish`;
  const counters = { accepted: 0, failed: 0, statuses: {} };
  const inFlight = new Set();
  const sent = await schedule(users.length, tokensPerS, durationMs, (i) => {
    const body = `{"events":[${tokenLine(users[i], `r_${users[i]}`, true)}]}`;
    const p = postOnce(agent, url, apiKey, body, counters).then(() => inFlight.delete(p));
    inFlight.add(p);
  });
  await Promise.race([Promise.all(inFlight), sleep(10_000)]);
  agent.destroy();
  return { sent, ...counters };
}

/**
 * Counts the answer of one streamed publish (`POST /v1/publish`, NDJSON): its status, the `accepted` of its
 * body, or a failure for a body that is not JSON or a request that failed; then calls `done`.
 */
function countStreamAnswer(req, counters, done) {
  req.on('response', (res) => {
    counters.statuses[res.statusCode] = (counters.statuses[res.statusCode] ?? 0) + 1;
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      try {
        counters.accepted += JSON.parse(Buffer.concat(chunks).toString()).accepted ?? 0;
      } catch {
        counters.failed++;
      }
      done();
    });
  });
  req.on('error', () => {
    counters.failed++;
    done();
  });
}

async function runNdjson({ base, apiKey, users, tokensPerS, durationMs }) {
  const counters = { accepted: 0, failed: 0, statuses: {} };
  const answers = [];
  const streams = users.map((user) => {
    const req = request(`${base}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/x-ndjson' },
    });
    answers.push(new Promise((resolve) => countStreamAnswer(req, counters, resolve)));
    req.flushHeaders();
    return { req, runId: `r_${user}` };
  });
  const sent = await schedule(users.length, tokensPerS, durationMs, (i) => {
    streams[i].req.write(`${tokenLine(users[i], streams[i].runId, true)}\n`);
  });
  for (const s of streams) s.req.end();
  await Promise.race([Promise.all(answers), sleep(10_000)]);
  return { sent, ...counters };
}

/** The webhook agent's backend: answers each run with `tokensPerS` tokens for `durationMs`, then ends it. */
async function backend() {
  if (backendServer === undefined) {
    backendServer = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        const { tokensPerS, durationMs } = backendRuns;
        const periodMs = 1000 / tokensPerS;
        const count = Math.floor(durationMs / periodMs);
        // Spread the runs over the period, as `schedule` does for the other two.
        let n = 0;
        const first = Math.random() * periodMs;
        const start = Date.now() + first;
        const next = () => {
          if (res.destroyed) return;
          if (n >= count) {
            res.end('{"type":"agent_completed","data":{"status":"succeeded","final_response":"done"}}\n');
            return;
          }
          n++;
          res.write(`${tokenLine('', '', false)}\n`);
          setTimeout(next, Math.max(0, start + n * periodMs - Date.now()));
        };
        setTimeout(next, first);
      });
    });
    await new Promise((resolve) => backendServer.listen(0, '127.0.0.1', resolve));
  }
  return { port: backendServer.address().port };
}

async function runWebhook({ base, secret, users, tokensPerS, durationMs }) {
  backendRuns = { tokensPerS, durationMs };
  const counters = { accepted: 0, failed: 0, statuses: {} };
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const stamp = Date.now();
  await Promise.all(
    users.map((user, i) =>
      postMessage(agent, `${base}/v1/messages`, signHs256(secret, user), `m_${stamp}_${i}`).then((status) => {
        counters.statuses[status] = (counters.statuses[status] ?? 0) + 1;
        if (status === 202) counters.accepted++;
        else counters.failed++;
      }),
    ),
  );
  await sleep(durationMs + 500);
  agent.destroy();
  return {
    sent: users.length * Math.floor((durationMs * tokensPerS) / 1000),
    runs: users.length,
    ...counters,
  };
}

function postMessage(agent, url, token, id) {
  return postJson(agent, url, token, JSON.stringify({ id, text: 'stream tokens' }));
}

/**
 * Ingest cost (issue 20's publish targets): `count` events as fast as the server takes them, no receivers,
 * 200 users. `post`: one `POST /v1/publish` per event, `inFlight` at once on keep-alive sockets; `ndjson`: 200
 * streamed requests (one per user, as one per run), each writing its lines 5 at a time as the socket drains.
 */
async function ingest({ base, apiKey, mode, count, inFlight = 32 }) {
  const users = 200;
  const line = (i) =>
    `{"user_id":"i${i % users}","type":"stream_chunk","run_id":"r${i % users}","data":{"t":${i},"text":"tok "}}`;
  const counters = { accepted: 0, failed: 0, statuses: {} };
  const begin = nowMicros();
  if (mode === 'post') {
    const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          const i = next++;
          await postOnce(agent, `${base}/v1/publish`, apiKey, `{"events":[${line(i)}]}`, counters);
        }
      }),
    );
    agent.destroy();
  } else {
    const per = Math.ceil(count / users);
    await Promise.all(
      Array.from(
        { length: users },
        (_, u) =>
          new Promise((resolve) => {
            const req = request(`${base}/v1/publish`, {
              method: 'POST',
              headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/x-ndjson' },
            });
            countStreamAnswer(req, counters, resolve);
            let k = 0;
            const write = () => {
              while (k < per) {
                let text = '';
                for (let j = 0; j < 5 && k < per; j++, k++) text += `${line(u + k * users)}\n`;
                if (!req.write(text)) return void req.once('drain', write);
              }
              req.end();
            };
            write();
          }),
      ),
    );
  }
  return { ...counters, seconds: (nowMicros() - begin) / 1e6 };
}

serveRpc({
  ingest,
  backend,
  run: (args) =>
    args.mode === 'ndjson' ? runNdjson(args) : args.mode === 'webhook' ? runWebhook(args) : runPost(args),
});
