import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The fenced code blocks of the repository's documents, and the shell commands in them, for
 * test/integration/docs-blocks.test.ts. Pure functions over text, plus {@link documentedFiles}.
 */

/** One fenced block: where it is, its language (the info string's first word, '' for none), its text. */
export interface DocBlock {
  /** Path from the repository root, with `/`. */
  readonly file: string;
  /** Line (from 1) of the opening fence. */
  readonly line: number;
  readonly lang: string;
  /** The lines between the fences, their common fence indentation removed, joined with `\n`. */
  readonly text: string;
}

/** `file:line`, how failures name a block. */
export function where(block: Pick<DocBlock, 'file' | 'line'>): string {
  return `${block.file}:${block.line}`;
}

/** The documents whose blocks are run: README.md, docs/*.md and packages/*\/README.md, sorted. */
export function documentedFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const packages = readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `packages/${entry.name}/README.md`)
    .filter((path) => existsSync(join(root, path)));
  return ['README.md', ...docs.sort(), ...packages.sort()];
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;

/**
 * Every fenced block of a Markdown text (CommonMark fences: three or more backticks or tildes, closed by
 * a fence of the same character at least as long; indented ones, as in list items, too). An unclosed
 * fence runs to the end of the text, as CommonMark reads it, and is reported like any other block.
 */
