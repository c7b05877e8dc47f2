import { jwtVerify } from 'jose';

/**
 * What the two baseline servers share, so they do the same job as agentcast: `POST /v1/publish` with the
 * same body (`{"events":[{user_id,type,data}]}`, at most 500) and API key, `GET /healthz`, and JWT
 * verification with jose HS256 (agentcast verifies one at every connect, so the baselines do too).
 */
export function baselineConfig() {
  const port = Number(process.env.PORT ?? 0);
  const secret = process.env.JWT_SECRET ?? '';
  const apiKey = process.env.API_KEY ?? '';
  if (secret === '' || apiKey === '') throw new Error('set JWT_SECRET and API_KEY');
  return { port, key: new TextEncoder().encode(secret), apiKey };
}

/** The user id of a valid `Authorization: Bearer <jwt>`, or undefined. */
export async function verifyBearer(authorization, key) {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (token === undefined) return undefined;
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub'],
    });
    return typeof payload.sub === 'string' && payload.sub.length > 0 ? payload.sub : undefined;
  } catch {
    return undefined; // any verification failure is a refusal; the caller answers 401
  }
}

const MAX_BODY = 1_048_576;
const MAX_EVENTS = 500;

/**
 * Handles the HTTP routes; `deliver(userId, event)` fans one event out and returns its seq.
 * Validation is the minimum a hand-written server would do: JSON, an array of at most 500 events, each with a
 * string user_id and type and an object data.
 */
export function httpHandler({ apiKey, deliver }) {
  return (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    if (req.url !== '/v1/publish' || req.method !== 'POST') {
      res.writeHead(404);
      res.end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      res.writeHead(401);
      res.end();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return answer(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE' } });
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(res, 400, { error: { code: 'INVALID_JSON' } });
      }
      const events = body?.events;
      if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS || !events.every(valid))
        return answer(res, 400, { error: { code: 'INVALID_MESSAGE' } });
      const results = events.map((ev) => ({ seq: deliver(ev.user_id, ev) }));
      answer(res, 202, { results });
    });
  };
}

function valid(ev) {
  return (
    typeof ev === 'object' &&
    ev !== null &&
    typeof ev.user_id === 'string' &&
    typeof ev.type === 'string' &&
    typeof ev.data === 'object' &&
    ev.data !== null
  );
}

function answer(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Closes the server on SIGTERM/SIGINT and exits. */
export function exitOnSignal(close) {
  const stop = () => {
    close();
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
