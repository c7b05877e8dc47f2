import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentDefinition, defineAgent } from '../../packages/server/src/agents/define-agent.js';
import { createWebhookAgent } from '../../packages/server/src/agents/webhook-agent.js';
import { signToken } from '../../packages/server/src/auth/dev-token.js';
import { AgentcastErrorCode } from '../../packages/server/src/protocol/agentcast-error.js';
import { healthIs } from '../helpers/engine-health.js';
import {
  type Client,
  type Frame,
  type Harness,
  startGateway,
  TEST_API_KEY,
  TEST_SECRET,
} from '../helpers/gateway-harness.js';
import { deleteKeys, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis-fixture.js';
import { type LocalBackend, localBackend } from './agents/local-backend.js';

/**
 * Hostile input through the real gateway, on the memory engine and on Redis (docs/protocol.md §3, §8,
 * B, D): events nested deeper than the limit, ids that are not well-formed UTF-16, and event types that
 * are the gateway's own frame types. Each is refused before the engine with a documented code, takes no
 * seq, and leaves the user (and every other user) served.
 */

const redisAvailable = await requireRedis(REDIS_URL, 'hostile input on the Redis engine');

/** JSON text of an object nested `depth` levels (`{}` is 1), alternating objects and arrays. */
function nestedText(depth: number): string {
  let open = '';
  let close = '';
  for (let level = 1; level < depth; level++) {
    if (level % 2 === 1) {
      open += '{"a":';
      close = `}${close}`;
    } else {
      open += '[';
      close = `]${close}`;
    }
  }
  return `${open}{}${close}`;
}

/** The same nesting as a value (built without recursion, so 20,000 levels are fine). */
function nestedValue(depth: number): Record<string, unknown> {
  let value: unknown = {};
  for (let level = depth - 1; level >= 1; level--) value = level % 2 === 1 ? { a: value } : [value];
  return value as Record<string, unknown>;
}

const DEEP = 20_000;
const SURROGATE_ID = 'victim\ud800';
const RESERVED = ['welcome', 'error', 'auth_ok', 'pong', 'ack'] as const;

async function post(h: Harness, text: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${h.httpUrl}/v1/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' },
    body: text,
  });
  return { status: res.status, json: await res.json() };
}

