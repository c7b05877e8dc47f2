import { describe, expect, it } from 'vitest';
import {
  ILL_FORMED_ID_MESSAGE,
  idSchema,
  isWellFormed,
  MAX_DATA_DEPTH,
  nestsDeeperThan,
  parseNewEvent,
} from '../../../packages/server/src/protocol/events.js';
import { encodeServerFrame, parseClientFrame } from '../../../packages/server/src/protocol/frames.js';
import { parsePublishBody, parsePublishItem } from '../../../packages/server/src/protocol/publish.js';
import {
  RESERVED_EVENT_TYPES,
  ServerFrameType,
} from '../../../packages/server/src/protocol/server-frame-type.js';

/**
 * The input rules of docs/protocol.md B that keep one user's bad input from hurting the gateway or
 * another user: `data` nesting depth, well-formed ids, and event types reserved for server frames.
 */

/** An object nested `depth` levels (`{}` is 1), alternating objects and arrays, built without recursion. */
function nested(depth: number): Record<string, unknown> {
  let value: unknown = {};
  for (let level = depth - 1; level >= 1; level--) value = level % 2 === 1 ? { a: value } : [value];
  return value as Record<string, unknown>;
}

const DEPTH_MESSAGE = `nested deeper than ${MAX_DATA_DEPTH} levels`;

describe('nestsDeeperThan', () => {
  it('counts an object or array as one level and a primitive as none', () => {
    for (const primitive of [null, undefined, 0, 'x', true, 1n])
      expect(nestsDeeperThan(primitive, 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan([], 0)).toBe(true);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: 1, b: 'x' }, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [] }, 1)).toBe(true);
    expect(nestsDeeperThan([1, [2]], 1)).toBe(true);
    expect(nestsDeeperThan([1, [2]], 2)).toBe(false);
  });

  it.each([1, 2, 63, 64, 65, 1000])('finds the depth of %i levels exactly', (depth) => {
    expect(nestsDeeperThan(nested(depth), depth)).toBe(false);
    expect(nestsDeeperThan(nested(depth), depth - 1)).toBe(true);
  });

  it('finds a deep branch after shallow siblings', () => {
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, { v: i }]));
    expect(nestsDeeperThan({ ...wide, last: nested(64) }, 64)).toBe(true);
    expect(nestsDeeperThan({ ...wide, last: nested(63) }, 64)).toBe(false);
  });

  it('never overflows the stack itself, however deep the input (a million levels, a cycle)', () => {
    expect(nestsDeeperThan(nested(1_000_000), MAX_DATA_DEPTH)).toBe(true);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(nestsDeeperThan(cycle, MAX_DATA_DEPTH)).toBe(true);
  });

  it('visits inherited enumerable keys too: never fewer values than JSON.stringify serialises', () => {
    const inherited = Object.create({ deep: nested(100) }) as Record<string, unknown>;
    expect(nestsDeeperThan(inherited, 64)).toBe(true);
    expect(nestsDeeperThan(Object.create({ shallow: { a: 1 } }), 2)).toBe(false);
  });
});

describe('event data depth (docs/protocol.md B)', () => {
  it(`accepts data ${MAX_DATA_DEPTH} levels deep and refuses ${MAX_DATA_DEPTH + 1}, naming data`, () => {
    expect(parseNewEvent({ type: 'notification', data: nested(MAX_DATA_DEPTH) }).ok).toBe(true);
    expect(parseNewEvent({ type: 'notification', data: nested(MAX_DATA_DEPTH + 1) })).toEqual({
      ok: false,
      message: `data: ${DEPTH_MESSAGE}`,
    });
  });

  it('refuses a deep golden-path payload too (tool_args, results)', () => {
    const args = { tool_name: 't', execution_id: 'x', tool_args: nested(MAX_DATA_DEPTH) };
    expect(parseNewEvent({ type: 'tool_executing', data: args })).toEqual({
      ok: false,
      message: `data: ${DEPTH_MESSAGE}`,
    });
    const results = {
      tool_name: 't',
      execution_id: 'x',
      success: true,
      duration_ms: 1,
      results: nested(20_000),
    };
    expect(parseNewEvent({ type: 'tool_completed', data: results })).toEqual({
      ok: false,
      message: `data: ${DEPTH_MESSAGE}`,
    });
  });

  it('names the event of a batch: events.<i>.data', () => {
    const ok = { user_id: 'u1', type: 'notification', data: {} };
    const deep = { ...ok, data: nested(20_000) };
    expect(parsePublishBody({ events: [ok, ok, deep] })).toEqual({
      ok: false,
      message: `events.2.data: ${DEPTH_MESSAGE}`,
    });
    expect(parsePublishBody(deep)).toEqual({ ok: false, message: `data: ${DEPTH_MESSAGE}` });
  });

  it('refuses a cyclic data object from code instead of failing later in JSON.stringify', () => {
    const data: Record<string, unknown> = {};
    data.self = data;
    expect(parsePublishItem('u1', { type: 'notification', data })).toEqual({
      ok: false,
      message: `data: ${DEPTH_MESSAGE}`,
    });
  });
});

