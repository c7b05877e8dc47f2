import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { EventSchema } from '@ag-ui/core/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
} from '../../../packages/server/src/agents/webhook-signature.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';

const SCRIPT = new URL('../../../examples/ag_ui_backend.py', import.meta.url).pathname;
const hasPython = spawnSync('python3', ['--version']).status === 0;
if (!hasPython) console.warn('SKIPPED: examples/ag_ui_backend.py tests need python3 on PATH');

describe.skipIf(!hasPython)(
  'examples/ag_ui_backend.py behind a real gateway (--agent-protocol ag-ui)',
  () => {
    let child: ChildProcess;
    let gateway: Harness;
    let backendUrl = '';

    beforeAll(async () => {
      child = spawn('python3', [SCRIPT, '--port', '0', '--pause', '0.005', '--secret', 's3cret'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      const [first] = (await once(lines, 'line')) as [string];
      const url = /^listening on (http:\/\/\S+)$/.exec(first)?.[1];
      if (url === undefined) throw new Error(`ag_ui_backend.py printed "${first}" instead of its URL`);
      backendUrl = url;
      gateway = await startGateway({
        agentUrl: url,
        agentSecret: 's3cret',
        agentProtocol: 'ag-ui',
        defaultAgent: 'webhook',
      });
    });

    afterAll(async () => {
      await gateway?.close();
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    });

    it("streams the run's AG-UI frames into the user's agentcast stream", async () => {
      const client = await gateway.connect('u1');
      client.send({ type: 'user_message', id: 'm1', data: { text: 'count these four words' } });
      const ack = await client.next('ack');
      const runId = (ack.data as { run_id: string }).run_id;
      const done = await client.next('agent_completed', 10_000);
      expect(done.run_id).toBe(runId);
      const types = client.frames.filter((f) => f.run_id === runId).map((f) => f.type);
      expect(types).toEqual([
        'agent_started',
        'tool_executing',
        'tool_completed',
        'stream_chunk',
        'stream_chunk',
        'stream_chunk',
        'agent_completed',
      ]);
      const completed = client.frames.find((f) => f.run_id === runId && f.type === 'tool_completed');
      expect(completed?.data).toMatchObject({ tool_name: 'word_count', success: true });
      expect(JSON.parse(String(completed?.data?.results))).toEqual({ words: 4, characters: 22 });
      expect(done.data).toEqual({
        status: 'succeeded',
        final_response: 'Your message has 4 words and 22 characters.',
      });
    });

    it('writes the frames the official encoder writes, each a valid @ag-ui/core event; 401 unsigned', async () => {
      const body = JSON.stringify({
        threadId: 't',
        runId: 'r',
        messages: [{ id: 'm', role: 'user', content: [{ type: 'text', text: 'two words' }] }],
        tools: [],
        context: [],
        state: {},
        forwardedProps: {},
      });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers = { [TIMESTAMP_HEADER]: timestamp, 'content-type': 'application/json' };
      const signed = await fetch(backendUrl, {
        method: 'POST',
        headers: { ...headers, [SIGNATURE_HEADER]: signWebhook('s3cret', timestamp, body) },
        body,
      });
      expect(signed.headers.get('content-type')).toBe('text/event-stream');
      const frames = (await signed.text()).split('\n\n');
      expect(frames.pop()).toBe('');
      const events = frames.map((frame) => {
        expect(frame).toMatch(/^data: \{[^\n]*\}$/u);
        return EventSchema.parse(JSON.parse(frame.slice('data: '.length)));
      });
      expect(events.at(0)).toEqual({ type: 'RUN_STARTED', threadId: 't', runId: 'r' });
      expect(events.at(-1)).toEqual({ type: 'RUN_FINISHED', threadId: 't', runId: 'r' });
      const unsigned = await fetch(backendUrl, {
        method: 'POST',
        headers: { ...headers, [SIGNATURE_HEADER]: signWebhook('other', timestamp, body) },
        body,
      });
      expect(unsigned.status).toBe(401);
      await unsigned.body?.cancel();
    });
  },
);
