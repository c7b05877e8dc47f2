import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNewEvent, parseNewEventWithSchema } from '../../../packages/server/src/protocol/events.js';
import {
  parsePublishBody,
  parsePublishBodyWithSchemas,
  parsePublishLine,
  parsePublishLineWithSchemas,
} from '../../../packages/server/src/protocol/publish.js';

/**
 * parsePublishBody checks the common body by hand before the zod schemas: it must accept exactly what the
 * schemas accept, with the same items, and refuse with the schemas' message. Compared here on generated
 * bodies built from the values that sit on either side of each rule, as objects and as JSON text parsed
 * (JSON.parse makes `__proto__` an own key).
 */

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { n: value } : [value];
  return value;
}

const withSymbol = { text: 'a', [Symbol('s')]: 1 };
const nonEnumerable = Object.defineProperty({ text: 'a' }, 'hidden', { value: 1, enumerable: false });
const nullProto = Object.assign(Object.create(null) as object, { text: 'a' });
class Custom {
  text = 'a';
}

const id = fc.oneof(
  fc.constantFrom('u1', 'alice', 'x'.repeat(128), 'x'.repeat(129), '', 'v\ud800', 'ok\ud83d\ude00', ' '),
  fc.string({ maxLength: 10 }),
  fc.constantFrom(1, null, true, {}, [], undefined),
);

const type = fc.oneof(
  fc.constantFrom(
    'stream_chunk',
    'agent_thinking',
    'progress',
    'my.custom_type',
    'a',
    `a${'b'.repeat(63)}`,
    `a${'b'.repeat(64)}`,
    'Upper',
    '1abc',
    '',
    'welcome',
    'ack',
    'run_snapshot',
    'approval_requested',
    'approval_resolved',
    'tool_executing',
    'tool_completed',
    'agent_started',
    'agent_completed',
    'notification',
    'constructor',
    'toString',
    '__proto__',
    'hasOwnProperty',
  ),
  fc.string({ maxLength: 8 }),
  fc.constantFrom(1, null, undefined, ['stream_chunk']),
);

/** `data` values on either side of the record rule (zod's plain-object test, its key copy) and of the depth bound. */
const DATA_CASES: readonly unknown[] = [
  undefined,
  null,
  {},
  { text: 'hi' },
  { text: 'hi', reasoning: 'r' },
  { text: '' },
  { text: 1 },
  { reasoning: 'r' },
  { reasoning: null },
  { text: 'x', extra: { a: [1, 2] } },
  { tool_name: 't', tool_args: {}, execution_id: 'e' },
  { tool_name: 't', execution_id: 'e', success: true, results: 1, duration_ms: 3 },
  { status: 'succeeded', final_response: 'done' },
  { agent_name: 'a', task_description: 't' },
  { constructor: 1, text: 'a' },
  { constructor: { prototype: { isPrototypeOf: 1 } }, text: 'a' },
  { deep: nested(62) },
  { deep: nested(63) },
  { deep: nested(64) },
  { text: 'a', deep: nested(70) },
  [1, 2],
  [],
  'text',
  5,
  withSymbol,
  nonEnumerable,
  nullProto,
  new Custom(),
  new Date(0),
  { constructor: Custom, text: 'a' },
  { constructor: Object, text: 'a' },
];

const dataValue = fc.oneof(
  fc.constantFrom(...DATA_CASES),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Mostly valid values, so that the rule under test is often the only one an event breaks. */
const mostly = <T>(valid: fc.Arbitrary<T>, any: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: any, weight: 1 });