describe('well-formed ids (docs/protocol.md B)', () => {
  it.each(['u1', 'u\ud83d\ude00', 'victim\ufffd', 'x'.repeat(128)])('accepts %j', (id) => {
    expect(isWellFormed(id)).toBe(true);
    expect(idSchema.safeParse(id).success).toBe(true);
  });

  it.each(['victim\ud800', '\udc00', 'a\ude00\ud83db', `${'x'.repeat(127)}\ud800`])('refuses %j', (id) => {
    expect(isWellFormed(id)).toBe(false);
    const parsed = idSchema.safeParse(id);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([ILL_FORMED_ID_MESSAGE]);
  });

  it('refuses a publish naming user_id or run_id, in a batch with its index', () => {
    const note = { type: 'notification', data: {} };
    expect(parsePublishBody({ user_id: 'v\ud800', ...note })).toEqual({
      ok: false,
      message: `user_id: ${ILL_FORMED_ID_MESSAGE}`,
    });
    expect(parsePublishBody({ events: [{ user_id: 'v', run_id: 'r\udfff', ...note }] })).toEqual({
      ok: false,
      message: `events.0.run_id: ${ILL_FORMED_ID_MESSAGE}`,
    });
    expect(parsePublishBody({ user_id: 'v', ...note, data: { tool: 1 } }).ok).toBe(true);
  });

  it('refuses gateway.publish() input naming user_id before the event', () => {
    expect(parsePublishItem('v\ud800', { type: 'welcome', data: {} })).toEqual({
      ok: false,
      message: `user_id: ${ILL_FORMED_ID_MESSAGE}`,
    });
    expect(parsePublishItem('', { type: 'notification' })).toMatchObject({
      ok: false,
      message: /^user_id: /,
    });
    expect(parsePublishItem('v', { type: 'notification' })).toEqual({
      ok: true,
      value: { userId: 'v', event: { type: 'notification', run_id: undefined, data: {} } },
    });
  });

  it('answers client frames with a lone surrogate in an id with INVALID_MESSAGE naming the field', () => {
    const cases = [
      { frame: { type: 'user_message', id: 'm\ud800', data: { text: 'hi' } }, field: 'id' },
      {
        frame: { type: 'chat_message', id: 'm1', data: { text: 'hi', thread_id: '\udc00' } },
        field: 'data.thread_id',
      },
      { frame: { type: 'cancel', id: 'c\ud800', data: { run_id: 'r1' } }, field: 'id' },
      { frame: { type: 'cancel', data: { run_id: 'r\ud800' } }, field: 'data.run_id' },
    ];
    for (const { frame, field } of cases) {
      expect(parseClientFrame(JSON.stringify(frame))).toMatchObject({
        ok: false,
        code: 'INVALID_MESSAGE',
        message: `${field}: ${ILL_FORMED_ID_MESSAGE}`,
      });
    }
  });

  it('parses a client frame carrying deep nesting without recursing into it', () => {
    const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    expect(
      parseClientFrame(`{"type":"user_message","id":"m1","data":{"text":"hi","extra":${deep}}}`),
    ).toEqual({
      ok: true,
      frame: { type: 'user_message', id: 'm1', data: { text: 'hi' } },
    });
    expect(parseClientFrame(`{"type":"ping","id":${deep}}`)).toMatchObject({
      ok: false,
      code: 'INVALID_MESSAGE',
    });
  });
});

describe('reserved event types (docs/protocol.md §3, B)', () => {
  it('reserves exactly the types of the frames encodeServerFrame writes', () => {
    const written = [
      encodeServerFrame.welcome({
        connection_id: 'c',
        user_id: 'u',
        server_id: 's',
        epoch: 'e',
        seq: 0,
        heartbeat_ms: 1,
        resume: 'none',
      }),
      encodeServerFrame.authOk(),
      encodeServerFrame.pong(1, 't'),
      encodeServerFrame.ack('m1', { run_id: 'r' }),
      encodeServerFrame.error('INTERNAL', 'm'),
      encodeServerFrame.runSnapshot({
        run_id: 'r',
        status: 'running',
        started_at: 't',
        text: '',
        reasoning: '',
        tools: [],
        approvals: [],
        last_seq: 1,
        epoch: 'e',
        truncated: false,
      }),
    ].map((text) => (JSON.parse(text) as { type: string }).type);
    expect([...RESERVED_EVENT_TYPES].sort()).toEqual(written.sort());
    expect([...RESERVED_EVENT_TYPES].sort()).toEqual(Object.values(ServerFrameType).sort());
  });

  it.each([...RESERVED_EVENT_TYPES])('refuses an event of type %s, naming it', (type) => {
    expect(parseNewEvent({ type, data: {} })).toEqual({
      ok: false,
      message: `type: "${type}" is reserved for the gateway's own frames`,
    });
  });

  it('still accepts types that only contain a reserved name', () => {
    for (const type of ['welcome_back', 'app.error', 'acknowledged', 'pong2'])
      expect(parseNewEvent({ type, data: {} }).ok).toBe(true);
  });
});
