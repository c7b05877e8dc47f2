import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * What comments and docs cite, and whether the repository has it: Markdown documents named by file name
 * or path, a heading of one (`docs/redis.md, "Memory"`), relative Markdown links, and sections of
 * docs/protocol.md (`§4`, or a part-two letter). Pure functions over text and a {@link Repository};
 * test/unit/docs/citations.test.ts runs them over every source and doc.
 */

/** One thing a file cites, with the line it is on. */
export type Citation =
  /** A Markdown document named in text: a bare file name or a path. */
  | { readonly kind: 'document'; readonly target: string; readonly line: number }
  /** A heading of a Markdown document, quoted after it: `docs/redis.md, "Memory"`. */
  | { readonly kind: 'heading'; readonly target: string; readonly heading: string; readonly line: number }
  /** The target of a relative Markdown link `[text](target)`. */
  | { readonly kind: 'link'; readonly target: string; readonly line: number }
  /** A numbered section (`§4`) or a part-two letter (`B`) cited after docs/protocol.md. */
  | { readonly kind: 'section'; readonly target: string; readonly line: number };

/** A citation the repository cannot answer. */
export interface Unresolved {
  readonly file: string;
  readonly line: number;
  readonly cited: string;
}

/** What citations are checked against; paths are relative to the repository root, with `/`. */
export interface Repository {
  /** Whether a file or folder exists. */
  exists(path: string): boolean;
  /** The text of a file that exists. */
  read(path: string): string;
}

const MD_PATH = String.raw`(?:\.{1,2}\/)*(?:[\w-][\w.-]*\/)*[\w-][\w.-]*\.md`;
/**
 * A Markdown file name or path standing on its own. The lookbehind refuses the tail of a URL or of a longer
 * path: every position inside `https://host/x.md` follows a path character.
 */
const DOCUMENT = new RegExp(String.raw`(?<![\w./@:-])(${MD_PATH})(?![\w-])`, 'g');
/**
 * A heading quoted right after a document: `README.md, "Run two nodes"`, or in parentheses,
 * `docs/architecture.md ("Style")`.
 */
const HEADING = new RegExp(String.raw`(?<![\w./@:-])(${MD_PATH}),? \(?"([^"\n]+)"`, 'g');
/** A document cited by its capitalised name and a section, without the extension: `TESTING §2`. */
const BARE_NAME_SECTION = /(?<![\w./-])([A-Z][A-Z_]{2,}) §\d/g;
/** A Markdown link or image: `[text](target)` or `[text](target "title")`. */
const LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
/** What follows `docs/protocol.md` when it cites sections: `§3, §4`, `§2–§5`, `§8 and D`, `part two, C`. */
const PROTOCOL_TAIL =
  /docs\/protocol\.md(?:'s)?,?[ \t]+((?:§\d+|[–-]|,|[ \t]|and\b|part two\b|[A-Z](?![\w'’]))+)/g;
