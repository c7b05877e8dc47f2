import { AbstractAgent, type BaseEvent, type Message, type RunAgentInput } from '@ag-ui/client';
import { EventSchema } from '@ag-ui/core/schemas';
import { EventEncoder } from '@ag-ui/encoder';
import type { JsonObject, RunSnapshot } from '@agentcast/client';
import { from, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  AG_UI_RESET,
  type AgUiFrame,
  AgUiRunEncoder,
  agUiSseFrame,
  textMessageId,
} from '../../../../packages/server/src/edges/ag-ui/ag-ui-encoder.js';
import type { StoredEvent } from '../../../../packages/server/src/protocol/events.js';

const RUN = 'r_1';
const THREAD = 't_1';

function stored(seq: number, type: string, data: JsonObject): StoredEvent {
  return { type, run_id: RUN, data, seq, epoch: 'e1', ts: new Date(1_700_000_000_000 + seq).toISOString() };
}

/** A demo-like run: thinking, a tool call and its result, text, a notification, the end. */
const RUN_EVENTS: readonly StoredEvent[] = [
  stored(1, 'agent_started', { agent_name: 'demo', task_description: 'what is 6*7', thread_id: THREAD }),
  stored(2, 'stream_chunk', { text: 'Let me ' }),
  stored(3, 'stream_chunk', { text: 'check.' }),
  stored(4, 'agent_thinking', { reasoning: 'multiply' }),
  stored(5, 'tool_executing', { tool_name: 'calculator', tool_args: { expr: '6*7' }, execution_id: 'x_1' }),
  stored(6, 'tool_completed', {
    tool_name: 'calculator',
    execution_id: 'x_1',
    success: true,
    results: { value: 42 },
    duration_ms: 3,
  }),
  stored(7, 'stream_chunk', { text: 'It is ' }),
  stored(8, 'notification', { level: 'info' }),
  stored(9, 'stream_chunk', { text: '42.' }),
  stored(10, 'agent_completed', { status: 'succeeded', final_response: 'It is 42.' }),
];

/** An AG-UI agent whose run is a fixed list of events: runAgent() puts them through the client's pipeline. */
class ReplayAgent extends AbstractAgent {
  constructor(private readonly events: readonly BaseEvent[]) {
    super({ threadId: THREAD });
  }
  run(_input: RunAgentInput): Observable<BaseEvent> {
    return from(this.events);
  }
}

/** Runs `frames` through @ag-ui/client's verify + apply pipeline: the messages it builds. */
async function applied(frames: readonly AgUiFrame[], initial: Message[] = []): Promise<Message[]> {
  const agent = new ReplayAgent(frames.map((f) => f.event as BaseEvent));
  agent.messages = initial;
  await agent.runAgent();
  return agent.messages;
}

function encodeAll(
  events: readonly StoredEvent[],
  encoder = new AgUiRunEncoder({ runId: RUN, threadId: THREAD }),
) {
  return events.flatMap((ev) => encoder.event(ev));
}

