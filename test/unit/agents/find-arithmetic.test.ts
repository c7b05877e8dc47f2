import { describe, expect, it } from 'vitest';
import { findArithmetic, findExpression } from '../../../packages/server/src/agents/find-arithmetic.js';

describe('findArithmetic', () => {
  it.each([
    ['What is 6 times 7?', '6 * 7'],
    ['What is six times seven?', '6 * 7'],
    ['seven plus five', '7 + 5'],
    ["what's 12 divided by 4", '12 / 4'],
    ['Square root of 81', 'sqrt(81)'],
    ['what is the square root of 16 plus 9?', 'sqrt(16) + 9'],
    ['√144', 'sqrt(144)'],
    ['ten minus three', '10 - 3'],
    ['twenty-one times two', '21 * 2'],
    ['one hundred and five minus five', '105 - 5'],
    ['three thousand two hundred plus one', '3200 + 1'],
    ['What is 1,000 times 3?', '1000 * 3'],
    ['5 squared', '5 ^ 2'],
    ['two to the power of ten', '2 ^ 10'],
    ['17 mod 5', '17 % 5'],
    ['20% of 50', '20 / 100 * 50'],
    ['what is the sum of 3 and 4', '3 + 4'],
    ['the product of six and nine', '6 * 9'],
    ['the difference between 10 and 4', '10 - 4'],
    ['add 2 and 3', '2 + 3'],
    ['subtract 3 from 10', '10 - 3'],
    ['multiply 4 by 5', '4 * 5'],
    ['divide 12 by 4', '12 / 4'],
    ['negative five plus two', '-5 + 2'],
    ['6x7', '6 * 7'],
    ['8 × 3 ÷ 2', '8 * 3 / 2'],
    ['What is 5 divided by zero?', '5 / 0'],
    ['What is 2.5 times 4.', '2.5 * 4'],
    ['What is 17 * 23?', '17 * 23'],
    ['hello', undefined],
    ['Tell me a story', undefined],
    ['which one is bigger, 3 or 4?', undefined],
    ['we are over 9000', undefined],
    ['sixty', undefined],
    ['someone often said none', undefined],
  ])('reads %j as %j', (text, expected) => {
    expect(findArithmetic(text)).toBe(expected);
  });
});

describe('findExpression', () => {
  it.each([
    ['What is 17 * 23?', '17 * 23'],
    ['2+2 or (3*4)^2?', '(3*4)^2'],
    ['compute 10 - 3', '10 - 3'],
    ['What is -5 + 2', '-5 + 2'],
    ['sqrt(81)', 'sqrt(81)'],
    ['version 1.2 and 3', undefined],
    ['no numbers here', undefined],
    ['just 42', undefined],
    ['sqrt of what?', undefined],
  ])('finds the arithmetic in %j', (text, expected) => {
    expect(findExpression(text)).toBe(expected);
  });
});
