/** The longest expression the calculator reads, in characters. */
export const EXPRESSION_MAX = 200;
/** Deepest nesting of parentheses and unary signs the calculator accepts. */
const DEPTH_MAX = 32;

/**
 * Evaluates a small arithmetic expression without `eval`: numbers (decimals allowed), `+ - * / %`,
 * `^` (power, right-associative), unary `+`/`-`, parentheses and `sqrt(…)`. Pure; throws a `RangeError`
 * that says what is wrong (`unexpected "x" at 3`, `division by zero`, `square root of a negative
 * number`, `result is not finite`).
 */
export function evaluateArithmetic(expression: string): number {
  if (expression.length > EXPRESSION_MAX) {
    throw new RangeError(`expression longer than ${EXPRESSION_MAX} characters`);
  }
  const parser = new Parser(expression);
  const value = parser.expression(0);
  parser.expectEnd();
  if (!Number.isFinite(value)) throw new RangeError('result is not finite');
  return value;
}

/** Recursive descent over: expr = term (('+'|'-') term)*; term = power (('*'|'/'|'%') power)*;
 * power = unary ('^' power)?; unary = ('+'|'-') unary | atom;
 * atom = number | '(' expr ')' | 'sqrt' '(' expr ')'. */
class Parser {
  readonly #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  expression(depth: number): number {
    let value = this.#term(depth);
    for (let op = this.#peek(); op === '+' || op === '-'; op = this.#peek()) {
      this.#pos += 1;
      const right = this.#term(depth);
      value = op === '+' ? value + right : value - right;
    }
    return value;
  }

  expectEnd(): void {
    if (this.#peek() !== '') this.#fail();
  }

  #term(depth: number): number {
    let value = this.#power(depth);
    for (let op = this.#peek(); op === '*' || op === '/' || op === '%'; op = this.#peek()) {
      this.#pos += 1;
      const right = this.#power(depth);
      if (op !== '*' && right === 0) throw new RangeError('division by zero');
      value = op === '*' ? value * right : op === '/' ? value / right : value % right;
    }
    return value;
  }

  #power(depth: number): number {
    const base = this.#unary(depth);
    if (this.#peek() !== '^') return base;
    this.#pos += 1;
    return base ** this.#power(this.#deeper(depth));
  }

  #unary(depth: number): number {
    const op = this.#peek();
    if (op === '+' || op === '-') {
      this.#pos += 1;
      const value = this.#unary(this.#deeper(depth));
      return op === '-' ? -value : value;
    }
    return this.#atom(depth);
  }

  #atom(depth: number): number {
    if (this.#peek() === 's' && this.#text.startsWith('sqrt', this.#pos)) {
      this.#pos += 'sqrt'.length;
      if (this.#peek() !== '(') this.#fail();
      const value = this.#atom(this.#deeper(depth));
      if (value < 0) throw new RangeError('square root of a negative number');
      return Math.sqrt(value);
    }
    if (this.#peek() === '(') {
      this.#pos += 1;
      const value = this.expression(this.#deeper(depth));
      if (this.#peek() !== ')') this.#fail();
      this.#pos += 1;
      return value;
    }
    const match = /^\d+(?:\.\d+)?|^\.\d+/.exec(this.#text.slice(this.#pos));
    if (match === null) this.#fail();
    this.#pos += match[0].length;
    return Number(match[0]);
  }

  #deeper(depth: number): number {
    if (depth >= DEPTH_MAX) throw new RangeError(`expression nested deeper than ${DEPTH_MAX}`);
    return depth + 1;
  }

  /** The next non-space character, or '' at the end. */
  #peek(): string {
    while (this.#text[this.#pos] === ' ') this.#pos += 1;
    return this.#text[this.#pos] ?? '';
  }

  #fail(): never {
    const found = this.#peek();
    throw new RangeError(
      found === '' ? 'unexpected end of expression' : `unexpected "${found}" at ${this.#pos + 1}`,
    );
  }
}
