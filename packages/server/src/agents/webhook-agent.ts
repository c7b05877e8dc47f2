import { EventType } from '../protocol/events.js';
import { NDJSON_LINE_MAX, NdjsonSplitter } from '../protocol/ndjson-splitter.js';
import { AG_UI_LIMITS, AgUiMapper } from './ag-ui-mapping.js';
import { AgentRunError } from './agent-run-error.js';
import {
  type AgentContext,
  type AgentDefinition,
  type AgentEvent,
  agentInvalid,
  defineAgent,
} from './define-agent.js';
import { ExchangeGuard } from './exchange-guard.js';
import { parseWebhookLine } from './parse-webhook-line.js';
import { RunErrorCode, webhookHttpCode } from './run-error-code.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './webhook-signature.js';

/** Options of {@link createWebhookAgent}; flags in docs/agents.md. */
export interface WebhookAgentOptions {
  /** `--agent-url`: where user messages are POSTed. */
  readonly url: string;
  /** `--agent-secret`: the HMAC key of `X-Agentcast-Signature`. */
  readonly secret: string;
  /** The whole exchange, request to last line, may take this long. Default 120000. */
  readonly timeoutMs?: number;
  /** `--agent-stall-timeout-ms`: the backend may stay silent this long (before headers or between bytes). Default 30000. */
  readonly stallTimeoutMs?: number;
  /** `--agent-max-line-length`: longest response line, in characters. Default 1 MiB. */
  readonly maxLineLength?: number;
  /** `--agent-max-tool-call-length`: characters of one AG-UI tool call's name and arguments. Default 65536. */
  readonly maxToolCallLength?: number;
  /** `--agent-max-open-tool-calls`: AG-UI tool calls open at once (started, no result yet). Default 32. */
  readonly maxOpenToolCalls?: number;
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** The clock in milliseconds (signature timestamp, AG-UI tool durations). Default `Date.now`. */
  readonly now?: () => number;
  /** The agent's name. Default `webhook`. */
  readonly name?: string;
}

/**
 * The built-in `webhook` agent (docs/agents.md): POSTs `{run_id, user_id, message}` to a backend, signed
 * with HMAC-SHA256, and streams the response body back as NDJSON, one agentcast or AG-UI event per line,
 * each published as it arrives. Whatever goes wrong (non-2xx, a redirect, bad line, stall, drop, timeout,
 * a response with no terminal event) ends the run with `agent_completed` / `failed` and a `WEBHOOK_*`
 * code. What a run holds is bounded: one line, 64 KiB of text, and the AG-UI tool-call limits.
 */
export function createWebhookAgent(options: WebhookAgentOptions): AgentDefinition {
  if (!URL.canParse(options.url)) throw agentInvalid('createWebhookAgent: url is not a valid URL');
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw agentInvalid(`createWebhookAgent: url must be http:// or https://, got ${url.protocol}`);
  }
  if (options.secret === '') throw agentInvalid('createWebhookAgent: secret must not be empty');
  const settings = {
    url: url.href,
    secret: options.secret,
    timeoutMs: options.timeoutMs ?? 120_000,
    stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
    maxLineLength: options.maxLineLength ?? NDJSON_LINE_MAX,
    maxToolCallLength: options.maxToolCallLength ?? AG_UI_LIMITS.maxToolCallLength,
    maxOpenToolCalls: options.maxOpenToolCalls ?? AG_UI_LIMITS.maxOpenToolCalls,
    fetch: options.fetch ?? globalThis.fetch,
    now: options.now ?? Date.now,
  };
  return defineAgent({
    name: options.name ?? 'webhook',
    run: (input, ctx) => exchange(settings, input, ctx),
  });
}

type Settings = Required<Omit<WebhookAgentOptions, 'name'>>;

async function* exchange(
  settings: Settings,
  input: { text: string; messageId: string; threadId?: string | undefined },
  ctx: AgentContext,
): AsyncGenerator<AgentEvent, unknown, undefined> {
  const body = JSON.stringify({
    run_id: ctx.runId,
    user_id: ctx.userId,
    message: { id: input.messageId, text: input.text, thread_id: input.threadId ?? null },
  });
  const timestamp = String(Math.floor(settings.now() / 1000));
  const guard = new ExchangeGuard(ctx.signal, settings);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    guard.arm();
    let response: Response;
    try {
      response = await settings.fetch(settings.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/x-ndjson, application/json',
          [SIGNATURE_HEADER]: signWebhook(settings.secret, timestamp, body),
          [TIMESTAMP_HEADER]: timestamp,
          // docs/protocol.md D, "Trace context": the backend may continue the run's trace.
          traceparent: ctx.traceparent,
        },
        body,
        signal: guard.signal,
        // A redirect is never followed: that would re-send the signed message wherever the backend
        // points. A 3xx is an answer like any other non-2xx and ends the run WEBHOOK_HTTP_<status>.
        redirect: 'manual',
      });
    } catch (error) {
      throw guard.failure(RunErrorCode.WebhookUnreachable, error);
    }
    guard.disarm();
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new AgentRunError(webhookHttpCode(response.status), `backend answered HTTP ${response.status}`);
    }
    reader = response.body.getReader();
    const splitter = new NdjsonSplitter(settings.maxLineLength);
    const mapper = new AgUiMapper(settings.now, settings);
    for (;;) {
      guard.arm();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw guard.failure(RunErrorCode.WebhookDisconnected, error);
      }
      guard.disarm();
      const split = chunk.done ? splitter.finish() : splitter.push(chunk.value);
      if (!split.ok) throw new AgentRunError(RunErrorCode.WebhookInvalidLine, split.message);
      for (const line of split.lines) {
        const parsed = parseWebhookLine(line, mapper);
        if (!parsed.ok) throw new AgentRunError(RunErrorCode.WebhookInvalidLine, parsed.message);
        for (const event of parsed.events) {
          yield event;
          // The run ends with the terminal event; the rest of the body is not read.
          if (event.type === EventType.AgentCompleted) return;
        }
      }
      if (chunk.done) {
        const message = 'backend response ended without agent_completed, RUN_FINISHED or RUN_ERROR';
        throw new AgentRunError(RunErrorCode.WebhookIncomplete, message);
      }
    }
  } finally {
    guard.close();
    // Frees the connection when the run ended before the body did (terminal event, cancel, error).
    reader?.cancel().catch(() => {
      // The body already failed or ended; cancelling it has nothing left to release.
    });
  }
}
