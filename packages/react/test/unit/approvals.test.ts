import { ClientError, ClientErrorCode } from '@agentcast/client';
import { describe, expect, it } from 'vitest';
import { AgentcastStore } from '../../src/agentcast-store.js';
import { SharedClient } from '../../src/tabs/shared-client.js';
import { EventFactory } from '../helpers/events.js';
import { FakeClient, RunsClient } from '../helpers/fake-client.js';
import { FakeBrowser } from '../helpers/fake-tabs.js';

/**
 * `useApprovals` / `useAnswerApproval` (docs/client.md "Approvals"): the pending questions read from the
 * client's runs, and answers that go to the client (or, with shareAcrossTabs, to the tab holding it).
 */

const asked = (id: string) => ({
  approval_id: id,
  tool_name: 'send_email',
  tool_args: { to: 'a@example.com' },
  message: 'Send it?',
  expires_at: '2026-01-01T00:10:00.000Z',
});

function storeWith(client: FakeClient) {
  const store = new AgentcastStore({ connect: () => client });
  store.retain();
  client.open('e1', 0);
  return store;
}

describe('approvals in the store', () => {
  it('holds an approval from its question to its answer; the array changes only with the approvals', () => {
    const client = new RunsClient();
    const store = storeWith(client);
    let heard = 0;
    store.subscribeApprovals(() => {
      heard += 1;
    });
    const f = new EventFactory();
    expect(store.getApprovals()).toEqual([]);
    client.deliver(
      f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r1'),
      f.event('approval_requested', asked('a1'), 'r1'),
    );
    const pending = store.getApprovals();
    expect(pending).toEqual([{ ...asked('a1'), run_id: 'r1' }]);
    expect(heard).toBeGreaterThan(0);
    client.deliver(f.event('agent_thinking', { reasoning: 'elsewhere' }, 'r2'));
    expect(store.getApprovals()).toBe(pending);
    client.deliver(f.event('approval_resolved', { approval_id: 'a1', decision: 'denied', by: 'user' }, 'r1'));
    expect(store.getApprovals()).toEqual([]);
  });

  it('answers through the client, also when asked before the client exists', async () => {
    const client = new RunsClient();
    const store = new AgentcastStore({ connect: () => client });
    const answered = store.answerApproval('a1', 'approve', 'ok');
    store.retain();
    expect(client.requests[0]).toMatchObject({
      op: 'approval',
      approval: { approvalId: 'a1', decision: 'approve', reason: 'ok' },
    });
    client.answer(() => ({ approval_id: 'a1', decision: 'approved', duplicate: false }));
    await expect(answered).resolves.toEqual({ approval_id: 'a1', decision: 'approved', duplicate: false });
  });

  it('refuses to answer with a client that cannot', async () => {
    const client = Object.assign(new FakeClient(), { answerApproval: undefined });
    const store = storeWith(client);
    await expect(store.answerApproval('a1', 'deny')).rejects.toThrow(TypeError);
  });
});

describe('approvals across tabs (shareAcrossTabs)', () => {
  async function twoTabs() {
    const browser = new FakeBrowser();
    const clients: FakeClient[] = [];
    const tab = (name: string) => {
      const t = browser.tab(name);
      let ids = 0;
      return new SharedClient({
        name: 'ws://gw/ws',
        locks: t.locks,
        channel: t.channel,
        connect: () => {
          const client = new FakeClient();
          clients.push(client);
          return client;
        },
        generateId: () => `${name}-${++ids}`,
      });
    };
    const a = tab('A');
    const b = tab('B');
    await browser.run();
    const leader = clients[0] as FakeClient;
    leader.open('e1', 0);
    await browser.run();
    return { browser, a, b, leader };
  }

  it('every tab keeps the pending approvals and says when they change, as the client does', async () => {
    const { browser, a, b, leader } = await twoTabs();
    const heard: string[][] = [];
    b.onLifecycle('approvals', (list) => heard.push(list.map((x) => x.approval_id)));
    const f = new EventFactory();
    leader.deliver(
      f.event('agent_started', { agent_name: 'demo', task_description: 'q' }, 'r1'),
      f.event('approval_requested', asked('a1'), 'r1'),
      f.event('stream_chunk', { text: 'elsewhere' }, 'r2'),
      f.event('approval_resolved', { approval_id: 'a1', decision: 'approved', by: 'user' }, 'r1'),
      f.event('approval_requested', asked('a2'), 'r1'),
    );
    await browser.run();
    for (const tab of [a, b]) expect(tab.approvals).toEqual([{ ...asked('a2'), run_id: 'r1' }]);
    expect(heard).toEqual([['a1'], [], ['a2']]);
  });

  it('forwards a follower`s answer with a fixed id and returns the leader`s ack', async () => {
    const { browser, b, leader } = await twoTabs();
    const answered = b.answerApproval('a1', 'approve');
    await browser.run();
    expect(leader.requests[0]).toMatchObject({
      op: 'approval',
      approval: { approvalId: 'a1', decision: 'approve', id: expect.stringMatching(/^B-/) },
    });
    leader.answer(() => ({ approval_id: 'a1', decision: 'approved', duplicate: false }));
    await browser.run();
    await expect(answered).resolves.toEqual({ approval_id: 'a1', decision: 'approved', duplicate: false });
  });

  it('brings a CONFLICT back with the decision that won', async () => {
    const { browser, a, b, leader } = await twoTabs();
    const late = b.answerApproval('a1', 'deny');
    const own = a.answerApproval('a2', 'approve', 'sure');
    await browser.run();
    expect(leader.requests.map((r) => r.approval?.approvalId).sort()).toEqual(['a1', 'a2']);
    for (let i = 0; i < 2; i++) {
      leader.answer(
        (r) =>
          new ClientError(ClientErrorCode.Server, 'CONFLICT: approval was already resolved: approved', {
            serverCode: r.approval?.approvalId === 'a1' ? 'CONFLICT' : 'NOT_FOUND',
            decision: r.approval?.approvalId === 'a1' ? 'approved' : undefined,
          }),
      );
    }
    await browser.run();
    await expect(late).rejects.toMatchObject({ serverCode: 'CONFLICT', decision: 'approved' });
    await expect(own).rejects.toMatchObject({ serverCode: 'NOT_FOUND', decision: undefined });
  });

  it('refuses on the leader when its client cannot answer', async () => {
    const { browser, b, leader } = await twoTabs();
    Object.assign(leader, { answerApproval: undefined });
    const answered = b.answerApproval('a1', 'approve');
    await browser.run();
    await expect(answered).rejects.toMatchObject({ message: expect.stringContaining('cannot answer') });
  });
});
