import type { RunSnapshot } from '@agentcast/client';
import { readUIMessageStream, type UIMessage, type UIMessageChunk, uiMessageChunkSchema } from 'ai';
import { describe, expect, it } from 'vitest';
import {
  failureText,
  type UiMessageChunk,
  UiMessageEncoder,
} from '../../../../packages/server/src/edges/ai-sdk/ui-message-encoder.js';
import type { NewEvent, StoredEvent } from '../../../../packages/server/src/protocol/events.js';

/**
 * The pure mapping of docs/protocol.md J: agentcast events and snapshots -> AI SDK UI message chunks. Every
 * chunk is checked with the SDK's own uiMessageChunkSchema, and the message is assembled with the SDK's
 * own readUIMessageStream.
 */

const RUN = 'r_1';

function stored(events: readonly NewEvent[], firstSeq = 1): StoredEvent[] {
  return events.map((e, i) => ({ ...e, run_id: RUN, seq: firstSeq + i, epoch: 'e1', ts: 't' }));
}

const DEMO_RUN: readonly NewEvent[] = [
  { type: 'agent_started', data: { agent_name: 'demo', task_description: 'q' } },
  { type: 'agent_thinking', data: { reasoning: 'Plan: ' } },
  { type: 'agent_thinking', data: { reasoning: 'compute.' } },
  {
    type: 'tool_executing',
    data: { tool_name: 'web_search', tool_args: { query: 'q' }, execution_id: 'x_1' },
  },
  {
    type: 'tool_completed',
    data: { tool_name: 'web_search', execution_id: 'x_1', success: true, results: [1], duration_ms: 1 },
  },
  {
    type: 'tool_executing',
    data: { tool_name: 'calculator', tool_args: { expression: '1/0' }, execution_id: 'x_2' },
  },
  {
    type: 'tool_completed',
    data: {
      tool_name: 'calculator',
      execution_id: 'x_2',
      success: false,
      results: null,
      duration_ms: 1,
      error: { code: 'CALCULATOR_ERROR', message: 'division by zero' },
    },
  },
  { type: 'stream_chunk', data: { text: 'Hello ' } },
  { type: 'stream_chunk', data: { text: 'world.' } },
  { type: 'notification', data: { level: 'info' } },
  { type: 'stream_chunk', data: { text: ' Bye.' } },
  { type: 'agent_completed', data: { status: 'succeeded', final_response: 'Hello world. Bye.' } },
];

async function checkChunks(chunks: readonly UiMessageChunk[]): Promise<void> {
  const schema = uiMessageChunkSchema();
  for (const chunk of chunks) {
    const result = await schema.validate?.(chunk);
    expect(result?.success, JSON.stringify(chunk)).toBe(true);
  }
}

async function assemble(chunks: readonly UiMessageChunk[]): Promise<UIMessage> {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk as UIMessageChunk);
      controller.close();
    },
  });
  let last: UIMessage | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  if (last === undefined) throw new Error('no message');
  return last;
}

function encodeAll(events: readonly StoredEvent[], encoder = new UiMessageEncoder()): UiMessageChunk[] {
  return events.flatMap((e) => encoder.event(e));
}