export function extractBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] as string;
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
      if (close?.[1] !== undefined && close[1][0] === fence[0] && close[1].length >= fence.length) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({ file, line: i + 1, lang: lang.toLowerCase(), text: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** One simple command of a shell block, as a reader would type it. */
export interface ShellCommand {
  /** Line (from 1) of the command in its document. */
  readonly line: number;
  /** The words after quote removal: `curl -H 'A: b'` is `['curl', '-H', 'A: b']`. */
  readonly words: readonly string[];
  /** `NAME=value` assignments before the command (or the arguments of `export`). */
  readonly env: Readonly<Record<string, string>>;
  /** Ended with `&`: the reader leaves it running and goes on. */
  readonly background: boolean;
  /** The comment after the command on its line, without `#`, trimmed ('' for none). */
  readonly comment: string;
}

/**
 * The commands of a shell block, in order: lines joined at a trailing `\`, `#` comments kept apart,
 * single and double quotes removed, commands split at `&&`, `;` and a trailing `&`. It reads only this
 * plain subset: anything else (`$`, backticks, pipes, redirections, subshells, `||`) throws, so a block
 * using more is excused or the reader extended, never run half understood.
 */
export function parseShell(block: DocBlock): ShellCommand[] {
  const commands: ShellCommand[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    let text = lines[i] as string;
    while (/(^|[^\\])\\$/.test(text) && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]}`;
    const line = block.line + 1 + first;
    const { segments, comment } = splitLine(text, `${block.file}:${line}`);
    for (const [k, segment] of segments.entries()) {
      if (segment.words.length === 0) continue;
      const env: Record<string, string> = {};
      let words = segment.words;
      const isExport = words[0] === 'export';
      if (isExport) words = words.slice(1);
      while (words.length > 0 && /^[A-Za-z_]\w*=/.test(words[0] as string)) {
        const [name, ...value] = (words[0] as string).split('=');
        env[name as string] = value.join('=');
        words = words.slice(1);
      }
      if (isExport && words.length > 0)
        throw new Error(`${block.file}:${line}: export of something other than NAME=value`);
      commands.push({
        line,
        words: isExport ? ['export'] : words,
        env,
        background: segment.background,
        comment: k === segments.length - 1 ? comment : '',
      });
    }
  }
  return commands;
}

interface Segment {
  words: string[];
  background: boolean;
}

/** Splits one logical line into commands and its trailing comment, removing quotes. */
function splitLine(text: string, at: string): { segments: Segment[]; comment: string } {
  const segments: Segment[] = [{ words: [], background: false }];
  let word: string | undefined;
  let comment = '';
  const current = (): Segment => segments[segments.length - 1] as Segment;
  const endWord = (): void => {
    if (word !== undefined) current().words.push(word);
    word = undefined;
  };
  const unsupported = (what: string): never => {
    throw new Error(`${at}: the docs' shell reader does not understand ${what} in "${text.trim()}"`);
  };
  for (let p = 0; p < text.length; p++) {
    const c = text[p] as string;
    if (c === "'") {
      const end = text.indexOf("'", p + 1);
      if (end < 0) unsupported('an unclosed quote');
      word = (word ?? '') + text.slice(p + 1, end);
      p = end;
    } else if (c === '"') {
      let value = '';
      for (p++; p < text.length && text[p] !== '"'; p++) {
        if (text[p] === '$' || text[p] === '`') unsupported('an expansion');
        if (text[p] === '\\' && /["\\$`]/.test(text[p + 1] ?? '')) p++;
        value += text[p];
      }
      if (p >= text.length) unsupported('an unclosed quote');
      word = (word ?? '') + value;
    } else if (/\s/.test(c)) {
      endWord();
    } else if (c === '#' && word === undefined) {
      comment = text.slice(p + 1).trim();
      break;
    } else if (c === '&' && text[p + 1] === '&') {
      endWord();
      segments.push({ words: [], background: false });
      p++;
    } else if (c === '&' || c === ';') {
      endWord();
      current().background = c === '&';
      segments.push({ words: [], background: false });
    } else if (/[$`|<>()\\]/.test(c)) {
      unsupported(`"${c}"`);
    } else {
      word = (word ?? '') + c;
    }
  }
  endWord();
  return { segments: segments.filter((s) => s.words.length > 0), comment };
}

/** The top-level names a module's text declares (`const x`, `function f`, `class C`, `export …`). */
export function topLevelNames(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(
    /^(?:export\s+)?(?:async\s+)?(?:const|let|var|function\*?|class)\s+([A-Za-z_$][\w$]*)/gm,
  ))
    names.add(m[1] as string);
  return [...names];
}

/**
 * How `actual` differs from a sample of the docs ('' paths are the root): the same keys in the same
 * order, the same JSON types, and each sample string with `…` in it a prefix of the actual one (`"e_…"`).
 * With `exact`, numbers, booleans and strings without `…` must also be equal. Arrays: every actual
 * element against the sample's first.
 */
export function sampleDifferences(actual: unknown, sample: unknown, exact = false, path = '$'): string[] {
  const type = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (type(actual) !== type(sample)) return [`${path}: ${type(actual)} where the sample has ${type(sample)}`];
  if (typeof sample === 'string') {
    const a = actual as string;
    if (sample.includes('…')) {
      const prefix = sample.slice(0, sample.indexOf('…'));
      return a.startsWith(prefix) ? [] : [`${path}: "${a}" does not start with "${prefix}"`];
    }
    return exact && a !== sample ? [`${path}: "${a}" where the sample has "${sample}"`] : [];
  }
  if (Array.isArray(sample)) {
    const [first] = sample;
    if (first === undefined) return [];
    return (actual as unknown[]).flatMap((item, i) => sampleDifferences(item, first, exact, `${path}[${i}]`));
  }
  if (sample !== null && typeof sample === 'object') {
    const a = actual as Record<string, unknown>;
    const s = sample as Record<string, unknown>;
    const keys = Object.keys(a);
    const expected = Object.keys(s);
    if (keys.join() !== expected.join())
      return [`${path}: keys ${JSON.stringify(keys)} where the sample has ${JSON.stringify(expected)}`];
    return expected.flatMap((k) => sampleDifferences(a[k], s[k], exact, `${path}.${k}`));
  }
  return exact && actual !== sample
    ? [`${path}: ${String(actual)} where the sample has ${String(sample)}`]
    : [];
}
