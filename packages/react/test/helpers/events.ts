import type { AgentEvent } from '@agentcast/client';

/** Builds events the way the gateway sends them, numbering seq per epoch. */
export class EventFactory {
  readonly #next = new Map<string, number>();
  epoch: string;

  constructor(epoch = 'e1') {
    this.epoch = epoch;
  }

  event(type: string, data: Record<string, unknown>, runId?: string): AgentEvent {
    const seq = (this.#next.get(this.epoch) ?? 0) + 1;
    this.#next.set(this.epoch, seq);
    return {
      type,
      seq,
      epoch: this.epoch,
      ts: new Date(0).toISOString(),
      ...(runId === undefined ? {} : { run_id: runId }),
      data: data as AgentEvent['data'],
    };
  }

  /** The golden path of one run: started, thinking, one tool call, `chunks`, completed. */
  run(runId: string, chunks: readonly string[] = ['Hello ', 'world']): AgentEvent[] {
    return [
      this.event('agent_started', { agent_name: 'demo', task_description: 'q' }, runId),
      this.event('agent_thinking', { reasoning: 'hm' }, runId),
      this.event(
        'tool_executing',
        { tool_name: 'calculator', tool_args: { expression: '1+1' }, execution_id: `${runId}-x1` },
        runId,
      ),
      this.event(
        'tool_completed',
        { tool_name: 'calculator', execution_id: `${runId}-x1`, success: true, results: 2, duration_ms: 5 },
        runId,
      ),
      ...chunks.map((text) => this.event('stream_chunk', { text }, runId)),
      this.event('agent_completed', { status: 'succeeded', final_response: chunks.join('') }, runId),
    ];
  }
}