describe('AgUiRunEncoder (docs/protocol.md I)', () => {
  it('maps a run onto AG-UI events that @ag-ui/core accepts, each with the id of its agentcast event', () => {
    const frames = encodeAll(RUN_EVENTS);
    for (const frame of frames)
      expect(EventSchema.safeParse(frame.event).success, frame.event.type).toBe(true);
    expect(frames.map((f) => `${f.id} ${f.event.type}`)).toEqual([
      'e1:1 RUN_STARTED',
      'e1:2 TEXT_MESSAGE_START',
      'e1:2 TEXT_MESSAGE_CONTENT',
      'e1:3 TEXT_MESSAGE_CONTENT',
      'e1:4 TEXT_MESSAGE_END',
      'e1:4 REASONING_START',
      'e1:4 REASONING_MESSAGE_START',
      'e1:4 REASONING_MESSAGE_CONTENT',
      'e1:4 REASONING_MESSAGE_END',
      'e1:4 REASONING_END',
      'e1:5 TOOL_CALL_START',
      'e1:5 TOOL_CALL_ARGS',
      'e1:5 TOOL_CALL_END',
      'e1:6 TOOL_CALL_RESULT',
      'e1:7 TEXT_MESSAGE_START',
      'e1:7 TEXT_MESSAGE_CONTENT',
      'e1:8 CUSTOM',
      'e1:9 TEXT_MESSAGE_CONTENT',
      'e1:10 TEXT_MESSAGE_END',
      'e1:10 RUN_FINISHED',
    ]);
    expect(frames[0]?.event).toMatchObject({ threadId: THREAD, runId: RUN });
    expect(frames.at(-1)?.event).toMatchObject({ result: 'It is 42.' });
  });

  it("passes @ag-ui/client's verification and builds one message per stretch of text", async () => {
    const messages = await applied(encodeAll(RUN_EVENTS));
    const texts = messages.filter(
      (m) => m.role === 'assistant' && typeof m.content === 'string' && m.content,
    );
    expect(texts.map((m) => [m.id, m.content])).toEqual([
      [textMessageId(RUN, 0), 'Let me check.'],
      [textMessageId(RUN, 1), 'It is 42.'],
    ]);
    expect(messages.find((m) => m.role === 'tool')).toMatchObject({
      toolCallId: 'x_1',
      content: '{"value":42}',
    });
  });

  it('a resume after any event names messages as the first stream did, and the client builds each once', async () => {
    for (let cut = 1; cut < RUN_EVENTS.length; cut++) {
      const first = encodeAll(RUN_EVENTS.slice(0, cut));
      const toolCallsBefore = RUN_EVENTS.slice(0, cut).filter((e) => e.type === 'tool_executing').length;
      const resumed = encodeAll(
        RUN_EVENTS.slice(cut),
        new AgUiRunEncoder({ runId: RUN, threadId: THREAD, toolCallsBefore }),
      );
      const agent = new ReplayAgent([]);
      // The first stream was cut: its messages are what the client has; the resumed stream continues them.
      const partial = first.filter((f) => f.event.type !== 'RUN_FINISHED');
      (agent as unknown as { events: BaseEvent[] }).events = partial.map((f) => f.event as BaseEvent);
      await agent.runAgent().catch(() => undefined);
      const messages = await applied(resumed, agent.messages);
      const whole = await applied(encodeAll(RUN_EVENTS));
      expect(messages, `cut after seq ${cut}`).toEqual(whole);
    }
  });

  it('ends a failed run with RUN_ERROR and a cancelled one with the cancelled outcome', () => {
    const failed = encodeAll([
      stored(1, 'agent_started', { agent_name: 'demo', task_description: '' }),
      stored(2, 'stream_chunk', { text: 'half' }),
      stored(3, 'agent_completed', {
        status: 'failed',
        final_response: null,
        error: { code: 'WEBHOOK_FAILED', message: 'boom' },
      }),
      stored(4, 'stream_chunk', { text: 'after the end' }),
    ]);
    expect(failed.map((f) => f.event.type)).toEqual([
      'RUN_STARTED',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
      'TEXT_MESSAGE_END',
      'RUN_ERROR',
    ]);
    expect(failed.at(-1)?.event).toMatchObject({ code: 'WEBHOOK_FAILED', message: 'boom' });
    const timedOut = encodeAll([stored(1, 'agent_completed', { status: 'timed_out', final_response: null })]);
    expect(timedOut.at(-1)?.event).toMatchObject({ type: 'RUN_ERROR', code: 'RUN_TIMEOUT' });
    const cancelled = encodeAll([
      stored(1, 'agent_completed', {
        status: 'cancelled',
        final_response: null,
        error: { code: 'CANCELLED', message: '' },
      }),
    ]);
    expect(cancelled.at(-1)?.event).toMatchObject({ type: 'RUN_FINISHED', outcome: { type: 'cancelled' } });
    for (const f of [...failed, ...timedOut, ...cancelled])
      expect(EventSchema.safeParse(f.event).success).toBe(true);
  });

  it('carries approvals as CUSTOM approval_requested / approval_resolved, and a failed tool as an error result', async () => {
    const frames = encodeAll([
      stored(1, 'stream_chunk', { text: 'May I?' }),
      stored(2, 'approval_requested', {
        approval_id: 'a_1',
        tool_name: 'send_email',
        tool_args: { to: 'x' },
        message: 'Send it?',
        expires_at: '2030-01-01T00:00:00.000Z',
      }),
      stored(3, 'approval_resolved', { approval_id: 'a_1', decision: 'denied', by: 'user' }),
      stored(4, 'tool_executing', { tool_name: 'web_search', tool_args: {}, execution_id: 'x_2' }),
      stored(5, 'tool_completed', {
        tool_name: 'web_search',
        execution_id: 'x_2',
        success: false,
        results: 'offline',
        duration_ms: 1,
      }),
      stored(6, 'agent_completed', { status: 'succeeded', final_response: null }),
    ]);
    expect(frames.filter((f) => f.event.type === 'CUSTOM').map((f) => f.event)).toEqual([
      expect.objectContaining({
        name: 'approval_requested',
        value: expect.objectContaining({ approval_id: 'a_1', run_id: RUN }),
      }),
      expect.objectContaining({
        name: 'approval_resolved',
        value: expect.objectContaining({ decision: 'denied' }),
      }),
    ]);
    expect(frames.find((f) => f.event.type === 'TOOL_CALL_RESULT')?.event).toMatchObject({
      content: '{"error":"offline"}',
    });
    expect(frames.at(-1)?.event).not.toHaveProperty('result');
    await applied(frames);
  });

  it('renders a snapshot as the run folded, then continues it live in the same text message', async () => {
    const cut = 8; // after the notification: text of the second stretch is open
    const snapshot = foldedSnapshot(RUN_EVENTS.slice(0, cut));
    const encoder = new AgUiRunEncoder({ runId: RUN, threadId: THREAD });
    const frames = [...encoder.snapshot(snapshot), ...encodeAll(RUN_EVENTS.slice(cut), encoder)];
    for (const frame of frames) expect(EventSchema.safeParse(frame.event).success).toBe(true);
    expect(frames[0]?.id).toBe('e1:8');
    const messages = await applied(frames);
    const texts = messages.filter((m) => m.role === 'assistant' && m.content);
    // The snapshot does not say where text fell between tool calls: all of it is in the current message.
    expect(texts.map((m) => [m.id, m.content])).toEqual([[textMessageId(RUN, 1), 'Let me check.It is 42.']]);
    expect(messages.filter((m) => m.role === 'tool')).toHaveLength(1);
  });

  it('a reset snapshot sends only what the stream has not sent; an ended run snapshot ends the stream', async () => {
    const encoder = new AgUiRunEncoder({ runId: RUN, threadId: THREAD });
    const before = encodeAll(RUN_EVENTS.slice(0, 5), encoder);
    const reset = encoder.snapshot(foldedSnapshot(RUN_EVENTS.slice(0, 8)));
    expect(reset.map((f) => f.event.type)).toEqual([
      'TOOL_CALL_RESULT',
      'TEXT_MESSAGE_START',
      'TEXT_MESSAGE_CONTENT',
    ]);
    expect(reset[2]?.event).toMatchObject({ delta: 'It is ' });
    const after = encodeAll(RUN_EVENTS.slice(8), encoder);
    expect(encoder.ended).toBe(true);
    const messages = await applied([...before, ...reset, ...after]);
    expect(messages.filter((m) => m.role === 'assistant' && m.content).map((m) => m.content)).toEqual([
      'Let me check.',
      'It is 42.',
    ]);
    const ended = new AgUiRunEncoder({ runId: RUN, threadId: THREAD });
    const frames = ended.snapshot(foldedSnapshot(RUN_EVENTS));
    expect(frames.at(-1)?.event.type).toBe('RUN_FINISHED');
    expect(ended.snapshot(foldedSnapshot(RUN_EVENTS))).toEqual([]);
    expect(ended.event(RUN_EVENTS[1] as StoredEvent)).toEqual([]);
  });

  it('a reset snapshot of what was all sent already adds nothing; approvals sent are not repeated', () => {
    const encoder = new AgUiRunEncoder({ runId: RUN, threadId: THREAD });
    encodeAll(RUN_EVENTS.slice(0, 7), encoder);
    expect(encoder.snapshot(foldedSnapshot(RUN_EVENTS.slice(0, 7)))).toEqual([]);
    const asked = {
      approval_id: 'a_1',
      tool_name: 'send_email',
      tool_args: {},
      message: 'Send it?',
      expires_at: '2030-01-01T00:00:00.000Z',
    };
    encoder.event(stored(8, 'approval_requested', asked));
    const reset = encoder.snapshot({
      ...foldedSnapshot(RUN_EVENTS.slice(0, 7)),
      last_seq: 9,
      approvals: [{ ...asked, decision: 'approved', by: 'user' }],
    });
    expect(reset.map((f) => f.event)).toEqual([
      expect.objectContaining({
        name: 'approval_resolved',
        value: expect.objectContaining({ decision: 'approved' }),
      }),
    ]);
  });

  it('a thought without text is an empty reasoning message; a failed tool with null results an error result', () => {
    const frames = encodeAll([
      stored(1, 'agent_thinking', { reasoning: '' }),
      stored(2, 'tool_completed', {
        tool_name: 't',
        execution_id: 'x_9',
        success: false,
        results: null,
        duration_ms: 0,
      }),
    ]);
    expect(frames.map((f) => f.event.type)).not.toContain('REASONING_MESSAGE_CONTENT');
    expect(frames.at(-1)?.event).toMatchObject({ content: '{"error":null}' });
  });

  it('marks a snapshot that answers a reset with CUSTOM agentcast_reset, right after RUN_STARTED', () => {
    const frames = new AgUiRunEncoder({ runId: RUN, threadId: THREAD }).snapshot(
      foldedSnapshot(RUN_EVENTS.slice(0, 8)),
      'reset',
    );
    expect(frames.slice(0, 2).map((f) => f.event)).toEqual([
      expect.objectContaining({ type: 'RUN_STARTED' }),
      { type: 'CUSTOM', name: AG_UI_RESET, value: { run_id: RUN, epoch: 'e1', last_seq: 8 } },
    ]);
  });

  it('renders approvals of a snapshot, and a failed one as RUN_ERROR', () => {
    const snapshot: RunSnapshot = {
      ...foldedSnapshot([]),
      status: 'failed',
      error: { code: 'AGENT_ERROR', message: 'x' },
      reasoning: 'hmm',
      approvals: [
        {
          approval_id: 'a_1',
          tool_name: 't',
          tool_args: {},
          message: 'ok?',
          expires_at: 'z',
          decision: 'approved',
          by: 'user',
          reason: 'fine',
        },
        {
          approval_id: 'a_2',
          tool_name: 't',
          tool_args: {},
          message: 'ok?',
          expires_at: 'z',
          decision: 'expired',
        },
      ],
    };
    const frames = new AgUiRunEncoder({ runId: RUN, threadId: THREAD }).snapshot(snapshot);
    expect(frames.map((f) => f.event.type)).toEqual([
      'RUN_STARTED',
      'REASONING_START',
      'REASONING_MESSAGE_START',
      'REASONING_MESSAGE_CONTENT',
      'REASONING_MESSAGE_END',
      'REASONING_END',
      'CUSTOM',
      'CUSTOM',
      'CUSTOM',
      'CUSTOM',
      'RUN_ERROR',
    ]);
    expect(frames[7]?.event).toMatchObject({ value: { decision: 'approved', reason: 'fine', by: 'user' } });
    expect(frames[9]?.event).toMatchObject({ value: { decision: 'expired', by: 'user' } });
  });

  it('writes SSE frames as @ag-ui/encoder does, with the id line before', () => {
    const frame = encodeAll(RUN_EVENTS)[0] as AgUiFrame;
    const official = new EventEncoder().encodeSSE(frame.event as BaseEvent);
    expect(agUiSseFrame(frame)).toBe(`id: e1:1\n${official}`);
  });
});

