import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../../packages/server/src/agents/webhook-signature.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { extractBlocks } from '../../helpers/doc-blocks.js';
import { startGateway } from '../../helpers/gateway-harness.js';
import { deferred, runEvents } from '../../unit/agents/support/run-events.js';
import { ending, line, type ReceivedRequest, SECRET, useWebhookFixture } from './local-backend.js';

const { backend, runtimeFor } = useWebhookFixture();

const question = {
  type: 'approval_requested',
  data: { tool_name: 'send_email', tool_args: { to: 'ann@example.com' }, message: 'Send it?' },
};

/**
 * A backend that asks first: the first request's body ends right after `approval_requested`; the
 * continuation (which carries `approval`) sends the email or not, and finishes the run.
 */
function askingBackend(request: ReceivedRequest, res: import('node:http').ServerResponse): void {
  const body = JSON.parse(request.body) as { approval?: { decision: string } };
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  if (body.approval === undefined) {
    res.end(`${line({ type: 'stream_chunk', data: { text: 'Drafted. ' } })}${line(question)}`);
    return;
  }
  const approved = body.approval.decision === 'approved';
  res.end(
    `${line({ type: 'stream_chunk', data: { text: approved ? 'Sent.' : 'Not sent.' } })}${line({
      type: 'agent_completed',
      data: { status: 'succeeded', final_response: approved ? 'Sent.' : 'Not sent.' },
    })}`,
  );
}

/** Resolves with the user's first stored event of `type`. */
function first(h: ReturnType<typeof runtimeFor>, type: string): Promise<StoredEvent> {
  const seen = deferred<StoredEvent>();
  void h.engine.subscribe('u1', (event) => {
    if (event.type === type) seen.resolve(event);
  });
  return seen.promise;
}

describe('webhook agent (agentcast protocol): a body ending on approval_requested pauses the run', () => {
  it('asks the user, then sends exactly one signed continuation with the decision and reads the rest', async () => {
    const b = await backend(askingBackend);
    const h = runtimeFor(b.url);
    const requested = first(h, 'approval_requested');
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'email ann', threadId: 't1' });
    if (!result.ok) throw new Error(result.message);
    const asked = await requested;
    expect(asked.run_id).toBe(result.runId);
    expect(asked.data).toMatchObject({ tool_name: 'send_email', tool_args: { to: 'ann@example.com' } });
    const approvalId = String(asked.data.approval_id);
    expect(approvalId).toMatch(/^a_/);
    expect(Date.parse(String(asked.data.expires_at))).toBeGreaterThan(Date.now());
    expect(b.requests).toHaveLength(1);

    const outcome = await h.engine.resolveApproval('u1', approvalId, {
      decision: 'approved',
      reason: 'fine',
      by: 'user',
    });
    expect(outcome.kind).toBe('resolved');
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(events.map((e) => e.type)).toEqual([
      'agent_started',
      'stream_chunk',
      'approval_requested',
      'approval_resolved',
      'stream_chunk',
      'agent_completed',
    ]);
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Sent.' });

    expect(b.requests).toHaveLength(2);
    const [opening, continuation] = b.requests;
    if (opening === undefined || continuation === undefined) throw new Error('two requests expected');
    const { headers } = continuation.req;
    expect(
      verifyWebhook({
        secret: SECRET,
        body: continuation.body,
        signature: headers['x-agentcast-signature'] as string,
        timestamp: headers['x-agentcast-timestamp'] as string,
        nowS: Date.now() / 1000,
      }),
    ).toBe(true);
    expect(JSON.parse(continuation.body)).toEqual({
      ...JSON.parse(opening.body),
      approval: { approval_id: approvalId, decision: 'approved', reason: 'fine' },
    });
  });

  it("honours the line's expires_at: unanswered, the continuation says expired", async () => {
    const b = await backend((request, res) => {
      const body = JSON.parse(request.body) as { approval?: unknown };
      if (body.approval !== undefined) return askingBackend(request, res);
      res.writeHead(200);
      const soon = new Date(Date.now() + 50).toISOString();
      res.end(line({ ...question, data: { ...question.data, approval_id: 'mine', expires_at: soon } }));
    });
    const h = runtimeFor(b.url);
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'email ann' });
    if (!result.ok) throw new Error(result.message);
    const events = await runEvents(h.engine, 'u1', result.runId);
    const asked = events.find((e) => e.type === 'approval_requested');
    // The gateway names approvals itself: a backend's id could collide with another of the user's.
    expect(asked?.data.approval_id).toMatch(/^a_/);
    expect(events.find((e) => e.type === 'approval_resolved')?.data).toMatchObject({ decision: 'expired' });
    expect(JSON.parse(b.requests[1]?.body ?? '{}').approval).toMatchObject({
      decision: 'expired',
      reason: null,
    });
    expect(ending(events)).toEqual({ status: 'succeeded', final_response: 'Not sent.' });
  });

  it('sends no continuation when the run is cancelled while it waits', async () => {
    const b = await backend(askingBackend);
    const h = runtimeFor(b.url);
    const requested = first(h, 'approval_requested');
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'email ann' });
    if (!result.ok) throw new Error(result.message);
    await requested;
    expect(await h.runtime.cancel('u1', result.runId)).toEqual({ ok: true });
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(events.find((e) => e.type === 'approval_resolved')?.data).toMatchObject({ decision: 'cancelled' });
    expect(ending(events)).toMatchObject({ status: 'cancelled' });
    expect(b.requests).toHaveLength(1);
  });

  it('ends failed as a failed webhook when the continuation fails, and refuses lines after the question', async () => {
    const b = await backend((request, res) => {
      const body = JSON.parse(request.body) as { approval?: unknown };
      res.writeHead(body.approval === undefined ? 200 : 503);
      res.end(body.approval === undefined ? line(question) : '');
    });
    const h = runtimeFor(b.url);
    const requested = first(h, 'approval_requested');
    const result = await h.runtime.start('u1', { messageId: 'm1', text: 'email ann' });
    if (!result.ok) throw new Error(result.message);
    const asked = await requested;
    await h.engine.resolveApproval('u1', String(asked.data.approval_id), { decision: 'denied', by: 'user' });
    const events = await runEvents(h.engine, 'u1', result.runId);
    expect(ending(events)).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_HTTP_503' } });

    const after = await backend((_request, res) => {
      res.writeHead(200);
      res.end(`${line(question)}${line({ type: 'stream_chunk', data: { text: 'more' } })}`);
    });
    const h2 = runtimeFor(after.url);
    const second = await h2.runtime.start('u1', { messageId: 'm1', text: 'email ann' });
    if (!second.ok) throw new Error(second.message);
    const refused = ending(await runEvents(h2.engine, 'u1', second.runId));
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'WEBHOOK_INVALID_LINE' } });
    expect(String((refused.error as { message: string }).message)).toContain(
      'nothing may follow approval_requested',
    );
  });
});

