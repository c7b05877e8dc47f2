import { afterEach, describe, expect, it } from 'vitest';
import { defineAgent } from '../../packages/server/src/agents/define-agent.js';
import type { ActiveRun } from '../../packages/server/src/engine/engine.js';
import { EngineUnavailableError } from '../../packages/server/src/engine/engine-unavailable.js';
import { MemoryEngine } from '../../packages/server/src/engine/memory-engine.js';
import { deferred } from '../helpers/deferred.js';
import { DelegatingEngine } from '../helpers/delegating-engine.js';
import { type Client, type Harness, startGateway, TEST_API_KEY } from '../helpers/gateway-harness.js';

// GET /v1/users/:user_id/runs (docs/protocol.md D): the user's active runs from the engine's run
// registry. Across two nodes: test/integration/redis-nodes/runs-across-nodes.test.ts.

const auth = { Authorization: `Bearer ${TEST_API_KEY}` };

async function get(h: Harness, path: string, init: RequestInit = {}) {
  const res = await fetch(`${h.httpUrl}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as unknown };
}

async function ask(client: Client, id: string, data: Record<string, unknown>): Promise<string> {
  client.send({ type: 'user_message', id, data });
  const ack = await client.next('ack');
  expect(ack).toMatchObject({ id, data: { duplicate: false } });
  return (ack.data as { run_id: string }).run_id;
}

describe('GET /v1/users/:user_id/runs', () => {
  let h: Harness | undefined;
  let gate = deferred();
  afterEach(async () => {
    gate.resolve();
    await h?.close();
    h = undefined;
  });

  /** An agent whose runs wait for the test's `gate`. */
  function waiting(name: string) {
    return defineAgent({
      name,
      async *run() {
        yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
        await gate.promise;
      },
    });
  }

  it('lists the user’s running runs, oldest first, with agent, ISO start time and node; ended runs leave it', async () => {
    gate = deferred();
    h = await startGateway({ serverId: 'node-x' }, { agents: [waiting('one'), waiting('two')] });
    const client = await h.connect('u 1');
    const before = Date.now();
    const first = await ask(client, 'm1', { text: 'hi', agent: 'one' });
    const second = await ask(client, 'm2', { text: 'hi', agent: 'two' });
    const res = await get(h, '/v1/users/u%201/runs', { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.body).toEqual({
      runs: [
        { run_id: first, agent: 'one', started_at: iso, node: 'node-x' },
        { run_id: second, agent: 'two', started_at: iso, node: 'node-x' },
      ],
    });
    const { runs } = res.body as { runs: { started_at: string }[] };
    for (const run of runs) expect(Math.abs(Date.parse(run.started_at) - before)).toBeLessThan(5_000);

    expect(await get(h, '/v1/users/someone-else/runs', { headers: auth })).toMatchObject({
      status: 200,
      body: { runs: [] },
    });

    gate.resolve();
    for (;;) {
      const frame = await client.next('agent_completed', 10_000);
      if (frame.run_id === second) break;
    }
    await expect
      .poll(async () => (await get(h as Harness, '/v1/users/u%201/runs', { headers: auth })).body)
      .toEqual({ runs: [] });
  });

  it('needs the API key, takes only GET, and checks user_id', async () => {
    h = await startGateway();
    expect(await get(h, '/v1/users/u/runs')).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    });
    const post = await get(h, '/v1/users/u/runs', { method: 'POST', headers: auth });
    expect(post).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(post.headers.get('allow')).toBe('GET');
    expect(await get(h, '/v1/users/%E0%A4%A/runs', { headers: auth })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_MESSAGE' } },
    });
    expect(await get(h, `/v1/users/${'x'.repeat(257)}/runs`, { headers: auth })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_MESSAGE' } },
    });
  });

  it('answers 503 with Retry-After when the engine is unavailable', async () => {
    const engine = new (class extends DelegatingEngine {
      override activeRuns(): Promise<ActiveRun[]> {
        return Promise.reject(new EngineUnavailableError('redis is down', { nothingApplied: true }));
      }
    })(new MemoryEngine());
    h = await startGateway({}, { engine });
    const res = await get(h, '/v1/users/u/runs', { headers: auth });
    expect(res).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    expect(res.headers.get('retry-after')).toBe('1');
    await engine.close();
  });
});

// POST /v1/runs/:run_id/cancel (docs/protocol.md D): a backend cancels a user's run, on whichever node
// it runs. Across two nodes: test/integration/redis-nodes/cancel-across-nodes.test.ts.
describe('POST /v1/runs/:run_id/cancel', () => {
  let h: Harness | undefined;
  let gate = deferred();
  afterEach(async () => {
    gate.resolve();
    await h?.close();
    h = undefined;
  });

  const waiting = defineAgent({
    name: 'waiting',
    async *run() {
      yield { type: 'agent_thinking', data: { reasoning: 'waiting' } };
      await gate.promise;
    },
  });

  function cancel(harness: Harness, runId: string, body: unknown, headers: Record<string, string> = auth) {
    return get(harness, `/v1/runs/${encodeURIComponent(runId)}/cancel`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  it('answers 202 and the run ends cancelled, exactly once; a repeated cancel answers 200 ended', async () => {
    gate = deferred();
    h = await startGateway({ defaultAgent: 'waiting' }, { agents: [waiting] });
    const client = await h.connect('u 1');
    const runId = await ask(client, 'm1', { text: 'hi' });
    const res = await cancel(h, runId, { user_id: 'u 1' });
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ run_id: runId, status: 'cancelling' });
    const completed = await client.next('agent_completed');
    expect(completed).toMatchObject({
      run_id: runId,
      data: { status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled by the user' } },
    });
    await expect
      .poll(async () => (await cancel(h as Harness, runId, { user_id: 'u 1' })).body)
      .toEqual({ run_id: runId, status: 'ended' });
    expect((await cancel(h, runId, { user_id: 'u 1' })).status).toBe(200);
    expect(client.frames.filter((f) => f.type === 'agent_completed')).toHaveLength(1);
  });

  it('answers 404 NOT_FOUND for another user’s run and an unknown run; the run goes on', async () => {
    gate = deferred();
    h = await startGateway({ defaultAgent: 'waiting' }, { agents: [waiting] });
    const client = await h.connect('u1');
    const runId = await ask(client, 'm1', { text: 'hi' });
    expect(await cancel(h, runId, { user_id: 'u2' })).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: `no active run ${runId} for this user` } },
    });
    expect(await cancel(h, 'r_nope', { user_id: 'u1' })).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    });
    gate.resolve();
    expect(await client.next('agent_completed')).toMatchObject({
      run_id: runId,
      data: { status: 'succeeded' },
    });
  });

  it('needs the API key, takes only POST, and checks the body and run_id', async () => {
    h = await startGateway();
    expect(await cancel(h, 'r_1', { user_id: 'u' }, {})).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    });
    const getRes = await get(h, '/v1/runs/r_1/cancel', { headers: auth });
    expect(getRes).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(getRes.headers.get('allow')).toBe('POST');
    expect(await cancel(h, 'r_1', '{nope')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_JSON' } },
    });
    for (const body of [{}, { user_id: '' }, { user_id: 7 }, { user_id: 'x'.repeat(129) }, [], null]) {
      expect(await cancel(h, 'r_1', body)).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_MESSAGE' } },
      });
    }
    expect(await cancel(h, 'x'.repeat(129), { user_id: 'u' })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_MESSAGE' } },
    });
    expect(
      await get(h, '/v1/runs/%E0%A4%A/cancel', { method: 'POST', headers: auth, body: '{"user_id":"u"}' }),
    ).toMatchObject({ status: 400, body: { error: { code: 'INVALID_MESSAGE' } } });
    expect(await cancel(h, 'r_1', { user_id: 'u', pad: 'x'.repeat(5000) })).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
  });

  it('answers 503 with Retry-After when the run registry cannot be asked', async () => {
    const engine = new DelegatingEngine(new MemoryEngine());
    engine.fail('requestCancel', new EngineUnavailableError('redis is down', { nothingApplied: true }));
    h = await startGateway({}, { engine });
    const res = await cancel(h, 'r_elsewhere', { user_id: 'u' });
    expect(res).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    expect(res.headers.get('retry-after')).toBe('1');
    await engine.close();
  });
});
