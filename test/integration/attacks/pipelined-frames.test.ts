import { afterEach, describe, expect, it } from 'vitest';
import { defineAgent } from '../../../packages/server/src/agents/define-agent.js';
import { signToken } from '../../../packages/server/src/auth/dev-token.js';
import { CloseCode } from '../../../packages/server/src/protocol/close-codes.js';
import { type Harness, startGateway } from '../../helpers/gateway-harness.js';
import { metricValue } from '../../helpers/metric-value.js';
import { RawWsReader } from '../../helpers/raw-ws.js';

/**
 * docs/protocol.md A: until the welcome is sent, no frame but the first `auth` is processed. Frames an
 * attacker pipelines behind `auth` in the same TCP write are parsed by ws from one chunk, so pausing the
 * socket cannot hold them; the connection must. With a forged token the only answer is the close; with a
 * valid one the welcome comes first and every pipelined frame is answered after it, in order.
 */

const AGENT = 'spy';

describe('frames pipelined behind auth (issue 13, finding 1)', () => {
  let h: Harness | undefined;
  /** Users the spy agent ran for: must never contain a user whose token did not verify. */
  let ranFor: string[] = [];

  afterEach(async () => {
    await h?.close();
    h = undefined;
    ranFor = [];
  });

  async function start(overrides: Parameters<typeof startGateway>[0] = {}): Promise<Harness> {
    const spy = defineAgent({
      name: AGENT,
      async *run(input, ctx) {
        ranFor.push(ctx.userId);
        yield { type: 'stream_chunk', data: { text: `echo ${input.text}` } };
      },
    });
    h = await startGateway({ demoDelayMs: 0, ...overrides }, { agents: [spy] });
    return h;
  }

  const pipelined = (token: string): string[] => [
    JSON.stringify({ type: 'auth', token }),
    JSON.stringify({ type: 'ping', id: 'p1' }),
    JSON.stringify({ type: 'user_message', id: 'm1', data: { text: 'hi', agent: AGENT } }),
    JSON.stringify({ type: 'cancel', id: 'c1', data: { run_id: 'r_unknown' } }),
  ];

  it('a forged token behind which ping, user_message and cancel are pipelined gets the 4001 close and nothing else; no run starts', async () => {
    const g = await start();
    const raw = await RawWsReader.open(g.port, '/ws', { 'Sec-WebSocket-Protocol': 'agentcast.v1' });
    const forged = await signToken('not-the-gateway-secret-but-long-enough!!', 'victim', 3600);
    raw.sendTexts(pipelined(forged));
    expect(await raw.closed()).toBe(CloseCode.Unauthorized);
    expect(raw.messages()).toEqual([]);
    expect(ranFor).toEqual([]);
    expect(await metricValue(g.gateway.metrics, 'agentcast_runs_started_total')).toBe(0);
  });

  /** The welcome first; then one answer per pipelined frame and the whole run, seq 1..3 in order. */
  function expectServedInOrder(frames: Record<string, unknown>[]): void {
    expect(frames[0]).toMatchObject({ type: 'welcome', data: { seq: 0, resume: 'none' } });
    // The ping is answered synchronously, before the handlers of the two frames after it; those two
    // answer when their work completes, as on any open connection.
    expect(frames[1]).toMatchObject({ type: 'pong', id: 'p1' });
    const answers = frames.filter((f) => f.seq === undefined).slice(2);
    expect(answers).toHaveLength(2);
    expect(answers).toContainEqual(
      expect.objectContaining({ type: 'ack', id: 'm1', data: expect.objectContaining({ duplicate: false }) }),
    );
    expect(answers).toContainEqual(
      expect.objectContaining({
        type: 'error',
        id: 'c1',
        data: expect.objectContaining({ code: 'NOT_FOUND' }),
      }),
    );
    const events = frames.filter((f) => f.seq !== undefined);
    expect(events.map((f) => [f.type, f.seq])).toEqual([
      ['agent_started', 1],
      ['stream_chunk', 2],
      ['agent_completed', 3],
    ]);
  }

  it('a valid token: the welcome is the first frame, then the answers to ping, user_message and cancel, and the run is delivered whole', async () => {
    const g = await start();
    const raw = await RawWsReader.open(g.port, '/ws', { 'Sec-WebSocket-Protocol': 'agentcast.v1' });
    raw.sendTexts(pipelined(await g.token('alice')));
    expectServedInOrder(await raw.until((m) => m.some((f) => f.type === 'agent_completed')));
    expect(ranFor).toEqual(['alice']);
  });

  it('a token on the upgrade with frames in the same write as the upgrade request: the welcome still comes first', async () => {
    const g = await start();
    const token = await g.token('bob');
    const raw = await RawWsReader.open(
      g.port,
      '/ws',
      { 'Sec-WebSocket-Protocol': 'agentcast.v1', Authorization: `Bearer ${token}` },
      pipelined(token).slice(1),
    );
    expectServedInOrder(await raw.until((m) => m.some((f) => f.type === 'agent_completed')));
    expect(ranFor).toEqual(['bob']);
  });

  it('more frames before the welcome than --max-early-frames close the connection 4029 without answering any', async () => {
    const g = await start({ maxEarlyFrames: 4 });
    const raw = await RawWsReader.open(g.port, '/ws', { 'Sec-WebSocket-Protocol': 'agentcast.v1' });
    const pings = Array.from({ length: 5 }, (_, i) => JSON.stringify({ type: 'ping', id: `p${i}` }));
    raw.sendTexts([JSON.stringify({ type: 'auth', token: await g.token('carol') }), ...pings]);
    expect(await raw.closed()).toBe(CloseCode.RateLimited);
    expect(raw.messages().filter((f) => f.type !== 'welcome')).toEqual([]);
  });

  it('a frame before auth, even pipelined with a valid auth behind it, closes 4001 unanswered', async () => {
    const g = await start();
    const raw = await RawWsReader.open(g.port, '/ws', { 'Sec-WebSocket-Protocol': 'agentcast.v1' });
    raw.sendTexts([JSON.stringify({ type: 'ping', id: 'p0' }), ...pipelined(await g.token('dave'))]);
    expect(await raw.closed()).toBe(CloseCode.Unauthorized);
    expect(raw.messages()).toEqual([]);
    expect(ranFor).toEqual([]);
  });
});