async function history(h: Harness, userId: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${h.httpUrl}/v1/users/${encodeURIComponent(userId)}/history`, {
    headers: { Authorization: `Bearer ${TEST_API_KEY}` },
  });
  return { status: res.status, json: await res.json() };
}

function invalid(message: string) {
  return { status: 400, json: { error: { code: 'INVALID_MESSAGE', message } } };
}

const note = (userId: string, n: number) => ({ user_id: userId, type: 'notification', data: { n } });

/** Publishes a notification and checks it is stored at `seq` and reaches `client` live. */
async function deliveredLive(h: Harness, client: Client, userId: string, seq: number): Promise<void> {
  const res = await h.publish(note(userId, seq));
  expect(res).toEqual({ status: 202, json: { results: [{ seq, epoch: expect.any(String) }] } });
  const frame = await client.next('notification');
  expect(frame).toMatchObject({ seq, data: { n: seq } });
}

async function ask(client: Client, id: string, agent: string): Promise<string> {
  client.send({ type: 'user_message', id, data: { text: 'go', agent } });
  const ack = await client.next('ack');
  return (ack.data as { run_id: string }).run_id;
}

async function completed(client: Client, runId: string): Promise<Frame> {
  for (;;) {
    const frame = await client.next('agent_completed', 10_000);
    if (frame.run_id === runId) return frame;
  }
}

/** An agent that yields `event` once, after one harmless event. */
function yielding(name: string, event: unknown): AgentDefinition {
  return defineAgent({
    name,
    async *run() {
      yield { type: 'agent_thinking', data: { reasoning: 'about to yield it' } };
      yield event as { type: string; data: Record<string, unknown> };
    },
  });
}

const engines = [
  { name: 'memory', redis: false },
  { name: 'Redis', redis: true },
] as const;

describe.each(engines)('hostile input on the $name engine', ({ redis }) => {
  let h: Harness | undefined;
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function start(agents: readonly AgentDefinition[] = []): Promise<Harness> {
    if (!redis) {
      h = await startGateway({}, { agents });
      return h;
    }
    const prefix = uniquePrefix('hostile');
    cleanup.push(() => deleteKeys(REDIS_URL, `${prefix}*`));
    h = await startGateway({ redis: REDIS_URL, redisKeyPrefix: prefix }, { agents });
    await healthIs(h.gateway.engine, true, 'the Redis engine', 5000);
    return h;
  }

  async function backend(handle: (res: ServerResponse) => void): Promise<LocalBackend> {
    const b = await localBackend((_request, res) => handle(res));
    cleanup.push(() => b.close());
    return b;
  }

  describe.skipIf(redis && !redisAvailable)('(finding 2) nesting depth', () => {
    it(`refuses a publish nested ${DEEP.toLocaleString('en')} deep with 400 naming the field, takes no seq, and the user stays served live, in history and on resume`, async () => {
      const h = await start();
      const victim = await h.connect('deep-user');
      const bystander = await h.connect('bystander');

      const deep = `{"user_id":"deep-user","type":"notification","data":${nestedText(DEEP)}}`;
      expect(await post(h, deep)).toEqual(invalid('data: nested deeper than 64 levels'));
      const batch = `{"events":[${JSON.stringify(note('deep-user', 0))},${deep}]}`;
      expect(await post(h, batch)).toEqual(invalid('events.1.data: nested deeper than 64 levels'));
      const deepArgs = `{"user_id":"deep-user","type":"tool_executing","data":{"tool_name":"t","execution_id":"x","tool_args":${nestedText(DEEP)}}}`;
      expect(await post(h, deepArgs)).toEqual(invalid('data: nested deeper than 64 levels'));

      // Nothing was stored: the next event is seq 1, delivered live, and history and resume serve it.
      await deliveredLive(h, victim, 'deep-user', 1);
      await deliveredLive(h, victim, 'deep-user', 2);
      const stored = await history(h, 'deep-user');
      expect(stored.status).toBe(200);
      expect(stored.json).toMatchObject({ seq: 2, complete: true, events: [{ seq: 1 }, { seq: 2 }] });
      const resumed = await h.connect('deep-user', { query: '?since=0' });
      expect(resumed.frames[0]).toMatchObject({ type: 'welcome', data: { resume: 'ok', seq: 2 } });
      expect((await resumed.events(2)).map((f) => f.seq)).toEqual([1, 2]);
      await deliveredLive(h, bystander, 'bystander', 1);
      expect(victim.closeCode).toBeUndefined();
    });

    it('accepts data nested exactly 64 levels (objects and arrays) and refuses 65', async () => {
      const h = await start();
      const client = await h.connect('edge');
      const at = (depth: number) => `{"user_id":"edge","type":"notification","data":${nestedText(depth)}}`;
      expect(await post(h, at(65))).toEqual(invalid('data: nested deeper than 64 levels'));
      const ok = await post(h, at(64));
      expect(ok).toEqual({ status: 202, json: { results: [{ seq: 1, epoch: expect.any(String) }] } });
      expect((await client.next('notification')).data).toEqual(JSON.parse(nestedText(64)));
    });

    it('refuses gateway.publish() of a deep event with AC_ERR_EVENT_INVALID and keeps serving the user', async () => {
      const h = await start();
      const client = await h.connect('api-user');
      const deep = { type: 'notification', data: nestedValue(DEEP) };
      await expect(h.gateway.publish('api-user', deep)).rejects.toMatchObject({
        code: AgentcastErrorCode.EventInvalid,
        message: 'data: nested deeper than 64 levels',
      });
      await expect(
        h.gateway.publish('api-user', { type: 'notification', data: { n: 1 } }),
      ).resolves.toMatchObject({ seq: 1 });
      expect(await client.next('notification')).toMatchObject({ seq: 1 });
    });

    it('ends the run of an agent that yields a deep event with INVALID_EVENT; the user keeps being served', async () => {
      const h = await start([yielding('deep', { type: 'notification', data: nestedValue(DEEP) })]);
      const client = await h.connect('agent-user');
      const runId = await ask(client, 'm1', 'deep');
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({
        status: 'failed',
        error: {
          code: 'INVALID_EVENT',
          message: 'agent yielded an invalid notification event: data: nested deeper than 64 levels',
        },
      });
      // started, thinking, completed: the deep event took no seq.
      expect(done.seq).toBe(3);
      await deliveredLive(h, client, 'agent-user', 4);
    });

    it('ends a webhook run whose NDJSON line is nested deep with WEBHOOK_INVALID_LINE; the user keeps being served', async () => {
      const b = await backend((res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end(`{"type":"notification","data":${nestedText(DEEP)}}\n`);
      });
      const h = await start([createWebhookAgent({ url: b.url, secret: 'test-secret' })]);
      const client = await h.connect('webhook-user');
      const runId = await ask(client, 'm1', 'webhook');
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({
        status: 'failed',
        error: { code: 'WEBHOOK_INVALID_LINE', message: 'line 1: data: nested deeper than 64 levels' },
      });
      expect(done.seq).toBe(2);
      await deliveredLive(h, client, 'webhook-user', 3);
    });

    it('ends a webhook run whose AG-UI event carries a deep value with INVALID_EVENT', async () => {
      const b = await backend((res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end(`{"type":"CUSTOM","name":"deep","value":${nestedText(DEEP)}}\n`);
      });
      const h = await start([createWebhookAgent({ url: b.url, secret: 'test-secret' })]);
      const client = await h.connect('ag-ui-user');
      const runId = await ask(client, 'm1', 'webhook');
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({
        status: 'failed',
        error: {
          code: 'INVALID_EVENT',
          message: 'agent yielded an invalid ag_ui.custom event: data: nested deeper than 64 levels',
        },
      });
      await deliveredLive(h, client, 'ag-ui-user', 3);
    });
  });

  describe.skipIf(redis && !redisAvailable)('(finding 3) ids must be well-formed UTF-16', () => {
    it('closes a connection whose token sub has a lone surrogate with 4001 "invalid token", on the upgrade and in an auth frame', async () => {
      const h = await start();
      const token = await signToken(TEST_SECRET, SURROGATE_ID, 3600);
      expect(await h.open(token).closure()).toEqual({ code: 4001, reason: 'invalid token' });
      const late = h.open('');
      await late.opened();
      late.send({ type: 'auth', token });
      expect(await late.closure()).toEqual({ code: 4001, reason: 'invalid token' });
    });

    it('refuses publishes whose user_id or run_id has a lone surrogate, naming the field; the look-alike user gets nothing', async () => {
      const h = await start();
      const lookAlike = await h.connect('victim\ufffd');
      const message = 'must be well-formed UTF-16 (no lone surrogates)';
      expect(await post(h, JSON.stringify(note(SURROGATE_ID, 1)))).toEqual(invalid(`user_id: ${message}`));
      const batch = JSON.stringify({ events: [note('victim\ufffd', 1), note('victim\udfff', 2)] });
      expect(await post(h, batch)).toEqual(invalid(`events.1.user_id: ${message}`));
      const run = JSON.stringify({ ...note('victim\ufffd', 1), run_id: 'r_\udc00' });
      expect(await post(h, run)).toEqual(invalid(`run_id: ${message}`));
      // Nothing reached the look-alike user: its log is empty and its next event is seq 1.
      expect((await history(h, 'victim\ufffd')).json).toMatchObject({ seq: 0, events: [] });
      await deliveredLive(h, lookAlike, 'victim\ufffd', 1);
    });

    it('refuses gateway.publish() for a user id with a lone surrogate', async () => {
      const h = await start();
      await expect(h.gateway.publish(SURROGATE_ID, { type: 'notification', data: {} })).rejects.toMatchObject(
        {
          code: AgentcastErrorCode.EventInvalid,
          message: 'user_id: must be well-formed UTF-16 (no lone surrogates)',
        },
      );
      expect((await history(h, 'victim\ufffd')).json).toMatchObject({ seq: 0 });
    });

    it('refuses a history path whose user_id is not valid UTF-8 (a surrogate code point)', async () => {
      const h = await start();
      const res = await fetch(`${h.httpUrl}/v1/users/victim%ED%A0%80/history`, {
        headers: { Authorization: `Bearer ${TEST_API_KEY}` },
      });
      expect({ status: res.status, json: await res.json() }).toEqual(
        invalid('user_id: not valid percent-encoded UTF-8'),
      );
    });

    it('answers client frames with a lone surrogate in an id with INVALID_MESSAGE naming the field, and starts no run', async () => {
      const h = await start();
      const client = await h.connect('frames-user');
      const message = 'must be well-formed UTF-16 (no lone surrogates)';
      client.send({ type: 'user_message', id: 'm\ud800', data: { text: 'hi' } });
      expect(await client.next('error')).toMatchObject({
        id: 'm\ud800',
        data: { code: 'INVALID_MESSAGE', message: `id: ${message}` },
      });
      client.send({ type: 'user_message', id: 'm1', data: { text: 'hi', thread_id: 't\udc00' } });
      expect(await client.next('error')).toMatchObject({
        id: 'm1',
        data: { code: 'INVALID_MESSAGE', message: `data.thread_id: ${message}` },
      });
      client.send({ type: 'cancel', id: 'c1', data: { run_id: 'r_\ud800' } });
      expect(await client.next('error')).toMatchObject({
        id: 'c1',
        data: { code: 'INVALID_MESSAGE', message: `data.run_id: ${message}` },
      });
      // No run started: the user's log is still empty.
      expect((await history(h, 'frames-user')).json).toMatchObject({ seq: 0 });
    });
  });

  describe.skipIf(redis && !redisAvailable)('(found by the publish fuzzer) names of Object.prototype', () => {
    it('stores an event of type "constructor" like any custom type and refuses "toString" and "__proto__" by the pattern', async () => {
      const h = await start();
      const client = await h.connect('proto-user');
      const pattern = 'type: must match ^[a-z][a-z0-9_.]{0,63}$';
      for (const type of ['toString', '__proto__', 'hasOwnProperty']) {
        const body = `{"user_id":"proto-user","type":${JSON.stringify(type)},"data":{}}`;
        expect(await post(h, body)).toEqual(invalid(pattern));
      }
      const res = await h.publish({ user_id: 'proto-user', type: 'constructor', data: { n: 1 } });
      expect(res).toEqual({ status: 202, json: { results: [{ seq: 1, epoch: expect.any(String) }] } });
      expect(await client.next('constructor')).toMatchObject({ seq: 1, data: { n: 1 } });
      await expect(h.gateway.publish('proto-user', { type: 'constructor', data: {} })).resolves.toMatchObject(
        {
          seq: 2,
        },
      );
    });

    it('publishes an agent event of type "constructor" and ends the run normally', async () => {
      const h = await start([yielding('proto', { type: 'constructor', data: { n: 1 } })]);
      const client = await h.connect('proto-agent-user');
      const runId = await ask(client, 'm1', 'proto');
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({ status: 'succeeded' });
      expect(client.frames.filter((f) => f.type === 'constructor')).toHaveLength(1);
    });
  });

  describe.skipIf(redis && !redisAvailable)('(finding 13) reserved event types', () => {
    it.each(RESERVED)(
      'refuses a publish of type "%s" with 400 naming the type; nothing reaches the user',
      async (type) => {
        const h = await start();
        const client = await h.connect('reserved-user');
        const reserved = `type: "${type}" is reserved for the gateway's own frames`;
        const single = { user_id: 'reserved-user', type, data: {} };
        expect(await post(h, JSON.stringify(single))).toEqual(invalid(reserved));
        const batch = { events: [note('reserved-user', 0), single] };
        expect(await post(h, JSON.stringify(batch))).toEqual(invalid(`events.1.${reserved}`));
        await expect(h.gateway.publish('reserved-user', { type, data: {} })).rejects.toMatchObject({
          code: AgentcastErrorCode.EventInvalid,
          message: reserved,
        });
        await deliveredLive(h, client, 'reserved-user', 1);
        expect(client.frames.filter((f) => f.type === type)).toHaveLength(type === 'welcome' ? 1 : 0);
      },
    );

    it('ends the run of an agent that yields a welcome with INVALID_EVENT; no second welcome is sent', async () => {
      const h = await start([yielding('impostor', { type: 'welcome', data: { resume: 'reset' } })]);
      const client = await h.connect('impostor-user');
      const runId = await ask(client, 'm1', 'impostor');
      const done = await completed(client, runId);
      expect(done.data).toMatchObject({
        status: 'failed',
        error: {
          code: 'INVALID_EVENT',
          message: `agent yielded an invalid welcome event: type: "welcome" is reserved for the gateway's own frames`,
        },
      });
      expect(client.frames.filter((f) => f.type === 'welcome')).toHaveLength(1);
    });
  });
});