const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython)
  console.warn('SKIPPED: the Python continuation block of docs/agents.md needs python3 on PATH');

describe.skipIf(!hasPython)('docs/agents.md "Approvals: the continuation": the Python block', () => {
  it('pauses on its question behind a real gateway, and finishes with the answer a client gives', async () => {
    const docs = readFileSync(new URL('../../../docs/agents.md', import.meta.url), 'utf8');
    const block = extractBlocks('docs/agents.md', docs).find((b) =>
      b.text.includes('approval = request.get("approval")'),
    );
    if (block === undefined) throw new Error('the Python continuation block is gone from docs/agents.md');
    const dir = mkdtempSync(join(tmpdir(), 'agentcast-continuation-'));
    writeFileSync(join(dir, 'backend.py'), block.text);
    const child: ChildProcess = spawn('python3', [join(dir, 'backend.py')], {
      env: { ...process.env, PORT: '0', AGENTCAST_AGENT_SECRET: 'doc-secret' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const [first] = (await once(
        createInterface({ input: child.stdout as NodeJS.ReadableStream }),
        'line',
      )) as [string];
      const url = /^listening on (http:\/\/\S+)$/.exec(first)?.[1];
      if (url === undefined) throw new Error(`the block printed "${first}" instead of its URL`);
      const gateway = await startGateway({
        agentUrl: url,
        agentSecret: 'doc-secret',
        defaultAgent: 'webhook',
      });
      try {
        const client = await gateway.connect('u1');
        client.send({ type: 'user_message', id: 'm1', data: { text: 'email ann' } });
        const asked = await client.next('approval_requested');
        expect(asked.data).toMatchObject({ tool_name: 'send_email', message: 'Send it to Ann?' });
        const approvalId = (asked.data as { approval_id: string }).approval_id;
        client.send({ type: 'approval', id: 'ap1', data: { approval_id: approvalId, decision: 'approve' } });
        const done = await client.next('agent_completed', 10_000);
        expect(done.data).toEqual({ status: 'succeeded', final_response: 'Sent.' });
        const texts = client.frames
          .filter((f) => f.type === 'stream_chunk')
          .map((f) => (f.data as { text: string }).text);
        expect(texts).toEqual(['I drafted the email. ', 'Sent.']);
      } finally {
        await gateway.close();
      }
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
