import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientErrorCode } from '../../../packages/client/src/client-error.js';
import type { PendingApproval } from '../../../packages/client/src/run-state.js';
import { parseServerFrame } from '../../../packages/client/src/server-frame.js';
import { NOW, startClient } from './client-harness.js';

// client.approvals and client.answerApproval (docs/client.md "Approvals", docs/protocol.md G).

const asked = (id: string) => ({
  approval_id: id,
  tool_name: 'send_email',
  tool_args: { to: 'a@example.com' },
  message: 'Send it?',
  expires_at: '2026-01-01T00:10:00.000Z',
});

describe('client approvals', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('adds an approval on approval_requested and removes it on approval_resolved, with one change event each', async () => {
    const h = await startClient({ catchUp: 'none' });
    const changes: (readonly PendingApproval[])[] = [];
    h.client.onLifecycle('approvals', (list) => changes.push(list));
    h.sockets.last.welcome({ seq: 0 });
    h.sockets.last.event(1, 'agent_started', 'e1', { data: { agent_name: 'demo', task_description: 'x' } });
    expect(h.client.approvals).toEqual([]);
    h.sockets.last.event(2, 'approval_requested', 'e1', { data: asked('a1') });
    expect(h.client.approvals).toEqual([{ ...asked('a1'), run_id: 'r1' }]);
    const pending = h.client.approvals;
    h.sockets.last.event(3, 'agent_thinking');
    expect(h.client.approvals).toBe(pending);
    h.sockets.last.event(4, 'approval_resolved', 'e1', {
      data: { approval_id: 'a1', decision: 'approved', by: 'user' },
    });
    expect(h.client.approvals).toEqual([]);
    expect(changes).toEqual([[{ ...asked('a1'), run_id: 'r1' }], []]);
    // The run keeps the question with its answer: the one source both read.
    expect(h.client.run('r1')?.approvals).toEqual([{ ...asked('a1'), decision: 'approved', by: 'user' }]);
  });

  it('takes pending approvals from the run snapshots of a catch-up, and none from an ended run', async () => {
    const h = await startClient();
    h.sockets.last.welcome({ seq: 9, resume: 'snapshot' });
    const base = {
      started_at: '2026-01-01T00:00:00.000Z',
      text: '',
      reasoning: '',
      tools: [],
      last_seq: 9,
      epoch: 'e1',
      truncated: false,
    };
    h.sockets.last.receive({
      type: 'run_snapshot',
      data: { ...base, run_id: 'r1', status: 'waiting', approvals: [asked('a1')] },
    });
    h.sockets.last.receive({
      type: 'run_snapshot',
      data: {
        ...base,
        run_id: 'r2',
        status: 'succeeded',
        approvals: [{ ...asked('a2'), decision: 'denied', by: 'user' }],
      },
    });
    expect(h.client.approvals.map((a) => [a.run_id, a.approval_id])).toEqual([['r1', 'a1']]);
  });

  it('sends an approval frame and resolves with the ack; a repeat id is acked duplicate', async () => {
    const h = await startClient();
    h.sockets.last.welcome();
    const ack = h.client.answerApproval('a1', 'approve', 'looks fine');
    expect(h.sockets.last.sent).toEqual([
      {
        type: 'approval',
        id: 'id-1',
        data: { approval_id: 'a1', decision: 'approve', reason: 'looks fine' },
      },
    ]);
    h.sockets.last.receive({
      type: 'ack',
      id: 'id-1',
      data: { approval_id: 'a1', decision: 'approved', duplicate: true },
    });
    await expect(ack).resolves.toEqual({ approval_id: 'a1', decision: 'approved', duplicate: true });
  });

  it('rejects with CONFLICT and the decision that won, or NOT_FOUND', async () => {
    const h = await startClient();
    h.sockets.last.welcome();
    const late = h.client.answerApproval('a1', 'deny');
    const unknown = h.client.answerApproval('zz', 'approve');
    h.sockets.last.receive({
      type: 'error',
      id: 'id-1',
      data: { code: 'CONFLICT', message: 'approval a1 was already resolved: approved' },
    });
    h.sockets.last.receive({
      type: 'error',
      id: 'id-2',
      data: { code: 'NOT_FOUND', message: 'no approval zz' },
    });
    await expect(late).rejects.toMatchObject({
      code: ClientErrorCode.Server,
      serverCode: 'CONFLICT',
      decision: 'approved',
    });
    await expect(unknown).rejects.toMatchObject({ serverCode: 'NOT_FOUND', decision: undefined });
  });

  it('refuses a decision other than approve or deny without sending', async () => {
    const h = await startClient();
    h.sockets.last.welcome();
    await expect(h.client.answerApproval('a1', 'approved' as 'approve')).rejects.toThrow(TypeError);
    expect(h.sockets.last.sent).toEqual([]);
  });

  it('reads an approval ack and skips an ack that names neither a run nor an approval', () => {
    expect(
      parseServerFrame(
        '{"type":"ack","id":"x","data":{"approval_id":"a1","decision":"denied","duplicate":false}}',
      ),
    ).toEqual({ kind: 'ack', id: 'x', runId: '', duplicate: false, approvalId: 'a1', decision: 'denied' });
    expect(parseServerFrame('{"type":"ack","id":"x","data":{}}')).toBeUndefined();
  });
});
