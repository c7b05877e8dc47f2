import { describe, expect, it } from 'vitest';
import { evaluateArithmetic } from '../../../packages/server/src/agents/evaluate-arithmetic.js';

describe('evaluateArithmetic', () => {
  it.each([
    ['17 * 23', 391],
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['20 / 4 / 5', 1],
    ['7 % 4', 3],
    ['2 ^ 3 ^ 2', 512],
    ['-3 + +5', 2],
    ['--2', 2],
    ['-2 ^ 2', 4],
    ['.5 + 1.25', 1.75],
    ['  42  ', 42],
    ['((((1))))', 1],
    ['2.25 * 2', 4.5],
    ['.5 + 1', 1.5],
    // Multiplying by zero is not a division by zero.
    ['3 * 0', 0],
    ['0 * 5', 0],
    ['sqrt(81)', 9],
    ['sqrt (2 + 2) * 3', 6],
    ['sqrt(0)', 0],
    ['-sqrt(sqrt(16))', -2],
  ])('evaluates %s to %d', (expression, value) => {
    expect(evaluateArithmetic(expression)).toBe(value);
  });

  it.each([
    ['1 / 0', 'division by zero'],
    ['1 % 0', 'division by zero'],
    ['4 / 0', 'division by zero'],
    ['4 % 0', 'division by zero'],
    ['', 'unexpected end of expression'],
    ['1 +', 'unexpected end of expression'],
    ['(1 + 2', 'unexpected end of expression'],
    ['1 + 2)', 'unexpected ")" at 6'],
    ['2 x 3', 'unexpected "x" at 3'],
    ['1.', 'unexpected "." at 2'],
    ['process.exit()', 'unexpected "p" at 1'],
    ['9 ^ 999', 'result is not finite'],
    ['sqrt(-4)', 'square root of a negative number'],
    ['sqrt 4', 'unexpected "4" at 6'],
    ['sq(4)', 'unexpected "s" at 1'],
    ['1'.repeat(201), 'expression longer than 200 characters'],
    [`${'('.repeat(33)}1${')'.repeat(33)}`, 'expression nested deeper than 32'],
    [`${'-'.repeat(33)}1`, 'expression nested deeper than 32'],
  ])('refuses %s with "%s"', (expression, message) => {
    expect(() => evaluateArithmetic(expression)).toThrow(new RangeError(message));
  });

  it('accepts nesting of exactly 32 and 200 characters', () => {
    expect(evaluateArithmetic(`${'('.repeat(32)}1${')'.repeat(32)}`)).toBe(1);
    expect(evaluateArithmetic('1'.repeat(200))).toBe(Number('1'.repeat(200)));
  });
});
