import type { JsonObject } from '../protocol/events.js';
import { NdjsonSplitter } from '../protocol/ndjson-splitter.js';
import type { AgentEvent, AgentInput } from './define-agent.js';
import type { ApprovalRequest } from './run-approval.js';
import { SseReader } from './sse-reader.js';

export { AGENT_PROTOCOLS, type AgentProtocol } from '../config/options.js';

/** One unit of a response body: an NDJSON line or a server-sent event's data, and where it was. */
export interface Frame {
  /** `line 3`, `event at line 7`: how error messages name the frame. */
  readonly where: string;
  readonly text: string;
}

/** Frames completed by a chunk, or why the body is unusable. */
export type FrameOutcome =
  | { readonly ok: true; readonly frames: readonly Frame[] }
  | { readonly ok: false; readonly message: string };

/** Splits a response body into frames. */
export interface FrameReader {
  push(chunk: Uint8Array): FrameOutcome;
  finish(): FrameOutcome;
}

/**
 * The framing of a response body, by its content type (docs/agents.md, "Reading the response"):
 * `text/event-stream` is read as server-sent events (one frame per event's data), anything else as NDJSON
 * (one frame per line). Both are bounded by `maxLength` (`--agent-max-line-length`).
 */
export function frameReader(contentType: string | null, maxLength: number): FrameReader {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'text/event-stream') {
    const sse = new SseReader(maxLength);
    const frames = (outcome: ReturnType<SseReader['push']>): FrameOutcome =>
      outcome.ok
        ? {
            ok: true,
            frames: outcome.events.map((e) => ({ where: `event at line ${e.number}`, text: e.data })),
          }
        : outcome;
    return { push: (chunk) => frames(sse.push(chunk)), finish: () => frames(sse.finish()) };
  }
  const ndjson = new NdjsonSplitter(maxLength);
  const frames = (outcome: ReturnType<NdjsonSplitter['push']>): FrameOutcome =>
    outcome.ok
      ? { ok: true, frames: outcome.lines.map((l) => ({ where: `line ${l.number}`, text: l.text })) }
      : outcome;
  return { push: (chunk) => frames(ndjson.push(chunk)), finish: () => frames(ndjson.finish()) };
}

/**
 * The agentcast events a frame maps to, or why it is refused (the run ends WEBHOOK_INVALID_LINE). `last`:
 * the frame closed the body for the run (an AG-UI interrupt): nothing after it is read, `end()` says what
 * comes next.
 */
export type DecodeOutcome =
  | { readonly ok: true; readonly events: readonly AgentEvent[]; readonly last?: true }
  | { readonly ok: false; readonly message: string };

/** One question a body paused the run on; `ref` is the protocol's own id of it (an AG-UI interrupt's id). */
export interface Question {
  readonly request: ApprovalRequest;
  readonly ref?: string;
}

/** What the end of a response body means for the run. */
export type BodyEnd =
  /** The body ended the run properly (the AI SDK's `[DONE]`): these events, the last a terminal. */
  | { readonly kind: 'ended'; readonly events: readonly AgentEvent[] }
  /**
   * The body paused the run on questions (an `approval_requested` line, an AG-UI interrupt): the run asks
   * its user each, one at a time, then continues in one more request carrying the answers.
   */
  | { readonly kind: 'approval'; readonly questions: readonly Question[] }
  /** The body was cut: the run fails WEBHOOK_INCOMPLETE with `message`. */
  | { readonly kind: 'incomplete'; readonly message: string };

/**
 * Maps response bodies' frames onto agentcast events; one per run, holding what spans frames and requests
 * (the text of `final_response`, tool calls an interrupt left open). `end()` ends one body.
 */
export interface UpstreamDecoder {
  frame(frame: Frame): DecodeOutcome;
  end(): BodyEnd;
}

/** How the user answered the question a body ended on: sent back in the continuation request. */
export interface ContinuationAnswer {
  readonly approval_id: string;
  readonly decision: string;
  readonly reason: string | null;
  /** The question's {@link Question.ref}. */
  readonly ref?: string | undefined;
}

/** What a request to the backend is about. */
export interface UpstreamCall {
  readonly input: AgentInput;
  readonly userId: string;
  readonly runId: string;
  /** Set on a continuation request: the answers to the questions the last body paused on, in order. */
  readonly answers?: readonly ContinuationAnswer[] | undefined;
}

/** One protocol's side of the exchange: the request it sends and the decoder of what comes back. */
export interface UpstreamProtocol {
  /** The request's `Accept` header. */
  readonly accept: string;
  /** The request body (JSON). */
  body(call: UpstreamCall): JsonObject;
  /** A fresh decoder for one run's bodies. */
  decoder(): UpstreamDecoder;
}

/** What the decoders of every protocol share: the clock and the tool-call bounds. */
export interface DecoderSettings {
  readonly now: () => number;
  readonly maxToolCallLength: number;
  readonly maxOpenToolCalls: number;
}