/** The snapshot the gateway folds from `events` (docs/protocol.md F), built here by hand for the test. */
function foldedSnapshot(events: readonly StoredEvent[]): RunSnapshot {
  const tools: RunSnapshot['tools'][number][] = [];
  let text = '';
  let reasoning = '';
  let status: RunSnapshot['status'] = 'running';
  let final: string | null | undefined;
  for (const ev of events) {
    const d = ev.data as Record<string, unknown>;
    if (ev.type === 'stream_chunk') text += String(d.text);
    if (ev.type === 'agent_thinking') reasoning += String(d.reasoning);
    if (ev.type === 'tool_executing')
      tools.push({
        execution_id: String(d.execution_id),
        tool_name: String(d.tool_name),
        tool_args: d.tool_args as JsonObject,
      });
    if (ev.type === 'tool_completed') {
      const i = tools.findIndex((t) => t.execution_id === d.execution_id);
      tools[i] = {
        ...(tools[i] as RunSnapshot['tools'][number]),
        success: d.success as boolean,
        results: d.results,
      };
    }
    if (ev.type === 'agent_completed') {
      status = d.status as RunSnapshot['status'];
      final = d.final_response as string | null;
    }
  }
  return {
    run_id: RUN,
    thread_id: THREAD,
    status,
    started_at: new Date(1_700_000_000_000).toISOString(),
    text,
    reasoning,
    tools,
    approvals: [],
    ...(final === undefined ? {} : { final_response: final }),
    last_seq: events.at(-1)?.seq ?? 0,
    epoch: 'e1',
    truncated: false,
  };
}