const SECTION_NUMBER = /§(\d+)/g;
const SECTION_LETTER = /(?<![\w§])([A-Z])(?![\w'’])/g;

/** Line number (from 1) of a character offset. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line += 1;
  return line;
}

/** Every citation in `text`; relative Markdown links only when `markdown` is true. */
export function citationsIn(text: string, options: { readonly markdown: boolean }): Citation[] {
  const found: Citation[] = [];
  for (const m of text.matchAll(DOCUMENT)) {
    found.push({ kind: 'document', target: m[1] as string, line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(HEADING)) {
    const line = lineOf(text, m.index);
    found.push({ kind: 'heading', target: m[1] as string, heading: m[2] as string, line });
  }
  for (const m of text.matchAll(BARE_NAME_SECTION)) {
    found.push({ kind: 'document', target: `${m[1]}.md`, line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(PROTOCOL_TAIL)) {
    const tail = m[1] as string;
    const line = lineOf(text, m.index);
    for (const s of tail.matchAll(SECTION_NUMBER)) found.push({ kind: 'section', target: `§${s[1]}`, line });
    for (const s of tail.matchAll(SECTION_LETTER))
      found.push({ kind: 'section', target: s[1] as string, line });
  }
  if (options.markdown) {
    for (const m of text.matchAll(LINK)) {
      const target = (m[1] as string).split('#')[0]?.split('?')[0] ?? '';
      // Absolute URLs, mail links and anchors within the page are not files of the repository.
      if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('/')) continue;
      found.push({ kind: 'link', target, line: lineOf(text, m.index) });
    }
  }
  return found;
}

/** The sections of docs/protocol.md: `§1`…`§9` of part one, and the part-two letters `A`, `B`, …. */
export function protocolSections(protocol: string): Set<string> {
  const sections = new Set<string>();
  for (const m of protocol.matchAll(/^## (\d+)\. /gm)) sections.add(`§${m[1]}`);
  for (const m of protocol.matchAll(/^## ([A-Z])\. /gm)) sections.add(m[1] as string);
  return sections;
}

const SECTIONS = new WeakMap<Repository, Set<string>>();

/** The sections of the repository's docs/protocol.md, read once per repository. */
function sectionsOf(repo: Repository): Set<string> {
  let sections = SECTIONS.get(repo);
  if (sections === undefined) {
    sections = protocolSections(repo.exists('docs/protocol.md') ? repo.read('docs/protocol.md') : '');
    SECTIONS.set(repo, sections);
  }
  return sections;
}

/** The headings of a Markdown text, without their `#`s and backticks, lower case. */
function headingsOf(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6}[ \t]+(.+)$/gm)].map((m) =>
    (m[1] as string).replaceAll('`', '').toLowerCase(),
  );
}

/**
 * The citations of one file (path from the root) that resolve to nothing. A document resolves from the
 * repository root, from the citing file's folder, or from its package (`packages/<name>/`); a link only
 * from the citing file's folder, as Markdown renderers read it. A quoted heading must begin a heading of
 * the document it follows; a section must be one of docs/protocol.md's.
 */
export function unresolvedIn(file: string, text: string, repo: Repository): Unresolved[] {
  const folder = posix.dirname(file);
  const pkg = /^packages\/[^/]+\//.exec(file)?.[0];
  const inRepo = (path: string): boolean => !path.startsWith('../') && path !== '..' && repo.exists(path);
  const documents = (target: string): string[] =>
    [target, posix.join(folder, target), ...(pkg === undefined ? [] : [posix.join(pkg, target)])]
      .map((path) => posix.normalize(path))
      .filter(inRepo);
  const sections = sectionsOf(repo);
  const unresolved: Unresolved[] = [];
  for (const c of citationsIn(text, { markdown: file.endsWith('.md') })) {
    let ok: boolean;
    let cited: string = c.target;
    switch (c.kind) {
      case 'document':
        ok = documents(c.target).length > 0;
        break;
      case 'heading': {
        const wanted = c.heading.toLowerCase();
        ok = documents(c.target).some((path) =>
          headingsOf(repo.read(path)).some((h) => h.startsWith(wanted)),
        );
        cited = `${c.target}, "${c.heading}"`;
        break;
      }
      case 'link':
        ok = inRepo(posix.normalize(posix.join(folder, c.target)));
        break;
      case 'section':
        ok = sections.has(c.target);
        cited = `docs/protocol.md ${c.target}`;
        break;
    }
    if (!ok) unresolved.push({ file, line: c.line, cited });
  }
  return unresolved;
}

/** Files whose text is read for citations. */
const TEXT_FILE = /\.(?:ts|tsx|mts|cts|js|mjs|cjs|lua|py|md|html|css|sh)$/;
/** Folders never read: dependencies, build output, generated results. */
const SKIPPED = new Set(['node_modules', 'dist', 'coverage', 'reports', 'results', '.git']);

/** Every text file under `folder`, as root-relative paths with `/`. */
export function textFilesUnder(root: string, folder: string): string[] {
  const absolute = join(root, folder);
  if (!existsSync(absolute)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(absolute, { withFileTypes: true })) {
    const path = posix.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED.has(entry.name)) files.push(...textFilesUnder(root, path));
    } else if (TEXT_FILE.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

/** The repository checked out at `root`, its files read once each. */
export function repositoryAt(root: string): Repository {
  const texts = new Map<string, string>();
  return {
    exists: (path) => existsSync(join(root, path)),
    read: (path) => {
      let text = texts.get(path);
      if (text === undefined) {
        text = readFileSync(join(root, path), 'utf8');
        texts.set(path, text);
      }
      return text;
    },
  };
}
