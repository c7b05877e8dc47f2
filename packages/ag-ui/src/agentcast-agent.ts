import {
  AbstractAgent,
  type AgentConfig,
  type BaseEvent,
  EventType,
  type RunAgentInput,
} from '@ag-ui/client';
import { Observable } from 'rxjs';
import { readSse, type SseFrame } from './sse-reader.js';

/** A token, or a function that returns a fresh one (called before every request). */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link AgentcastAgent}. */
export interface AgentcastAgentConfig extends AgentConfig {
  /** The gateway's base URL, e.g. `https://agents.example.com` (its AG-UI routes are under `/v1/ag-ui`). */
  readonly url: string;
  /** The user's JWT, sent as `Authorization: Bearer`. */
  readonly token: TokenSource;
  /** How many times a cut stream is resumed in a row before the run errors. Default 5. */
  readonly maxResumes?: number;
  /** Wait before the first resume, doubled for each next one in a row (ms). Default 250. */
  readonly resumeDelayMs?: number;
  /** The fetch to use. Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
}

/** What a stream of one run keeps between its connections. */
interface StreamState {
  /** The id of the last frame given, for Last-Event-ID. */
  lastId: string | undefined;
  /** The run, once its RUN_STARTED came. */
  runId: string | undefined;
  started: boolean;
  ended: boolean;
  /** Messages, reasoning spans and tool calls started and not yet ended, to end them before a resume. */
  readonly openText: Set<string>;
  readonly openReasoningMessages: Set<string>;
  readonly openReasoning: Set<string>;
  readonly openToolCalls: Set<string>;
  /** Every message and tool call of the run this stream has given: what a reset drops. */
  readonly messageIds: Set<string>;
  readonly toolCallIds: Set<string>;
}

/**
 * The CUSTOM event the gateway sends before a snapshot that answers a resume its history could no longer
 * serve (docs/protocol.md I): what this agent has of the run is dropped, the snapshot rebuilds it.
 */
export const RESET_EVENT = 'agentcast_reset';

const TERMINAL: ReadonlySet<string> = new Set([EventType.RUN_FINISHED, EventType.RUN_ERROR]);

/**
 * An AG-UI agent (for `@ag-ui/client` and CopilotKit) whose runs live on an agentcast gateway
 * (docs/agents.md, "AG-UI clients in front of agentcast"):
 * - `run()` POSTs the RunAgentInput to `/v1/ag-ui`: the last user message starts a run (idempotent by its
 *   id) and its AG-UI events stream back;
 * - a stream cut by the network resumes where it stopped (`GET /v1/ag-ui/runs/:run_id` with
 *   `Last-Event-ID`): the events continue exactly, nothing repeated, and text continues the message it was
 *   writing;
 * - `connect()` (`connectAgent()`) re-attaches the thread's live run after a reload: the run so far, then
 *   live, so a page that reloads mid-answer shows the answer whole and keeps streaming it.
 * Closing or aborting only detaches: the run goes on on the gateway (cancel it with `POST /v1/runs/:id/cancel`).
 */
export class AgentcastAgent extends AbstractAgent {
  readonly url: string;
  readonly #token: TokenSource;
  readonly #fetch: typeof fetch;
  readonly #maxResumes: number;
  readonly #resumeDelayMs: number;
  #abort = new AbortController();

  constructor(config: AgentcastAgentConfig) {
    super(config);
    this.url = config.url.replace(/\/+$/, '');
    this.#token = config.token;
    this.#fetch = config.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#maxResumes = config.maxResumes ?? 5;
    this.#resumeDelayMs = config.resumeDelayMs ?? 250;
  }