describe('UiMessageEncoder', () => {
  it('maps a run to chunks the SDK accepts and assembles: text per stretch, reasoning, tools, data, finish', async () => {
    const chunks = encodeAll(stored(DEMO_RUN));
    await checkChunks(chunks);
    expect(chunks.slice(0, 2)).toEqual([{ type: 'start', messageId: RUN }, { type: 'start-step' }]);
    expect(chunks.at(-1)).toEqual({ type: 'finish', finishReason: 'stop' });
    const message = await assemble(chunks);
    expect(message.id).toBe(RUN);
    const parts = message.parts.map((p) => p.type);
    expect(parts).toEqual([
      'step-start',
      'reasoning',
      'tool-web_search',
      'tool-calculator',
      'text',
      'data-notification',
      'text',
    ]);
    expect(message.parts[1]).toMatchObject({ text: 'Plan: compute.', state: 'done' });
    expect(message.parts[2]).toMatchObject({ toolCallId: 'x_1', state: 'output-available', output: [1] });
    expect(message.parts[3]).toMatchObject({ state: 'output-error', errorText: 'division by zero' });
    expect(message.parts[4]).toMatchObject({ text: 'Hello world.', state: 'done' });
    expect(message.parts[6]).toMatchObject({ text: ' Bye.', state: 'done' });
  });

  it('renders a snapshot, then continues the open text with later events: the same message, each piece once', async () => {
    const events = stored(DEMO_RUN);
    const snapshot: RunSnapshot = {
      run_id: RUN,
      status: 'running',
      started_at: 't',
      text: 'Hello ',
      reasoning: 'Plan: compute.',
      tools: [
        {
          execution_id: 'x_1',
          tool_name: 'web_search',
          tool_args: { query: 'q' },
          success: true,
          results: [1],
        },
        {
          execution_id: 'x_2',
          tool_name: 'calculator',
          tool_args: { expression: '1/0' },
          success: false,
          results: null,
        },
      ],
      approvals: [],
      last_seq: 8,
      epoch: 'e1',
      truncated: false,
    };
    const encoder = new UiMessageEncoder();
    const chunks = [...encoder.snapshot(snapshot), ...encodeAll(events.slice(8), encoder)];
    await checkChunks(chunks);
    const resumed = await assemble(chunks);
    const live = await assemble(encodeAll(events));
    // The snapshot keeps no tool error message: the generic one stands in for it.
    expect(resumed.parts[3]).toMatchObject({ state: 'output-error', errorText: 'the tool failed' });
    expect({ ...resumed, parts: resumed.parts.filter((_, i) => i !== 3) }).toEqual({
      ...live,
      parts: live.parts.filter((_, i) => i !== 3),
    });
  });

  it('ends a cancelled run with abort, a failed one with a generic error and finish', async () => {
    const started = DEMO_RUN.slice(0, 1);
    const cancelled = encodeAll(
      stored([
        ...started,
        {
          type: 'agent_completed',
          data: { status: 'cancelled', final_response: null, error: { code: 'CANCELLED', message: 'x' } },
        },
      ]),
    );
    await checkChunks(cancelled);
    expect(cancelled.at(-1)).toEqual({ type: 'abort', reason: 'CANCELLED' });
    const failed = encodeAll(
      stored([
        ...started,
        { type: 'stream_chunk', data: { text: 'a' } },
        {
          type: 'agent_completed',
          data: {
            status: 'failed',
            final_response: null,
            error: { code: 'AGENT_ERROR', message: 'redis at 10.0.0.1' },
          },
        },
      ]),
    );
    await checkChunks(failed);
    expect(failed.slice(-3)).toEqual([
      { type: 'finish-step' },
      { type: 'error', errorText: 'The agent failed to answer. (AGENT_ERROR)' },
      { type: 'finish', finishReason: 'error' },
    ]);
    expect(JSON.stringify(failed)).not.toContain('10.0.0.1');
    expect(failureText('TIMEOUT')).toBe('The run took too long and was stopped. (TIMEOUT)');
    expect(failureText(undefined)).toBe('The agent failed to answer.');
    const encoder = new UiMessageEncoder();
    encodeAll(stored(DEMO_RUN), encoder);
    expect(encoder.ended).toBe(true);
    expect(encoder.event(stored(DEMO_RUN)[7] as StoredEvent)).toEqual([]);
  });

  it('maps an approval to the SDK tool approval parts; the approved tool completes the same part', async () => {
    const approval = {
      type: 'approval_requested',
      data: {
        approval_id: 'a_1',
        tool_name: 'send_email',
        tool_args: { to: 'x' },
        message: 'Send it?',
        expires_at: 't',
      },
    };
    const approvedRun = stored([
      DEMO_RUN[0] as NewEvent,
      approval,
      { type: 'approval_resolved', data: { approval_id: 'a_1', decision: 'approved', by: 'user' } },
      {
        type: 'tool_executing',
        data: { tool_name: 'send_email', tool_args: { to: 'x' }, execution_id: 'x_9' },
      },
      {
        type: 'tool_completed',
        data: {
          tool_name: 'send_email',
          execution_id: 'x_9',
          success: true,
          results: 'sent',
          duration_ms: 1,
        },
      },
      { type: 'agent_completed', data: { status: 'succeeded', final_response: '' } },
    ]);
    const chunks = encodeAll(approvedRun);
    await checkChunks(chunks);
    expect(chunks).toContainEqual({
      type: 'tool-approval-request',
      approvalId: 'a_1',
      toolCallId: 'a_1',
      reason: 'Send it?',
    });
    const message = await assemble(chunks);
    const tools = message.parts.filter((p) => p.type === 'tool-send_email');
    expect(tools).toHaveLength(1);
    expect(tools[0]).toMatchObject({
      state: 'output-available',
      output: 'sent',
      approval: { id: 'a_1', approved: true },
    });

    // The same run from its snapshot: one part again.
    const snapshot: RunSnapshot = {
      run_id: RUN,
      status: 'succeeded',
      started_at: 't',
      text: '',
      reasoning: '',
      tools: [
        {
          execution_id: 'x_9',
          tool_name: 'send_email',
          tool_args: { to: 'x' },
          success: true,
          results: 'sent',
        },
      ],
      approvals: [
        {
          ...(approval.data as {
            approval_id: string;
            tool_name: string;
            message: string;
            expires_at: string;
            tool_args: { to: string };
          }),
          decision: 'approved',
          by: 'user',
        },
      ],
      last_seq: 6,
      epoch: 'e1',
      truncated: false,
    };
    const fromSnapshot = await assemble(new UiMessageEncoder().snapshot(snapshot));
    expect(fromSnapshot.parts.filter((p) => p.type === 'tool-send_email')).toEqual(tools);

    // Denied: the SDK's denied output; a stream that starts after the question knows it from the snapshot.
    const encoder = new UiMessageEncoder();
    encoder.knowApprovals(snapshot.approvals);
    const denied = encodeAll(
      stored([
        { type: 'approval_resolved', data: { approval_id: 'a_1', decision: 'expired', by: 'timeout' } },
      ]),
      encoder,
    );
    await checkChunks(denied);
    expect(denied).toEqual([
      { type: 'tool-approval-response', approvalId: 'a_1', approved: false },
      { type: 'tool-output-denied', toolCallId: 'a_1' },
    ]);
  });
});
