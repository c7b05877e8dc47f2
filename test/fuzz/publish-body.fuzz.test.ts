import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameParts } from '../../packages/server/src/engine/stored-frame.js';
import {
  EVENT_TYPE_PATTERN,
  encodeEvent,
  ID_MAX_LENGTH,
  ILL_FORMED_ID_MESSAGE,
  isWellFormed,
  MAX_DATA_DEPTH,
} from '../../packages/server/src/protocol/events.js';
import { parsePublishBody } from '../../packages/server/src/protocol/publish.js';
import { RESERVED_EVENT_TYPES } from '../../packages/server/src/protocol/server-frame-type.js';
import { propertyParameters } from '../property/support/property-parameters.js';
import { deepJsonText, loneSurrogateString } from './support/frame-arbitraries.js';

/**
 * docs/protocol.md §8 and docs/protocol.md B for `POST /v1/publish` bodies, over 20,000 random and mutated
 * bodies (single events and batches, every event type, reserved types, ids with lone surrogates, data
 * nested up to 20,000 levels, any JSON): `parsePublishBody` never throws, and whatever it accepts is safe
 * to store and send: ids 1..128 well-formed characters, a type that matches §3 and is not a server frame
 * type, `data` at most 64 levels deep, and a wire frame that encodes (memory engine) and splits (Redis
 * engine) without throwing. Depth is measured here without recursion, independently of the code under test.
 */

const BODIES = 20_000;
const GOLDEN = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];
const TYPES = [...GOLDEN, 'stream_chunk', 'notification', 'app.custom_1', ...RESERVED_EVENT_TYPES];

/** The nesting depth of a JSON value (objects and arrays count one level each), without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, level] = top;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, level);
    for (const child of Object.values(node)) stack.push([child, level + 1]);
  }
  return deepest;
}

const id = fc.oneof(
  { arbitrary: fc.string({ minLength: 1, maxLength: 12 }), weight: 6 },
  { arbitrary: loneSurrogateString, weight: 1 },
  { arbitrary: fc.string({ minLength: 127, maxLength: 129 }), weight: 1 },
);

/** A JSON object value: plausible data, sometimes nested deep in one field. */
const data: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  {
    arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      text: fc.string(),
      reasoning: fc.string(),
      tool_name: fc.string({ minLength: 1, maxLength: 6 }),
      tool_args: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      execution_id: id,
      success: fc.boolean(),
      results: fc.jsonValue({ maxDepth: 2 }),
      duration_ms: fc.nat(),
      agent_name: fc.string({ minLength: 1, maxLength: 6 }),
      task_description: fc.string(),
      status: fc.constantFrom('succeeded', 'failed'),
      final_response: fc.option(fc.string(), { nil: null }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc
      .tuple(deepJsonText, fc.constantFrom('x', 'tool_args', 'results'))
      .map(([deep, key]) => ({ [key]: JSON.parse(deep) as unknown, tool_name: 't', execution_id: 'e' })),
    weight: 1,
  },
);

const event = fc.record(
  { user_id: id, type: fc.oneof(fc.constantFrom(...TYPES), fc.string({ maxLength: 8 })), run_id: id, data },
  { requiredKeys: ['user_id', 'type'] },
);

/** A body: one event, a batch, or any JSON at all. */
const body: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: event, weight: 4 },
  { arbitrary: fc.array(event, { minLength: 0, maxLength: 4 }).map((events) => ({ events })), weight: 3 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);

describe('parsePublishBody (fuzz)', () => {
  it(`accepts only safe events out of ${BODIES.toLocaleString('en')} random and hostile bodies, never throwing`, () => {
    const parameters = propertyParameters<[unknown]>({ numRuns: BODIES, mutationRuns: 2000 });
    const runs = parameters.numRuns ?? BODIES;
    const seen = { accepted: 0, deep: 0, illFormed: 0, reserved: 0 };
    fc.assert(
      fc.property(body, (value) => {
        // Plain JSON values, as JSON.parse hands them to the HTTP route (not stringified first: the test
        // itself would overflow on the deep ones).
        const result = parsePublishBody(value);
        if (!result.ok) {
          expect(result.message.length).toBeGreaterThan(0);
          if (result.message.includes(`nested deeper than ${MAX_DATA_DEPTH} levels`)) seen.deep++;
          if (result.message.includes(ILL_FORMED_ID_MESSAGE)) seen.illFormed++;
          if (result.message.includes('is reserved for the gateway')) seen.reserved++;
          return;
        }
        seen.accepted++;
        for (const { userId, event: ev } of result.value) {
          expect(userId.length).toBeGreaterThan(0);
          expect(userId.length).toBeLessThanOrEqual(ID_MAX_LENGTH);
          expect(isWellFormed(userId)).toBe(true);
          if (ev.run_id !== undefined) expect(isWellFormed(ev.run_id)).toBe(true);
          expect(ev.type).toMatch(EVENT_TYPE_PATTERN);
          expect(RESERVED_EVENT_TYPES.has(ev.type)).toBe(false);
          expect(depthOf(ev.data)).toBeLessThanOrEqual(MAX_DATA_DEPTH);
          const frame = encodeEvent({ ...ev, seq: 1, epoch: 'e_1', ts: '2026-01-01T00:00:00.000Z' });
          expect(JSON.parse(frame)).toMatchObject({ type: ev.type, seq: 1 });
          expect(() => frameParts(ev, '2026-01-01T00:00:00.000Z')).not.toThrow();
        }
      }),
      parameters,
    );
    // Every kind of refusal, and acceptance, is reached: the property is not vacuous.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(runs / 1000);
  }, 120_000);
});
