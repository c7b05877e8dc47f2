import type { JsonObject, RunStatus } from './protocol/wire.js';

/**
 * An event as the server delivers it (docs/protocol.md §3): snake_case, exactly as on the wire. `seq` is per
 * user and gap-free within `epoch`; `run_id` is present on agent-run events.
 */
export interface AgentEvent<Data extends JsonObject = JsonObject> {
  readonly type: string;
  readonly seq: number;
  readonly epoch: string;
  /** ISO-8601 time the gateway stored it. */
  readonly ts: string;
  readonly run_id?: string;
  readonly data: Data;
  /** The W3C `traceparent` of the publish request, when it carried one (docs/protocol.md D, "Trace context"). */
  readonly meta?: { readonly traceparent: string };
}

/**
 * The required `data` fields of the golden-path event types (docs/protocol.md §3); more fields may be
 * present.
 */
export interface EventDataMap {
  agent_started: { agent_name: string; task_description: string } & JsonObject;
  agent_thinking: { reasoning: string } & JsonObject;
  tool_executing: { tool_name: string; tool_args: JsonObject; execution_id: string } & JsonObject;
  tool_completed: {
    tool_name: string;
    execution_id: string;
    success: boolean;
    results: unknown;
    duration_ms: number;
  } & JsonObject;
  agent_completed: {
    status: RunStatus;
    final_response: string | null;
    error?: { code: string; message: string };
  } & JsonObject;
  stream_chunk: { text: string } & JsonObject;
  notification: JsonObject;
}

/** The event type of a golden-path `type`, or the generic event for any other type. */
export type EventOf<T extends string> = T extends keyof EventDataMap
  ? AgentEvent<EventDataMap[T]>
  : AgentEvent;
