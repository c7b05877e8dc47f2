import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type AgentcastClient,
  type ApprovalAck,
  ClientError,
  type ConnectOptions,
  connect,
  type WebSocketConstructor,
} from '../../../packages/client/src/index.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';

/**
 * `client.approvals` and `client.answerApproval` through a real gateway (docs/client.md "Approvals",
 * docs/protocol.md G), over WebSocket and over SSE (where an answer is POST /v1/approvals/:id): two clients
 * of one user see the demo agent's question, answer it at the same instant, and exactly one wins; the
 * other gets CONFLICT with the winner's decision; the question leaves both; the tool runs iff approved.
 */

const WAIT_MS = 10_000;
const FAST: Partial<ConnectOptions> = { heartbeat: false, backoff: { initialMs: 20, maxMs: 200 } };

/** Resolves with `check()`'s first defined value, checked now and after each change `on` reports. */
function until<T>(on: (changed: () => void) => () => void, check: () => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`condition not met within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const attempt = (): boolean => {
      const value = check();
      if (value === undefined) return false;
      clearTimeout(timer);
      resolve(value);
      return true;
    };
    const stop = on(() => {
      if (attempt()) stop();
    });
    if (attempt()) stop();
  });
}

describe('client approvals through the gateway', () => {
  let gw: Harness;
  const clients: AgentcastClient[] = [];
  beforeAll(async () => {
    gw = await startGateway({ demoDelayMs: 0 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });
  afterAll(async () => {
    await gw.close();
  });

  function open(user: string, transport: 'websocket' | 'sse'): AgentcastClient {
    const client = connect({
      url: gw.wsUrl,
      getToken: () => gw.token(user),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      transport,
      ...FAST,
    });
    clients.push(client);
    return client;
  }

  const pending = (c: AgentcastClient) =>
    until(
      (f) => c.onLifecycle('approvals', f),
      () => c.approvals[0],
    );

  it.each(['websocket', 'sse'] as const)(
    'over %s: two clients answer at once, one ack, one CONFLICT naming the winner; a retry is a duplicate',
    async (transport) => {
      const user = `approver-${transport}`;
      const a = open(user, transport);
      const b = open(user, transport);
      await Promise.all(
        [a, b].map((c) =>
          until(
            (f) => c.onLifecycle('statechange', f),
            () => (c.state === 'open' ? true : undefined),
          ),
        ),
      );
      const { runId } = await a.sendMessage('email bob@example.org please');
      const [seenA, seenB] = await Promise.all([pending(a), pending(b)]);
      expect(seenA).toEqual(seenB);
      expect(seenA).toMatchObject({
        run_id: runId,
        tool_name: 'send_email',
        tool_args: { to: 'bob@example.org' },
      });
      const id = seenA.approval_id;

      const answers = await Promise.allSettled([
        a.answerApproval(id, 'approve', undefined, 'answer-a'),
        b.answerApproval(id, 'deny', 'not now', 'answer-b'),
      ]);
      const won = answers.filter((r): r is PromiseFulfilledResult<ApprovalAck> => r.status === 'fulfilled');
      const lost = answers.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const winner = won[0]?.value as ApprovalAck;
      expect(winner).toMatchObject({ approval_id: id, duplicate: false });
      expect(lost[0]?.reason).toBeInstanceOf(ClientError);
      expect(lost[0]?.reason).toMatchObject({ serverCode: 'CONFLICT', decision: winner.decision });

      // The question leaves both clients; the run ends succeeded, with send_email iff approved.
      for (const c of [a, b])
        await until(
          (f) => c.onLifecycle('approvals', f),
          () => (c.approvals.length === 0 ? true : undefined),
        );
      const ended = await until(
        (f) => a.onRun(f),
        () => {
          const run = a.run(runId);
          return run?.status === 'succeeded' ? run : undefined;
        },
      );
      expect(ended.tools.map((t) => t.tool_name)).toEqual(
        winner.decision === 'approved' ? ['send_email'] : [],
      );
      expect(ended.approvals).toMatchObject([{ approval_id: id, decision: winner.decision, by: 'user' }]);

      // The winner's retry (same id) is acked again as a duplicate; the loser's is still refused.
      const winnerId = winner.decision === 'approved' ? 'answer-a' : 'answer-b';
      const retry = winner.decision === 'approved' ? 'approve' : 'deny';
      await expect(a.answerApproval(id, retry, undefined, winnerId)).resolves.toEqual({
        approval_id: id,
        decision: winner.decision,
        duplicate: true,
      });
      await expect(b.answerApproval('a_nobody', 'approve')).rejects.toMatchObject({
        serverCode: 'NOT_FOUND',
      });
    },
  );

  it("refuses another user's approval as NOT_FOUND", async () => {
    const owner = open('owner', 'websocket');
    const other = open('intruder', 'websocket');
    await owner.sendMessage('an email, please');
    const { approval_id: id } = await pending(owner);
    await expect(other.answerApproval(id, 'approve')).rejects.toMatchObject({ serverCode: 'NOT_FOUND' });
    expect(owner.approvals).toHaveLength(1);
    await owner.answerApproval(id, 'deny');
  });
});
