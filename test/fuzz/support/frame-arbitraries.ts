import fc from 'fast-check';

/**
 * Inbound frames for fuzzing (docs/protocol.md §6): valid frames of every type, the same frames with one
 * field removed, retyped or replaced by an arbitrary value, truncated or with a byte flipped, JSON that is
 * not an object, and arbitrary text. Most inputs are near-misses of valid frames, which is where a
 * schema has its edges.
 */

const FRAME_TYPES = ['auth', 'ping', 'user_message', 'chat_message', 'cancel'] as const;

/**
 * A short string with one lone surrogate in it: ill-formed UTF-16, refused in every id (docs/protocol.md
 * B). The rest is ASCII, so the surrogate never pairs up.
 */
export const loneSurrogateString: fc.Arbitrary<string> = fc
  .tuple(fc.string({ maxLength: 6 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 6 }))
  .map(([before, code, after]) => `${before}${String.fromCharCode(code)}${after}`);

/** An id: mostly plausible, sometimes ill-formed UTF-16. */
const idString = fc.oneof(
  { arbitrary: fc.string({ minLength: 1, maxLength: 16 }), weight: 4 },
  { arbitrary: loneSurrogateString, weight: 1 },
);

const idLike = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.string({ minLength: 127, maxLength: 130 }),
  fc.integer(),
  fc.constant(''),
  loneSurrogateString,
);

/**
 * JSON text nested `depth` levels, of objects or of arrays. Mostly a few hundred levels (under the socket
 * fuzzer's max_payload); one in 40 thousands of levels, where recursive code (JSON.stringify, zod) would
 * overflow.
 */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.integer({ min: 60, max: 600 }), weight: 39 },
      { arbitrary: fc.integer({ min: 5_000, max: 20_000 }), weight: 1 },
    ),
    fc.boolean(),
  )
  .map(([depth, objects]) =>
    objects ? `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`,
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
    id: idString,
    data: fc.record(
      {
        text: fc.string({ minLength: 1, maxLength: 30 }),
        thread_id: idString,
        agent: fc.constantFrom('demo', 'nope', ''),
        on_busy: fc.constantFrom('reject', 'enqueue', 'interrupt', 'later', ''),
      },
      { requiredKeys: ['text'] },
    ),
  }),
  fc.record(
    {
      type: fc.constant('cancel'),
      id: idString,
      data: fc.record({ run_id: idString }),
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

const DEEP = '"__deep__"';

/** A valid frame with deep nesting in one place: the whole frame, its id, its data, a data field, an extra field. */
const deepFrameText: fc.Arbitrary<string> = fc
  .tuple(validFrameObject, deepJsonText, fc.constantFrom('whole', 'type', 'id', 'data', 'data.text', 'extra'))
  .map(([frame, deep, where]) => {
    if (where === 'whole') return deep;
    const copy: Record<string, unknown> = structuredClone(frame);
    if (where === 'data.text') {
      const data = typeof copy.data === 'object' && copy.data !== null ? copy.data : {};
      copy.data = { ...data, text: '__deep__' };
    } else copy[where] = '__deep__';
    return JSON.stringify(copy).replace(DEEP, deep);
  });

/** Any inbound text frame, weighted towards near-misses. */
export const frameText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: validFrameObject.map((o) => JSON.stringify(o)), weight: 2 },
  { arbitrary: deepFrameText, weight: 1 },
  { arbitrary: mutatedFrameObject.map((o) => JSON.stringify(o) ?? 'undefined'), weight: 4 },
  { arbitrary: damagedText, weight: 3 },
  { arbitrary: jsonText, weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 60 }), weight: 1 },
);