const event = fc
  .record(
    {
      user_id: mostly(fc.constantFrom('u1', 'x'.repeat(128)), id),
      type: mostly(fc.constantFrom('stream_chunk', 'agent_thinking', 'progress'), type),
      run_id: mostly(fc.constantFrom('r1', 'x'.repeat(128)), id),
      data: dataValue,
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  )
  .chain((ev) =>
    fc.constantFrom<unknown>(ev, null, 'event', [ev], Object.assign(Object.create(null) as object, ev)),
  );

/** A valid event with exactly one thing changed: each rule is then the only one an event may break. */
const envelope = { user_id: 'u1', type: 'progress', run_id: 'r1', data: { text: 't', reasoning: 'r' } };
const without = (key: keyof typeof envelope) => {
  const { [key]: _dropped, ...rest } = envelope;
  return rest;
};
const oneFieldOff = fc.oneof(
  id.map((user_id) => ({ ...envelope, user_id })),
  type.map((t) => ({ ...envelope, type: t })),
  id.map((run_id) => ({ ...envelope, run_id })),
  fc
    .tuple(fc.constantFrom('progress', 'stream_chunk', 'agent_thinking'), dataValue)
    .map(([t, data]) => ({ ...envelope, type: t, data })),
  fc.constantFrom<unknown>(
    without('user_id'),
    without('type'),
    without('run_id'),
    without('data'),
    Object.assign(Object.create(null) as object, envelope),
    Object.create(envelope),
    [envelope],
    Object.assign(new Custom(), envelope),
  ),
);

const validEvent = fc.record(
  {
    user_id: fc.constantFrom('u1', 'alice', 'x'.repeat(128)),
    type: fc.constantFrom('stream_chunk', 'agent_thinking', 'progress', 'my.custom_type'),
    run_id: fc.constantFrom('r1', 'run-2'),
    data: fc.constantFrom({ text: 'hi' }, { reasoning: 'r', text: 'x' }, { text: 'x', extra: { a: [1, 2] } }),
  },
  { requiredKeys: ['user_id', 'type', 'data'] },
);

const body = fc.oneof(
  oneFieldOff,
  oneFieldOff.map((ev) => ({ events: [ev] })),
  event,
  validEvent,
  fc.array(fc.oneof(event, validEvent), { maxLength: 4 }).map((events) => ({ events })),
  fc.array(validEvent, { minLength: 1, maxLength: 4 }).map((events) => ({ events })),
  fc
    .array(validEvent, { minLength: 1, maxLength: 3 })
    .map((events) => ({ events, user_id: 'u1', type: 'progress' })),
  fc.constantFrom<unknown>(
    { events: [] },
    { events: 'x' },
    { events: null },
    { events: {} },
    { events: undefined },
    [],
    null,
    42,
    'body',
    Object.assign([], { events: [{ user_id: 'u', type: 'progress' }] }),
  ),
);

/** Both parses agree: the same outcome, the same message, the same items (key order included). */
function expectSameParse(input: unknown): void {
  const fast = parsePublishBody(input);
  const schemas = parsePublishBodyWithSchemas(input);
  expect(fast).toStrictEqual(schemas);
  if (fast.ok && schemas.ok) {
    expect(JSON.stringify(fast.value)).toBe(JSON.stringify(schemas.value));
    for (const [i, item] of fast.value.entries()) {
      expect(Object.keys(item.event.data)).toEqual(Object.keys(schemas.value[i]?.event.data ?? {}));
    }
  }
}

describe('parsePublishBody: the hand-written check and the zod schemas', () => {
  it('agree on generated bodies', () => {
    fc.assert(fc.property(body, expectSameParse), { numRuns: 1000 });
  });

  it('agree on the same bodies sent as JSON text (own __proto__ keys included)', () => {
    const text = body.map((b) => JSON.stringify(b) ?? 'null');
    const protoKeyed = fc.constantFrom(
      '{"user_id":"u","type":"progress","data":{"__proto__":{"x":1},"a":1}}',
      '{"user_id":"u","type":"stream_chunk","data":{"__proto__":{"text":"t"}}}',
      '{"user_id":"u","type":"stream_chunk","data":{"text":"t","__proto__":null}}',
      '{"__proto__":{"user_id":"u"},"type":"progress"}',
      '{"user_id":"u","type":"progress","data":{"constructor":{"prototype":{"isPrototypeOf":1}}}}',
      '{"events":[{"user_id":"u","type":"progress","data":{"__proto__":{"deep":1}}}]}',
    );
    fc.assert(
      fc.property(fc.oneof(text, protoKeyed), (t) => expectSameParse(JSON.parse(t))),
      { numRuns: 1000 },
    );
  });

  it('agree on every data case, for each kind of type, alone and in a batch', () => {
    for (const t of ['progress', 'stream_chunk', 'agent_thinking', 'tool_executing', 'welcome']) {
      for (const data of DATA_CASES) {
        const ev = { user_id: 'u1', type: t, run_id: 'r1', data };
        expectSameParse(ev);
        expectSameParse({ events: [envelope, ev] });
      }
    }
  });

  it('agree on the batch bound: 500 events, 501 events', () => {
    const ev = { user_id: 'u1', type: 'stream_chunk', data: { text: 't' } };
    expectSameParse({ events: Array.from({ length: 500 }, () => ev) });
    expectSameParse({ events: Array.from({ length: 501 }, () => ev) });
    expect(parsePublishBody({ events: Array.from({ length: 501 }, () => ev) }).ok).toBe(false);
  });

  it('takes the common single-event body without the schemas', () => {
    const parsed = parsePublishBody({
      events: [{ user_id: 'u1', type: 'stream_chunk', run_id: 'r1', data: { t: 1, text: 'tok ' } }],
    });
    expect(parsed).toEqual({
      ok: true,
      value: [{ userId: 'u1', event: { type: 'stream_chunk', run_id: 'r1', data: { t: 1, text: 'tok ' } } }],
    });
  });
});

/** A streamed publish's line (docs/protocol.md D): one event, its own key; the same hand check first. */
describe('parsePublishLine: the hand-written check and the zod schema', () => {
  const key = fc.oneof(
    fc.constantFrom(undefined, 'k-1', 'x'.repeat(128), 'x'.repeat(129), '', 'has space', 'é', 7, null),
    fc.string({ maxLength: 6 }),
  );
  const line = fc.oneof(
    fc
      .tuple(fc.oneof(oneFieldOff, event, validEvent), key)
      .map(([ev, k]) =>
        typeof ev === 'object' && ev !== null && !Array.isArray(ev) && k !== undefined
          ? { ...ev, idempotency_key: k }
          : ev,
      ),
    validEvent.map((ev) => ({ ...ev, events: [ev] })),
    fc.constantFrom<unknown>(null, [], 'line', { events: [] }),
  );
  const expectSameLine = (input: unknown) => {
    const fast = parsePublishLine(input);
    const schema = parsePublishLineWithSchemas(input);
    expect(fast).toStrictEqual(schema);
    expect(JSON.stringify(fast)).toBe(JSON.stringify(schema));
  };

  it('agree on generated lines, as objects and as JSON text', () => {
    fc.assert(fc.property(line, expectSameLine), { numRuns: 1000 });
    fc.assert(
      fc.property(line, (l) => expectSameLine(JSON.parse(JSON.stringify(l) ?? 'null'))),
      { numRuns: 500 },
    );
  });
});

/** An agent's event (webhook lines, the AI SDK decoder, gateway.publish): the same hand check first. */
describe('parseNewEvent: the hand-written check and the zod schema', () => {
  const expectSameEvent = (input: unknown) => {
    const fast = parseNewEvent(input, 'events.0');
    const schema = parseNewEventWithSchema(input, 'events.0');
    expect(fast).toStrictEqual(schema);
    expect(JSON.stringify(fast)).toBe(JSON.stringify(schema));
  };

  it('agree on generated events, as objects and as JSON text', () => {
    const input = fc.oneof(oneFieldOff, event, validEvent);
    fc.assert(fc.property(input, expectSameEvent), { numRuns: 1000 });
    fc.assert(
      fc.property(input, (ev) => expectSameEvent(JSON.parse(JSON.stringify(ev) ?? 'null'))),
      { numRuns: 500 },
    );
  });

  it('agree on every data case, for each kind of type', () => {
    for (const t of ['progress', 'stream_chunk', 'agent_thinking', 'tool_executing', 'welcome']) {
      for (const data of DATA_CASES) {
        expectSameEvent({ type: t, run_id: 'r1', data });
        expectSameEvent({ type: t, data });
      }
    }
  });
});
