import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../packages/server/src/protocol/close-codes.js';
import { ErrorCode } from '../../packages/server/src/protocol/error-codes.js';
import { type Client, type Harness, startGateway } from '../helpers/gateway-harness.js';
import { eventWithSeq, frameWhere } from '../property/support/frame-wait.js';
import { frameText } from './support/frame-arbitraries.js';

/**
 * docs/protocol.md §5–§7 through a real socket: 2,000 random and mutated frames (some binary, some over
 * max_payload) sent to a real gateway. Nothing crashes and no promise is left rejected; every answer is a
 * documented server frame (error frames carry a documented code); every close is a documented code; and
 * another user's connection receives every event published meanwhile, in order, and stays open.
 */

const FRAMES = 2000;
const SEED = 0x0f_a2_2e_d0;
/** Frames sent between two pings; the pong proves the connection processed them and still answers. */
const CHUNK = 20;
const MAX_PAYLOAD = 4096;
const SERVER_FRAME_TYPES = new Set(['welcome', 'error', 'pong', 'ack', 'auth_ok']);
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
/** A refresh with a junk token closes 4001/4002; the limits close 1009, 4008, 4029 (§7). */
const DOCUMENTED_CLOSES: ReadonlySet<number> = new Set([
  CloseCode.Unauthorized,
  CloseCode.TokenExpired,
  CloseCode.TooManyBadFrames,
  CloseCode.RateLimited,
  CloseCode.FrameTooLarge,
]);

type Outbound = { readonly text: string } | { readonly binary: Buffer };

function fuzzFrames(): Outbound[] {
  const outbound = fc.oneof(
    { arbitrary: frameText.map((text) => ({ text })), weight: 30 },
    { arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ binary: Buffer.from(b) })), weight: 1 },
    { arbitrary: fc.constant({ text: `{"type":"ping","pad":"${'x'.repeat(MAX_PAYLOAD)}"}` }), weight: 1 },
  );
  return fc.sample(outbound, { numRuns: FRAMES, seed: SEED });
}

describe('a real gateway under fuzzed frames', () => {
  let h: Harness | undefined;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };

  afterEach(async () => {
    process.off('unhandledRejection', onRejection);
    await h?.close();
    h = undefined;
  });

  it(`survives ${FRAMES.toLocaleString('en')} fuzzed frames with documented answers and closes, and keeps serving another user (seed 0x${SEED.toString(16)})`, async () => {
    process.on('unhandledRejection', onRejection);
    h = await startGateway({
      maxPayload: MAX_PAYLOAD,
      // Generous enough that most frames reach the parser, tight enough that 4008 and 4029 happen.
      rateLimit: 2000,
      rateBurst: 200,
      maxBadFrames: 40,
      demoDelayMs: 0,
    });
    const g = h;
    const bystander = await g.connect('bystander');
    let published = 0;
    const closes = new Map<number, number>();
    let client = await g.connect('fuzzer');
    let pings = 0;
    const frames = fuzzFrames();
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i] as Outbound;
      if (client.closeCode === undefined) {
        if ('text' in frame) client.ws.send(frame.text);
        else client.ws.send(frame.binary, { binary: true });
      }
      if ((i + 1) % CHUNK !== 0 && i !== frames.length - 1) continue;
      // Another user is served throughout.
      expect(
        (await g.publish({ user_id: 'bystander', type: 'notification', data: { n: published } })).status,
      ).toBe(202);
      published++;
      const id = `probe-${pings++}`;
      if (client.closeCode === undefined) client.ws.send(JSON.stringify({ type: 'ping', id }));
      const answered = await frameWhere(client, (f) => f.type === 'pong' && f.id === id, `pong ${id}`).then(
        () => true,
        () => false,
      );
      if (!answered) {
        // The only acceptable reason for no pong: the connection was closed with a documented code.
        const code = await client.closedWith();
        expect(DOCUMENTED_CLOSES.has(code), `close code ${code} (${client.closeReason})`).toBe(true);
        closes.set(code, (closes.get(code) ?? 0) + 1);
        checkAnswers(client);
        client = await g.connect('fuzzer');
      }
    }
    checkAnswers(client);
    await eventWithSeq(bystander, published, 'the bystander');
    const seqs = bystander.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq);
    expect(seqs).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(bystander.closeCode).toBeUndefined();
    // The gateway still accepts and serves new connections, and nothing was left rejected.
    const fresh = await g.connect('fresh');
    fresh.send({ type: 'ping', id: 'alive' });
    await frameWhere(fresh, (f) => f.type === 'pong' && f.id === 'alive', 'pong from a fresh connection');
    expect(rejections).toEqual([]);
    // The fuzz reached the limits it is meant to reach.
    expect(closes.get(CloseCode.TooManyBadFrames) ?? 0).toBeGreaterThan(0);
    expect(closes.get(CloseCode.FrameTooLarge) ?? 0).toBeGreaterThan(0);
  }, 120_000);
});

/** Every frame the server sent is a documented frame: an event, or a server frame with a documented code. */
function checkAnswers(client: Client): void {
  for (const frame of client.frames) {
    if (typeof frame.seq === 'number') continue;
    expect(SERVER_FRAME_TYPES.has(frame.type), `server frame type ${frame.type}`).toBe(true);
    if (frame.type === 'error') expect(ERROR_CODES.has(String(frame.data?.code))).toBe(true);
  }
}
