import type { AgentEvent } from './agent-event.js';
import type { ApprovalDecision, Reply } from './outbox.js';
import type { ResumeOutcome, RunSnapshot, WelcomeData } from './protocol/wire.js';

/** A server frame, read just far enough to route it. */
export type ServerFrame =
  | { readonly kind: 'event'; readonly event: AgentEvent }
  | { readonly kind: 'welcome'; readonly welcome: WelcomeData }
  /** A run's state at the welcome's seq, sent after a `resume: "snapshot"` welcome (docs/protocol.md F). */
  | { readonly kind: 'run_snapshot'; readonly snapshot: RunSnapshot }
  /** A run's ack (`runId`), or an approval's (`approvalId` and `decision`, `runId` empty: G). */
  | ({ readonly kind: 'ack' } & Reply)
  | {
      readonly kind: 'error';
      readonly id: string | undefined;
      readonly code: string;
      readonly message: string;
      /** With CONFLICT: the decision that won (docs/protocol.md G). */
      readonly decision?: string | undefined;
    }
  | { readonly kind: 'pong' }
  | { readonly kind: 'auth_ok' }
  /** A frame type this client does not know: skipped, so newer servers can add frames. */
  | { readonly kind: 'unknown'; readonly type: string };

type Obj = { readonly [key: string]: unknown };

const isObject = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const str = (value: unknown): string => (typeof value === 'string' ? value : '');

const isResumeOutcome = (value: unknown): value is ResumeOutcome =>
  value === 'none' || value === 'ok' || value === 'reset' || value === 'snapshot';

function parseWelcome(data: Obj | undefined): ServerFrame | undefined {
  if (data === undefined || typeof data.epoch !== 'string' || typeof data.seq !== 'number') return undefined;
  // An unknown outcome from a newer server is read as "none": the tracker then checks seq and epoch itself.
  const resume = isResumeOutcome(data.resume) ? data.resume : 'none';
  const welcome: WelcomeData = {
    connection_id: str(data.connection_id),
    user_id: str(data.user_id),
    server_id: str(data.server_id),
    epoch: data.epoch,
    seq: data.seq,
    heartbeat_ms: typeof data.heartbeat_ms === 'number' ? data.heartbeat_ms : 0,
    resume,
  };
  return { kind: 'welcome', welcome };
}

/**
 * Reads one text frame from the server (docs/protocol.md §2, §3, §6), or returns undefined when it is not a
 * frame this protocol could send. The client trusts the server's validation of event payloads and checks only
 * the fields it acts on, to keep the browser bundle small. Events are told apart from other frames by
 * their numeric `seq`: only events carry one.
 */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined; // not JSON: the caller reports a bad frame
  }
  if (!isObject(raw) || typeof raw.type !== 'string') return undefined;
  const data = isObject(raw.data) ? raw.data : undefined;
  if (typeof raw.seq === 'number') {
    if (typeof raw.epoch !== 'string' || data === undefined) return undefined;
    const base: AgentEvent = { type: raw.type, seq: raw.seq, epoch: raw.epoch, ts: str(raw.ts), data };
    const event = typeof raw.run_id === 'string' ? { ...base, run_id: raw.run_id } : base;
    const meta = isObject(raw.meta) && typeof raw.meta.traceparent === 'string' ? raw.meta : undefined;
    return {
      kind: 'event',
      event: meta === undefined ? event : { ...event, meta: { traceparent: meta.traceparent as string } },
    };
  }
  switch (raw.type) {
    case 'welcome':
      return parseWelcome(data);
    case 'run_snapshot':
      // Trusted like event payloads: the gateway builds it from validated events.
      if (typeof data?.run_id !== 'string' || typeof data.last_seq !== 'number') return undefined;
      return { kind: 'run_snapshot', snapshot: data as unknown as RunSnapshot };
    case 'ack': {
      if (typeof raw.id !== 'string' || data === undefined) return undefined;
      const ack = {
        kind: 'ack',
        id: raw.id,
        runId: str(data.run_id),
        duplicate: data.duplicate === true,
      } as const;
      if (typeof data.run_id === 'string') return ack;
      if (typeof data.approval_id !== 'string') return undefined;
      return { ...ack, approvalId: data.approval_id, decision: data.decision as ApprovalDecision };
    }
    case 'error':
      return {
        kind: 'error',
        id: typeof raw.id === 'string' ? raw.id : undefined,
        code: str(data?.code),
        message: str(data?.message),
        decision: typeof data?.decision === 'string' ? data.decision : undefined,
      };
    case 'pong':
      return { kind: 'pong' };
    case 'auth_ok':
      return { kind: 'auth_ok' };
    default:
      return { kind: 'unknown', type: raw.type };
  }
}
