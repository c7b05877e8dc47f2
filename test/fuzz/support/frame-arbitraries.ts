import fc from 'fast-check';

/**
 * Inbound frames for fuzzing (PROTOCOL.md §6): valid frames of every type, the same frames with one
 * field removed, retyped or replaced by an arbitrary value, truncated or with a byte flipped, JSON that is
 * not an object, and arbitrary text. Most inputs are near-misses of valid frames, which is where a
 * schema has its edges.
 */

const FRAME_TYPES = ['auth', 'ping', 'user_message', 'chat_message', 'cancel'] as const;

const idLike = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.string({ minLength: 127, maxLength: 130 }),
  fc.integer(),
  fc.constant(''),
);

/** A frame of each documented type with plausible (not always valid) field values. */
export const validFrameObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record(
    {
      type: fc.constant('auth'),
      token: fc.string({ minLength: 1, maxLength: 40 }),
      since: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      epoch: fc.string({ minLength: 1, maxLength: 12 }),
    },
    { requiredKeys: ['type', 'token'] },
  ),
  fc.record({ type: fc.constant('ping'), id: idLike }, { requiredKeys: ['type'] }),
  fc.record({
    type: fc.constantFrom('user_message', 'chat_message'),
    id: fc.string({ minLength: 1, maxLength: 16 }),
    data: fc.record(
      {
        text: fc.string({ minLength: 1, maxLength: 30 }),
        thread_id: fc.string({ minLength: 1, maxLength: 8 }),
        agent: fc.constantFrom('demo', 'nope', ''),
      },
      { requiredKeys: ['text'] },
    ),
  }),
  fc.record(
    {
      type: fc.constant('cancel'),
      id: fc.string({ minLength: 1, maxLength: 8 }),
      data: fc.record({ run_id: fc.string({ minLength: 1, maxLength: 20 }) }),
    },
    { requiredKeys: ['type', 'data'] },
  ),
);

/** A hostile replacement for one field. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(
    null,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER + 2,
    '',
    '__proto__',
    'constructor',
    [],
    {},
    { __proto__: { polluted: true } },
    'x'.repeat(20_000),
  ),
);

/** A valid frame with one field (at the top or inside data) removed or replaced. */
export const mutatedFrameObject: fc.Arbitrary<unknown> = fc
  .tuple(validFrameObject, fc.nat(), fc.constantFrom('drop', 'replace', 'add'), hostileValue)
  .map(([frame, pick, how, value]) => {
    const copy: Record<string, unknown> = structuredClone(frame);
    const data = copy.data;
    const target =
      typeof data === 'object' && data !== null && pick % 2 === 1 ? (data as Record<string, unknown>) : copy;
    const keys = Object.keys(target);
    const key =
      how === 'add'
        ? ['type', 'id', 'data', 'token', 'since', 'epoch', 'extra'][pick % 7]
        : keys[pick % keys.length];
    if (key === undefined) return copy;
    if (how === 'drop') delete target[key];
    else target[key] = value;
    return copy;
  });

/** Text that is a JSON encoding of anything at all: arrays, numbers, objects with a random `type`. */
const jsonText: fc.Arbitrary<string> = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc
    .record({ type: fc.oneof(fc.string(), fc.constantFrom(...FRAME_TYPES), fc.anything({ maxDepth: 1 })) })
    .map((o) => JSON.stringify(o)),
);

/** The text of a valid or mutated frame, cut short or with one character changed. */
const damagedText: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(validFrameObject, mutatedFrameObject), fc.nat(), fc.string({ maxLength: 2 }))
  .map(([frame, pick, insert]) => {
    const text = JSON.stringify(frame) ?? 'null';
    const at = pick % (text.length + 1);
    return pick % 2 === 0 ? text.slice(0, at) : `${text.slice(0, at)}${insert}${text.slice(at + 1)}`;
  });

/** Any inbound text frame, weighted towards near-misses. */
export const frameText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: validFrameObject.map((o) => JSON.stringify(o)), weight: 2 },
  { arbitrary: mutatedFrameObject.map((o) => JSON.stringify(o) ?? 'undefined'), weight: 4 },
  { arbitrary: damagedText, weight: 3 },
  { arbitrary: jsonText, weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 1 },
);