  run(input: RunAgentInput): Observable<BaseEvent> {
    return this.#stream(async (state, signal) => {
      if (state.runId === undefined) {
        // Nothing came yet: POST again. The same message id is the same run (idempotent), never a second.
        return this.#request('/v1/ag-ui', signal, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
          body: JSON.stringify(input),
        });
      }
      return this.#resume(state, signal);
    });
  }

  /**
   * Re-attaches the thread's active run (the most recently active one): its events so far, then live.
   * Completes at once when the thread has none.
   */
  protected override connect(input: RunAgentInput): Observable<BaseEvent> {
    return this.#stream(async (state, signal) => {
      if (state.runId === undefined) {
        const query = new URLSearchParams({ state: 'active', thread_id: input.threadId, limit: '1' });
        const found = await this.#request(`/v1/runs?${query}`, signal, { method: 'GET' });
        const { runs } = (await found.json()) as { runs: readonly { run_id: string }[] };
        const active = runs[0];
        if (active === undefined) return undefined;
        state.runId = active.run_id;
      }
      return this.#resume(state, signal);
    });
  }

  override abortRun(): void {
    this.#abort.abort();
    this.#abort = new AbortController();
    super.abortRun();
  }

  override clone(): AgentcastAgent {
    return new AgentcastAgent({
      url: this.url,
      token: this.#token,
      fetch: this.#fetch,
      maxResumes: this.#maxResumes,
      resumeDelayMs: this.#resumeDelayMs,
      threadId: this.threadId,
      initialMessages: structuredClone(this.messages),
      initialState: structuredClone(this.state),
      ...(this.agentId === undefined ? {} : { agentId: this.agentId }),
      description: this.description,
    });
  }

  /**
   * A MESSAGES_SNAPSHOT of the agent's messages without what `state`'s run has given (its text, reasoning,
   * tool calls and their results): after a reset the run's snapshot draws them again, whole, once.
   */
  #withoutRun(state: StreamState): BaseEvent {
    const messages = this.messages.filter((m) => {
      if (state.messageIds.has(m.id)) return false;
      if (m.role === 'tool') return !state.toolCallIds.has(m.toolCallId);
      return !(m.role === 'assistant' && m.toolCalls?.some((call) => state.toolCallIds.has(call.id)));
    });
    state.messageIds.clear();
    state.toolCallIds.clear();
    return { type: EventType.MESSAGES_SNAPSHOT, messages } as BaseEvent;
  }

  /** GET /v1/ag-ui/runs/:run_id, after the last frame given when there is one. */
  #resume(state: StreamState, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (state.lastId !== undefined) headers['Last-Event-ID'] = state.lastId;
    return this.#request(`/v1/ag-ui/runs/${encodeURIComponent(state.runId as string)}`, signal, {
      method: 'GET',
      headers,
    });
  }

  async #request(path: string, signal: AbortSignal, init: RequestInit): Promise<Response> {
    const token = typeof this.#token === 'string' ? this.#token : await this.#token();
    const response = await this.#fetch(`${this.url}${path}`, {
      ...init,
      signal,
      headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
    });
    if (!response.ok) {
      throw new AgentcastHttpError(response.status, await response.text());
    }
    return response;
  }

  /**
   * One run's events across as many connections as it takes: `open` makes the next connection (undefined:
   * nothing to stream). A connection that ends before RUN_FINISHED / RUN_ERROR, or fails on the network,
   * is resumed after the last frame given; the resumed stream's RUN_STARTED is left out, and what the
   * cut left open is ended first, so the run reads as one stream to AG-UI's verifier.
   */
  #stream(
    open: (state: StreamState, signal: AbortSignal) => Promise<Response | undefined>,
  ): Observable<BaseEvent> {
    return new Observable<BaseEvent>((subscriber) => {
      const abort = new AbortController();
      const outer = this.#abort.signal;
      const onAbort = () => abort.abort();
      outer.addEventListener('abort', onAbort);
      const state: StreamState = {
        lastId: undefined,
        runId: undefined,
        started: false,
        ended: false,
        openText: new Set(),
        openReasoningMessages: new Set(),
        openReasoning: new Set(),
        openToolCalls: new Set(),
        messageIds: new Set(),
        toolCallIds: new Set(),
      };
      const give = (frame: SseFrame): void => {
        const { event } = frame;
        if (frame.id !== undefined) state.lastId = frame.id;
        if (event.type === EventType.RUN_STARTED) {
          state.runId ??= (event as BaseEvent & { runId: string }).runId;
          if (state.started) return;
          state.started = true;
        }
        if (event.type === EventType.CUSTOM && (event as BaseEvent & { name: string }).name === RESET_EVENT) {
          subscriber.next(this.#withoutRun(state));
        }
        track(state, event);
        if (TERMINAL.has(event.type)) state.ended = true;
        subscriber.next(event);
      };
      const loop = async (): Promise<void> => {
        let failures = 0;
        for (;;) {
          let cut: unknown;
          let gave = false;
          try {
            const response = await open(state, abort.signal);
            if (response === undefined) break;
            for (const event of endOpen(state)) subscriber.next(event);
            for await (const frame of readSse(response)) {
              gave = true;
              give(frame);
            }
          } catch (error) {
            if (abort.signal.aborted || error instanceof AgentcastHttpError) throw error;
            cut = error;
          }
          if (state.ended || abort.signal.aborted) break;
          failures = gave ? 1 : failures + 1;
          if (failures > this.#maxResumes) {
            throw new Error(`the stream of run ${state.runId ?? '?'} was cut ${failures} times in a row`, {
              cause: cut,
            });
          }
          await sleep(this.#resumeDelayMs * 2 ** (failures - 1), abort.signal);
        }
      };
      loop().then(
        () => subscriber.complete(),
        (error: unknown) => {
          if (abort.signal.aborted) subscriber.complete();
          else subscriber.error(error);
        },
      );
      return () => {
        outer.removeEventListener('abort', onAbort);
        abort.abort();
      };
    });
  }
}

/** A refused request: the gateway's status and its JSON error (docs/protocol.md D, I). */
export class AgentcastHttpError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`HTTP ${status}: ${body}`);
    this.name = 'AgentcastHttpError';
    this.status = status;
    this.body = body;
  }
}

