import { EventSchema } from '@ag-ui/core/schemas';
import { EventType, parseNewEvent } from '../protocol/events.js';
import { formatIssues } from '../protocol/issues.js';
import type { NdjsonLine } from '../protocol/ndjson-splitter.js';
import type { AgUiMapper, MapOutcome } from './ag-ui-mapping.js';

/** AG-UI event types are upper case (`RUN_STARTED`); agentcast types are lower case (docs/protocol.md §3). */
const AG_UI_TYPE = /^[A-Z][A-Z0-9_]*$/;
/** AG-UI before 1.0 called reasoning "thinking"; its content events still map to agent_thinking. */
const LEGACY_THINKING_CONTENT = 'THINKING_TEXT_MESSAGE_CONTENT';

/**
 * Reads one line of a webhook response (docs/agents.md): JSON text of either an agentcast event
 * `{type, data}` (validated with the protocol schema) or an AG-UI event (validated with `@ag-ui/core`'s
 * schema, then mapped by `mapper`). Failures name the line and the field: `line 3: data.text: …`,
 * `line 4: RUN_STARTED threadId: …`.
 */
export function parseWebhookLine(line: NdjsonLine, mapper: AgUiMapper): MapOutcome {
  const where = `line ${line.number}`;
  const value = parseJsonObject(line.text, where);
  return value.ok ? parseWebhookValue(value.value, where, mapper) : value;
}

/** A frame's JSON text as an object, or why it is not one (`<where>: not valid JSON`). */
export function parseJsonObject(
  text: string,
  where: string,
): { readonly ok: true; readonly value: object } | { readonly ok: false; readonly message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: `${where}: not valid JSON` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: `${where}: not a JSON object` };
  }
  return { ok: true, value };
}

/** {@link parseWebhookLine} of a value already parsed; `where` names its frame in messages. */
export function parseWebhookValue(value: object, where: string, mapper: AgUiMapper): MapOutcome {
  const type = (value as { type?: unknown }).type;
  if (typeof type === 'string' && AG_UI_TYPE.test(type)) return agUi(value, type, where, mapper);
  const parsed = parseNewEvent(value);
  if (!parsed.ok) return { ok: false, message: `${where}: ${parsed.message}` };
  return { ok: true, events: [{ type: parsed.value.type, data: parsed.value.data }] };
}

function agUi(value: object, type: string, where: string, mapper: AgUiMapper): MapOutcome {
  if (type.startsWith('THINKING_')) return legacyThinking(value, type, where);
  const parsed = EventSchema.safeParse(value);
  if (!parsed.success) return { ok: false, message: `${where}: ${type} ${formatIssues(parsed.error)}` };
  const mapped = mapper.map(parsed.data);
  return mapped.ok ? mapped : { ok: false, message: `${where}: ${mapped.message}` };
}

function legacyThinking(value: object, type: string, where: string): MapOutcome {
  if (type !== LEGACY_THINKING_CONTENT) return { ok: true, events: [] };
  const delta = (value as { delta?: unknown }).delta;
  if (typeof delta !== 'string') return { ok: false, message: `${where}: ${type} delta: expected a string` };
  return {
    ok: true,
    events: delta === '' ? [] : [{ type: EventType.AgentThinking, data: { reasoning: delta } }],
  };
}
