import type { AgentEvent } from '@agentcast/client';

/** How one event looks in the timeline. */
export interface EventLook {
  /** A one-character glyph, drawn in a coloured circle. */
  readonly icon: string;
  readonly title: string;
  /** Secondary lines, shown small (arguments, results, reasoning). */
  readonly details: readonly string[];
  /** Colour family: `start`, `think`, `tool`, `ok`, `fail`, `stream`, `note`. */
  readonly tone: string;
}

const MAX_DETAIL = 240;

/** Short, single-line JSON for arguments and results. */
export function compactJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Not serialisable (a cycle cannot come off the wire, but be safe): show its string form instead.
    text = String(value);
  }
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

const str = (value: unknown): string => (typeof value === 'string' ? value : compactJson(value));

/**
 * The title, icon, colour and detail lines of an event (docs/protocol.md §3 golden path, and anything
 * else).
 */
export function describeEvent(ev: AgentEvent): EventLook {
  const d = ev.data;
  switch (ev.type) {
    case 'agent_started':
      return {
        icon: '▶',
        tone: 'start',
        title: `${str(d.agent_name)} started`,
        details: [str(d.task_description)],
      };
    case 'agent_thinking':
      return { icon: '…', tone: 'think', title: 'Thinking', details: [str(d.reasoning)] };
    case 'tool_executing':
      return {
        icon: '⚙',
        tone: 'tool',
        title: `Calling ${str(d.tool_name)}`,
        details: [compactJson(d.tool_args)],
      };
    case 'tool_completed': {
      const ok = d.success === true;
      const ms = typeof d.duration_ms === 'number' ? ` in ${Math.round(d.duration_ms)} ms` : '';
      return {
        icon: ok ? '✓' : '✗',
        tone: ok ? 'ok' : 'fail',
        title: `${str(d.tool_name)} ${ok ? 'returned' : 'failed'}${ms}`,
        details: [compactJson(d.results)],
      };
    }
    case 'agent_completed': {
      const ok = d.status === 'succeeded';
      const error = typeof d.error === 'object' && d.error !== null ? [compactJson(d.error)] : [];
      return {
        icon: ok ? '■' : '✗',
        tone: ok ? 'ok' : 'fail',
        title: `Run ${str(d.status)}`,
        details: error,
      };
    }
    // docs/protocol.md G: a question of the run, and how it was settled.
    case 'approval_requested':
      return {
        icon: '?',
        tone: 'tool',
        title: `Asks before ${str(d.tool_name)}`,
        details: [str(d.message), compactJson(d.tool_args)],
      };
    case 'approval_resolved': {
      const ok = d.decision === 'approved';
      const reason = typeof d.reason === 'string' ? [d.reason] : [];
      return {
        icon: ok ? '✓' : '✗',
        tone: ok ? 'ok' : 'fail',
        title: `${str(d.decision)} (by ${str(d.by)})`,
        details: reason,
      };
    }
    default:
      return { icon: '•', tone: 'note', title: ev.type, details: [compactJson(d)] };
  }
}