/** Keeps what is open in `state` as `event` opens or ends it. */
function track(state: StreamState, event: BaseEvent): void {
  const e = event as BaseEvent & { messageId?: string; toolCallId?: string };
  if (e.messageId !== undefined) state.messageIds.add(e.messageId);
  if (e.toolCallId !== undefined) state.toolCallIds.add(e.toolCallId);
  switch (event.type) {
    case EventType.TEXT_MESSAGE_START:
      state.openText.add(e.messageId as string);
      break;
    case EventType.TEXT_MESSAGE_END:
      state.openText.delete(e.messageId as string);
      break;
    case EventType.REASONING_START:
      state.openReasoning.add(e.messageId as string);
      break;
    case EventType.REASONING_END:
      state.openReasoning.delete(e.messageId as string);
      break;
    case EventType.REASONING_MESSAGE_START:
      state.openReasoningMessages.add(e.messageId as string);
      break;
    case EventType.REASONING_MESSAGE_END:
      state.openReasoningMessages.delete(e.messageId as string);
      break;
    case EventType.TOOL_CALL_START:
      state.openToolCalls.add(e.toolCallId as string);
      break;
    case EventType.TOOL_CALL_END:
      state.openToolCalls.delete(e.toolCallId as string);
      break;
  }
}

/**
 * Ends what a cut left open before the resumed events: the gateway names a text message the same on
 * every stream of a run, so the resumed stream starts it again and AG-UI clients append to the message
 * they have.
 */
function endOpen(state: StreamState): BaseEvent[] {
  const out: BaseEvent[] = [];
  for (const messageId of state.openText)
    out.push({ type: EventType.TEXT_MESSAGE_END, messageId } as BaseEvent);
  for (const messageId of state.openReasoningMessages)
    out.push({ type: EventType.REASONING_MESSAGE_END, messageId } as BaseEvent);
  for (const messageId of state.openReasoning)
    out.push({ type: EventType.REASONING_END, messageId } as BaseEvent);
  for (const toolCallId of state.openToolCalls)
    out.push({ type: EventType.TOOL_CALL_END, toolCallId } as BaseEvent);
  state.openText.clear();
  state.openReasoningMessages.clear();
  state.openReasoning.clear();
  state.openToolCalls.clear();
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
