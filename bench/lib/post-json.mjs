import { request } from 'node:http';

/**
 * POSTs one JSON body with `Authorization: Bearer <credential>` over `agent` (keep-alive) and resolves with
 * the answer's status once its body is read, or 0 when the request failed (or took over `timeoutMs`, when
 * given). Every bench publisher sends its requests through it, so each server is fed the same way.
 */
export function postJson(agent, url, credential, body, timeoutMs) {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          Authorization: `Bearer ${credential}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error('publish timed out')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}
