/**
 * Reading the arithmetic a question asks for, in symbols (`17 * 23`) or in plain English ("six times
 * seven", "what's 12 divided by 4", "square root of 81"). Pure: text in, an expression for
 * `evaluateArithmetic` out, or `undefined` when the question holds no arithmetic to compute.
 */

const UNITS: Readonly<Record<string, number>> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
};
const TENS: Readonly<Record<string, number>> = {
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};
const SCALES: Readonly<Record<string, number>> = { hundred: 100, thousand: 1_000, million: 1_000_000 };

const NUMBER_WORD = `(?:${[...Object.keys(UNITS), ...Object.keys(TENS), ...Object.keys(SCALES)].join('|')})`;
/** A run of number words: "twenty-one", "one hundred and five", "three thousand two hundred". */
const NUMBER_WORDS = new RegExp(
  `\\b${NUMBER_WORD}(?:(?:[ -]+|(?<=hundred|thousand|million) +and +)${NUMBER_WORD})*\\b`,
  'g',
);
const NUM = String.raw`-?(?:\d+(?:\.\d+)?|\.\d+)`;

/**
 * Phrases rewritten to symbols, in this order, after number words became digits. Phrases naming their
 * operands ("the sum of 3 and 4", "divide 12 by 4") come first; the plain operator words last.
 */
const PHRASES: readonly (readonly [RegExp, string])[] = [
  [/(\d),(?=\d{3}\b)/g, '$1'],
  [/\bnegative +(?=\d|\.\d)/g, '-'],
  [new RegExp(`\\b(?:the +)?square +root +of +(${NUM})`, 'g'), 'sqrt($1)'],
  [new RegExp(`√ *(${NUM})`, 'g'), 'sqrt($1)'],
  [new RegExp(`\\b(?:the +)?sum +of +(${NUM}) +and +(${NUM})`, 'g'), '$1 + $2'],
  [new RegExp(`\\b(?:the +)?product +of +(${NUM}) +and +(${NUM})`, 'g'), '$1 * $2'],
  [new RegExp(`\\b(?:the +)?difference +between +(${NUM}) +and +(${NUM})`, 'g'), '$1 - $2'],
  [new RegExp(`\\badd +(${NUM}) +(?:and|to) +(${NUM})`, 'g'), '$1 + $2'],
  [new RegExp(`\\bsubtract +(${NUM}) +from +(${NUM})`, 'g'), '$2 - $1'],
  [new RegExp(`\\bmultiply +(${NUM}) +(?:by|and) +(${NUM})`, 'g'), '$1 * $2'],
  [new RegExp(`\\bdivide +(${NUM}) +by +(${NUM})`, 'g'), '$1 / $2'],
  [new RegExp(`(${NUM}) *(?:%|percent|per cent) +of +(?=\\d|\\.\\d)`, 'g'), '$1 / 100 * '],
  [/\b(?:multiplied +by|times)\b/g, '*'],
  [/\b(?:divided +by|over)\b/g, '/'],
  [/\bplus\b/g, '+'],
  [/\bminus\b/g, '-'],
  [/\b(?:modulo|mod)\b/g, '%'],
  [/\b(?:raised +to(?: +the +power +of)?|to +the +power +of)\b/g, '^'],
  [/\bsquared\b/g, '^ 2'],
  [/\bcubed\b/g, '^ 3'],
  [/(\d|\)) *[x×] *(?=\d|\.\d|\()/g, '$1 * '],
  [/÷/g, '/'],
  [/−/g, '-'],
];

/** The arithmetic `text` asks for, as an expression for `evaluateArithmetic`, or `undefined`. */
export function findArithmetic(text: string): string | undefined {
  let rewritten = text.toLowerCase().replace(NUMBER_WORDS, (words) => wordsToDigits(words));
  for (const [pattern, replacement] of PHRASES) rewritten = rewritten.replace(pattern, replacement);
  return findExpression(rewritten);
}

/**
 * The longest run of symbols in `text` that is arithmetic: an operator between two numbers (`17 * 23`)
 * or a square root (`sqrt(81)`), trimmed of spaces and a closing full stop.
 */
export function findExpression(text: string): string | undefined {
  const candidates = (text.match(/(?:sqrt|[\d.()+\-*/%^ ])+/g) ?? [])
    .map((c) => c.trim().replace(/\.+$/, '').trim())
    .filter((c) => /[\d)]\s*[-+*/%^]\s*[-+\d.(s]|sqrt\(/.test(c));
  return candidates.sort((a, b) => b.length - a.length)[0];
}

/**
 * Digits for a run of number words: "twenty-one" → "21", "one hundred and five" → "105". Words that do
 * not compose into one number ("three four") become several numbers, separated by spaces.
 */
function wordsToDigits(words: string): string {
  const numbers: number[] = [];
  let total = 0;
  let current = 0;
  let started = false;
  const flush = (): void => {
    if (started) numbers.push(total + current);
    total = 0;
    current = 0;
    started = false;
  };
  for (const word of words.split(/[ -]+/)) {
    if (word === 'and') continue;
    const unit = UNITS[word] ?? TENS[word];
    const scale = SCALES[word];
    if (unit !== undefined) {
      // "twenty one" composes; "one two" and "twenty thirty" do not.
      const fits = current % 100 === 0 || (current % 10 === 0 && current % 100 >= 20 && unit < 10);
      if (started && !fits) flush();
      current += unit;
      started = true;
    } else if (scale !== undefined) {
      if (scale === 100) current = (current === 0 ? 1 : current) * 100;
      else {
        total += (current === 0 && total === 0 ? 1 : current) * scale;
        current = 0;
      }
      started = true;
    }
  }
  flush();
  return numbers.join(' ');
}
