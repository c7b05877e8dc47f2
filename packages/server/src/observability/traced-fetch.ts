import type { Tracing } from './tracing.js';

/**
 * `fetch` with an `agentcast.webhook` client span around each exchange (docs/deploy.md, "Tracing"): the
 * span continues the request's `traceparent` header (the run's trace), the backend receives the span's
 * own traceparent instead (so its spans are children of the exchange), and the span ends when the
 * response body is read to its end, fails or is cancelled. Used only when tracing is on.
 */
export function tracedFetch(tracing: Tracing, inner: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    const span = tracing.start('agentcast.webhook', headers.get('traceparent') ?? undefined, 'client', {
      'http.request.method': init?.method ?? 'GET',
    });
    if (span.traceparent !== undefined) headers.set('traceparent', span.traceparent);
    let response: Response;
    try {
      response = await inner(input, { ...init, headers });
    } catch (error) {
      span.end(error);
      throw error;
    }
    span.setAttribute('http.response.status_code', response.status);
    if (response.body === null) {
      span.end();
      return response;
    }
    return withSpanOnBody(response, response.body, (error) => span.end(error));
  };
}

/** The response with a body that calls `done` once it is read to its end, fails or is cancelled. */
function withSpanOnBody(
  response: Response,
  body: ReadableStream<Uint8Array>,
  done: (error?: unknown) => void,
): Response {
  const reader = body.getReader();
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    done(error);
  };
  const watched = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        end(error);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        end();
        controller.close();
      } else {
        controller.enqueue(chunk.value);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
  return new Response(watched, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
