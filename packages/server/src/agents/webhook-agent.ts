import { agUiProtocol } from '../edges/ag-ui/ag-ui-decoder.js';
import { aiSdkProtocol } from '../edges/ai-sdk/ai-sdk-decoder.js';
import { EventType } from '../protocol/events.js';
import { NDJSON_LINE_MAX } from '../protocol/ndjson-splitter.js';
import { AG_UI_LIMITS } from './ag-ui-mapping.js';
import { AgentRunError } from './agent-run-error.js';
import {
  type AgentContext,
  type AgentDefinition,
  type AgentEvent,
  type AgentInput,
  agentInvalid,
  defineAgent,
} from './define-agent.js';
import { ExchangeGuard } from './exchange-guard.js';
import { RunErrorCode, webhookHttpCode } from './run-error-code.js';
import { agentcastProtocol } from './upstream-agentcast.js';
import {
  AGENT_PROTOCOLS,
  type AgentProtocol,
  type ContinuationAnswer,
  type DecoderSettings,
  frameReader,
  type Question,
  type UpstreamDecoder,
  type UpstreamProtocol,
} from './upstream-decoder.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER, USER_ID_HEADER } from './webhook-signature.js';

/** Options of {@link createWebhookAgent}; flags in docs/agents.md. */
export interface WebhookAgentOptions {
  /** `--agent-url`: where user messages are POSTed. */
  readonly url: string;
  /** `--agent-secret`: the HMAC key of `X-Agentcast-Signature`. */
  readonly secret: string;
  /** Each request (the first, or a continuation after an approval), sent to last line, may take this long. Default 120000. */
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
  /**
   * `--agent-protocol`: what the backend speaks (docs/agents.md). `agentcast` (default): agentcast's own
   * request, agentcast or AG-UI events back. `ag-ui`: a standard AG-UI agent server. `ai-sdk`: an AI SDK
   * route answering a UI message stream.
   */
  readonly protocol?: AgentProtocol;
}

/**
 * The built-in `webhook` agent (docs/agents.md): POSTs the run's message to a backend, signed with
 * HMAC-SHA256, in the request of its `protocol` (agentcast's `{run_id, user_id, message}`, AG-UI's
 * `RunAgentInput`, the AI SDK's chat body), and streams the response body back (NDJSON or SSE, by its
 * content type), each event published as it arrives. Whatever goes wrong (non-2xx, a redirect, bad line, stall, drop, timeout,
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
  const protocolName = options.protocol ?? 'agentcast';
  if (!AGENT_PROTOCOLS.includes(protocolName)) {
    throw agentInvalid(`createWebhookAgent: protocol must be one of ${AGENT_PROTOCOLS.join(', ')}`);
  }
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
  const protocol = UPSTREAMS[protocolName](settings);
  return defineAgent({
    name: options.name ?? 'webhook',
    run: (input, ctx) => exchange(settings, protocol, input, ctx),
  });
}

/** The request and decoder of each `--agent-protocol`. */
const UPSTREAMS: Record<AgentProtocol, (settings: DecoderSettings) => UpstreamProtocol> = {
  agentcast: agentcastProtocol,
  'ag-ui': agUiProtocol,
  'ai-sdk': aiSdkProtocol,
};

type Settings = Required<Omit<WebhookAgentOptions, 'name' | 'protocol'>>;

/** One request's outcome: the run ended (its terminal was yielded), or the body paused it on questions. */
type RequestEnd =
  | { readonly kind: 'ended' }
  | { readonly kind: 'approval'; readonly questions: readonly Question[] };

/**
 * The run's exchange with the backend: one request, and after each body that paused the run on questions
 * (an `approval_requested` line, an AG-UI interrupt), the user's answer to each through `ctx.approval()`,
 * one at a time, and one signed continuation request carrying them (docs/agents.md, "Approvals: the
 * continuation"). One decoder reads every body of the run, so what spans them (text, open tool calls) holds.
 */
async function* exchange(
  settings: Settings,
  protocol: UpstreamProtocol,
  input: AgentInput,
  ctx: AgentContext,
): AsyncGenerator<AgentEvent, unknown, undefined> {
  const decoder = protocol.decoder();
  let answers: ContinuationAnswer[] | undefined;
  for (;;) {
    const body = protocol.body({ input, userId: ctx.userId, runId: ctx.runId, answers });
    const end = yield* request(settings, protocol, decoder, JSON.stringify(body), ctx);
    if (end.kind === 'ended') return;
    answers = [];
    for (const question of end.questions) {
      const answer = await ctx.approval(question.request);
      // The run ended while it waited (cancelled, drained): its terminal is the runtime's, nothing to send.
      if (ctx.signal.aborted || answer.approval_id === undefined) return;
      const { approval_id, decision } = answer;
      answers.push({ approval_id, decision, reason: answer.reason ?? null, ref: question.ref });
    }
  }
}

/** One signed POST and its response body, decoded as it arrives. */
async function* request(
  settings: Settings,
  protocol: UpstreamProtocol,
  decoder: UpstreamDecoder,
  body: string,
  ctx: AgentContext,
): AsyncGenerator<AgentEvent, RequestEnd, undefined> {
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
          accept: protocol.accept,
          [SIGNATURE_HEADER]: signWebhook(settings.secret, timestamp, body),
          [TIMESTAMP_HEADER]: timestamp,
          // Percent-encoded: a header value is Latin-1, a user id may be any text.
          [USER_ID_HEADER]: encodeURIComponent(ctx.userId),
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
    const frames = frameReader(response.headers.get('content-type'), settings.maxLineLength);
    for (;;) {
      guard.arm();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw guard.failure(RunErrorCode.WebhookDisconnected, error);
      }
      guard.disarm();
      const split = chunk.done ? frames.finish() : frames.push(chunk.value);
      if (!split.ok) throw new AgentRunError(RunErrorCode.WebhookInvalidLine, split.message);
      for (const frame of split.frames) {
        const decoded = decoder.frame(frame);
        if (!decoded.ok) throw new AgentRunError(RunErrorCode.WebhookInvalidLine, decoded.message);
        for (const event of decoded.events) {
          yield event;
          // The run ends with the terminal event; the rest of the body is not read.
          if (event.type === EventType.AgentCompleted) return { kind: 'ended' };
        }
        if (decoded.last === true) return yield* ending(decoder);
      }
      if (chunk.done) return yield* ending(decoder);
    }
  } finally {
    guard.close();
    // Frees the connection when the run ended before the body did (terminal event, cancel, error).
    reader?.cancel().catch(() => {
      // The body already failed or ended; cancelling it has nothing left to release.
    });
  }
}

/** What the end of a body means: the run ended, it paused on questions, or the body was cut. */
async function* ending(decoder: UpstreamDecoder): AsyncGenerator<AgentEvent, RequestEnd, undefined> {
  const end = decoder.end();
  if (end.kind === 'incomplete') throw new AgentRunError(RunErrorCode.WebhookIncomplete, end.message);
  if (end.kind === 'approval') return end;
  yield* end.events;
  return { kind: 'ended' };
}
