import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../packages/server/src/protocol/error-codes.js';
import { ILL_FORMED_ID_MESSAGE, isWellFormed } from '../../packages/server/src/protocol/events.js';
import { parseClientFrame } from '../../packages/server/src/protocol/frames.js';
import { propertyParameters } from '../property/support/property-parameters.js';
import { frameText } from './support/frame-arbitraries.js';

/**
 * docs/protocol.md §6 for the inbound parser, over 100,000 random and mutated frames: `parseClientFrame`
 * never throws; it either returns a frame of a documented type with its required fields, or one of the three
 * parse error codes, each for its own reason, echoing the frame's `id` when it had one. Among them are
 * frames nested up to 20,000 levels deep and ids with lone surrogates (docs/protocol.md B): a parsed frame
 * never carries an id that is not well-formed UTF-16.
 */

const FRAMES = 100_000;
const PARSE_CODES: readonly string[] = [
  ErrorCode.InvalidJson,
  ErrorCode.InvalidMessage,
  ErrorCode.UnknownType,
];
const KNOWN_TYPES = new Set(['auth', 'ping', 'user_message', 'chat_message', 'cancel']);
/** Text nested past 64 levels: cheap to spot, since the generator nests `{"a":` or `[`. */
const DEEP_MARKS = ['{"a":'.repeat(65), '['.repeat(65)];

function jsonOf(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

describe('parseClientFrame (fuzz)', () => {
  it(`answers ${FRAMES.toLocaleString('en')} random and mutated frames with a frame or a documented error, never a throw`, () => {
    const parameters = propertyParameters<[string]>({ numRuns: FRAMES, mutationRuns: 3000 });
    const runs = parameters.numRuns ?? FRAMES;
    const seen = { ok: 0, INVALID_JSON: 0, INVALID_MESSAGE: 0, UNKNOWN_TYPE: 0 };
    const hostile = { deep: 0, deepParsed: 0, illFormedRefused: 0 };
    fc.assert(
      fc.property(frameText, (text) => {
        const result = parseClientFrame(text);
        const json = jsonOf(text);
        if (DEEP_MARKS.some((mark) => text.includes(mark))) hostile.deep++;
        if (result.ok) {
          seen.ok++;
          const { frame } = result;
          expect(['auth', 'ping', 'user_message', 'cancel']).toContain(frame.type);
          if (frame.type === 'user_message') {
            expect(frame.data.text.length).toBeGreaterThan(0);
            expect(isWellFormed(frame.id)).toBe(true);
            if (frame.data.thread_id !== undefined) expect(isWellFormed(frame.data.thread_id)).toBe(true);
          }
          if (frame.type === 'cancel') {
            expect(frame.data.run_id.length).toBeGreaterThan(0);
            expect(isWellFormed(frame.data.run_id)).toBe(true);
            if (frame.id !== undefined) expect(isWellFormed(frame.id)).toBe(true);
          }
          if (frame.type === 'auth') expect(frame.token.length).toBeGreaterThan(0);
          if (DEEP_MARKS.some((mark) => text.includes(mark))) hostile.deepParsed++;
          return;
        }
        if (result.message.includes(ILL_FORMED_ID_MESSAGE)) {
          expect(result.code).toBe(ErrorCode.InvalidMessage);
          hostile.illFormedRefused++;
        }
        seen[result.code as keyof typeof seen]++;
        expect(PARSE_CODES).toContain(result.code);
        expect(result.message.length).toBeGreaterThan(0);
        // Each code for its own reason.
        expect(result.code === ErrorCode.InvalidJson).toBe(!json.ok);
        if (!json.ok) return;
        const value = json.value;
        const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
        const type = isObject ? (value as Record<string, unknown>).type : undefined;
        if (result.code === ErrorCode.UnknownType) {
          expect(typeof type === 'string' && !KNOWN_TYPES.has(type)).toBe(true);
        } else {
          expect(result.code).toBe(ErrorCode.InvalidMessage);
          if (isObject && typeof type === 'string') expect(KNOWN_TYPES.has(type)).toBe(true);
        }
        // §6: the error echoes the frame's id when it had a usable one.
        const id = isObject ? (value as Record<string, unknown>).id : undefined;
        if (typeof id === 'string' || typeof id === 'number') expect(result.id).toBe(id);
        else expect(result.id).toBeUndefined();
      }),
      parameters,
    );
    // The generator reaches every outcome, so the property is not vacuous: deep frames (some parsed, the
    // nesting in a field the frame does not have) and ill-formed ids refused.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(runs / 1000);
    for (const count of Object.values(hostile)) expect(count).toBeGreaterThan(runs / 1000);
  }, 120_000);
});
