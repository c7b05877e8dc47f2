import type { ApprovalReply } from '../agents/agent-runtime.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { Config } from '../config/config.js';
import type { BusyPolicy, Engine } from '../engine/engine.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ErrorCode } from '../protocol/error-codes.js';
import type { HandshakeLimiter } from '../security/handshake-limiter.js';
import type { Session } from './session.js';
import type { UserHub } from './user-hub.js';

/** What a connection asks of the agent runtime: start and cancel runs for its user, answer their questions. */
export interface RunController {
  start(
    userId: string,
    message: {
      readonly messageId: string;
      readonly text: string;
      readonly threadId?: string | undefined;
      readonly agent?: string | undefined;
      /** `data.on_busy` (docs/protocol.md E). */
      readonly onBusy?: BusyPolicy | undefined;
    },
  ): Promise<{ readonly ok: true; readonly runId: string; readonly duplicate: boolean } | RunRefusal>;
  cancel(
    userId: string,
    runId: string,
  ): Promise<{ readonly ok: true } | RunRefusal> | ({ readonly ok: true } | RunRefusal);
  answerApproval(
    userId: string,
    approvalId: string,
    reply: ApprovalReply,
  ): Promise<{ readonly ok: true; readonly decision: string; readonly duplicate: boolean } | RunRefusal>;
}

/** Why the runtime refused a start or cancel; becomes an error frame. */
export interface RunRefusal {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
  /** With BUSY: the thread's run (docs/protocol.md E). */
  readonly runId?: string | undefined;
  /** With CONFLICT: the decision that won the approval (docs/protocol.md G). */
  readonly decision?: string | undefined;
}

/**
 * Everything connections share, held once by the gateway; each connection keeps one reference to it,
 * so per-connection state stays a few small fields (docs/architecture.md, "Hot path"). `Conn` is the type
 * handed to onClosed (the Connection class), a parameter so that this file needs no import of it.
 */
export interface ConnectionContext<Conn extends Session = Session> {
  readonly config: Config;
  readonly verifier: TokenVerifier;
  readonly engine: Engine;
  readonly hub: UserHub<Session>;
  readonly runs: RunController;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  /** Handshakes per client IP; a connection releases its one when it opens or closes before that. */
  readonly handshakes: HandshakeLimiter;
  /** Called once when a connection has fully closed. */
  readonly onClosed: (connection: Conn) => void;
}
