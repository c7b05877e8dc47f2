import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { deferred } from '../../helpers/deferred.js';
import { TEST_API_KEY } from '../../helpers/gateway-harness.js';
import { NODE_LOST, startRun, terminalOf, useGatewayNodes } from '../../helpers/gateway-nodes.js';
import { requireRedisServer } from '../../helpers/redis-server.js';
import { line, localBackend } from '../agents/local-backend.js';

// Issue 26 across nodes (docs/protocol.md F): the snapshot lives in Redis, folded by append.lua, so a tab
// on another node than the run's gets the same catch-up, and the snapshot outlives the owner node.
// Gateway processes (`node dist/cli.js serve`; `npm run build` first) on a redis-server of this test's own.
const available = await requireRedisServer('redis-nodes snapshots');

const TOKENS = 1_000;
const LEASE_S = 3;
const text = Array.from({ length: TOKENS }, (_, i) => `w${i} `).join('');

describe.skipIf(!available)('run snapshots across gateway processes on one Redis', () => {
  const release = deferred();
  let backendUrl = '';
  const nodes = useGatewayNodes({
    keyPrefix: 'snapshots-test:',
    args: [...['--run-lease-s', String(LEASE_S), '--default-agent', 'webhook', '--agent-secret', 'a-secret']],
  });

  async function backend() {
    const b = await localBackend(async (_request, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let body = '';
      for (let i = 0; i < TOKENS; i++) body += line({ type: 'stream_chunk', data: { text: `w${i} ` } });
      res.write(body);
      await release.promise;
      res.end(line({ type: 'agent_completed', data: { status: 'succeeded', final_response: 'ok' } }));
    });
    backendUrl = b.url;
    return b;
  }

  it('the run on node A, a late tab on node B: one snapshot with every token so far; after A dies the snapshot shows NODE_LOST', async () => {
    const b0 = await backend();
    try {
      const a = await nodes.start('node-a', ['--agent-url', backendUrl]);
      const b = await nodes.start('node-b', ['--agent-url', backendUrl]);
      const onA = await nodes.connect(a, 'alice');
      const runId = await startRun(onA, 'm1');
      await onA.events(TOKENS + 1, 20_000); // agent_started and every token stored
      const late = await nodes.connect(b, 'alice', '?catch_up=snapshot');
      expect(late.frames[0]?.data).toMatchObject({ resume: 'snapshot', seq: TOKENS + 1 });
      expect(await late.next('run_snapshot')).toMatchObject({
        run_id: runId,
        data: { text, status: 'running', last_seq: TOKENS + 1 },
      });

      await nodes.kill(a);
      const terminal = await terminalOf(late, runId, LEASE_S * 1000 + 8_000);
      expect(terminal.data).toEqual(NODE_LOST);
      expect(terminal.seq).toBe(TOKENS + 2);
      const res = await fetch(`http://127.0.0.1:${b.port}/v1/runs/${runId}?user_id=alice`, {
        headers: { Authorization: `Bearer ${TEST_API_KEY}` },
      });
      expect(await res.json()).toMatchObject({
        run_id: runId,
        status: 'failed',
        error: NODE_LOST.error,
        text,
        last_seq: TOKENS + 2,
      });
    } finally {
      release.resolve();
      await b0.close();
    }
  });
});
