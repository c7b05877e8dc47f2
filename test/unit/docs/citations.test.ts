import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  citationsIn,
  protocolSections,
  type Repository,
  repositoryAt,
  textFilesUnder,
  unresolvedIn,
} from '../../helpers/doc-citations.js';

/**
 * The repository stands on its own: every document a comment or doc cites is in it, every heading quoted
 * after a document is one of that document's, every relative Markdown link leads to a file, and every
 * `docs/protocol.md §n` (or part-two letter) names a section docs/protocol.md has.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** Where comments and docs live: the packages' sources, tests and scripts, and the root's own. */
const FOLDERS = ['packages', 'test', 'bench', 'scripts', 'docs', 'examples'];
const ROOT_DOCS = ['README.md', 'TESTING.md', 'BENCHMARKS.md'];
/** This file cites missing documents on purpose, in its samples. */
const SELF = 'test/unit/docs/citations.test.ts';

/** A repository of a few files, for samples. Folders exist when a file lies under them. */
function repositoryOf(files: Record<string, string>): Repository {
  const paths = Object.keys(files);
  return {
    exists: (path) => path in files || paths.some((p) => p.startsWith(`${path}/`)),
    read: (path) => files[path] ?? '',
  };
}

const PROTOCOL = '# protocol\n## 1. Connecting\n## 4. History and resume\n## 9. Shutdown\n## B. Events\n';
const sample = repositoryOf({
  'README.md': '# agentcast\n## Run two nodes with Redis\n',
  'docs/protocol.md': PROTOCOL,
  'docs/redis.md': '# Redis\n## Memory\n### Redis stalled (commands time out)\n',
  'packages/react/README.md': '# react\n## `shareAcrossTabs`: one socket per browser\n',
  'packages/react/src/index.ts': '',
  'test/unit/a.test.ts': '',
});

/** What `file` holding `text` cites that the sample repository lacks. */
const missing = (file: string, text: string): string[] =>
  unresolvedIn(file, text, sample).map((u) => `${u.line}: ${u.cited}`);

describe('citations of the repository', () => {
  it('resolve: every cited document, heading, link and protocol section exists', () => {
    const repo = repositoryAt(root);
    const files = [...FOLDERS.flatMap((folder) => textFilesUnder(root, folder)), ...ROOT_DOCS];
    expect(files.length).toBeGreaterThan(300);
    const unresolved = files
      .filter((file) => file !== SELF)
      .flatMap((file) => unresolvedIn(file, repo.read(file), repo))
      .map((u) => `${u.file}:${u.line} cites ${u.cited}, which the repository does not have`);
    expect(unresolved).toEqual([]);
  });

  it('reads the sections of docs/protocol.md: §1 to §9 and the part-two letters', () => {
    const sections = protocolSections(repositoryAt(root).read('docs/protocol.md'));
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9]) expect(sections).toContain(`§${n}`);
    for (const letter of ['A', 'B', 'C', 'D', 'E']) expect(sections).toContain(letter);
    expect(sections).not.toContain('§10');
  });
});

describe('unresolvedIn', () => {
  it('reports a document the repository lacks, by bare name or by path, in any kind of file', () => {
    expect(missing('packages/server/src/x.ts', '/** As PROTOCOL.md §4 says. */')).toEqual(['1: PROTOCOL.md']);
    expect(missing('test/unit/a.test.ts', '// see\n// ../shared/STYLE.md')).toEqual([
      '2: ../shared/STYLE.md',
    ]);
    expect(missing('docs/x.md', 'Read ARCHITECTURE.md first.')).toEqual(['1: ARCHITECTURE.md']);
    expect(missing('scripts/x.mjs', '// docs/missing.md')).toEqual(['1: docs/missing.md']);
  });

  it('reports a capitalised document name cited with a section but no extension', () => {
    expect(missing('docs/x.md', 'the checks of PROTOCOL §1')).toEqual(['1: PROTOCOL.md']);
    expect(missing('docs/x.md', 'RFC 9110 §5.6.1 and README §2')).toEqual([]);
  });

  it('resolves a document from the root, from the citing folder, or from the citing package', () => {
    expect(missing('packages/server/src/x.ts', '// README.md, docs/redis.md')).toEqual([]);
    expect(missing('docs/x.md', 'See redis.md and ../README.md.')).toEqual([]);
    expect(missing('packages/react/src/x.ts', '// packages/react/README.md, and README.md')).toEqual([]);
    expect(missing('test/unit/a.test.ts', '// ../../README.md')).toEqual([]);
    expect(missing('README.md', 'Not outside the repository: ../README.md')).toEqual(['1: ../README.md']);
  });

  it('ignores URLs and the tails of longer paths', () => {
    const text = '// https://github.com/websockets/ws/blob/master/README.md and node_modules/x/CHANGES.md';
    expect(missing('test/unit/a.test.ts', text)).toEqual(['1: node_modules/x/CHANGES.md']);
    expect(missing('test/unit/a.test.ts', '// https://example.com/docs/NOTES.md')).toEqual([]);
  });

  it('reports a quoted heading the cited document does not begin', () => {
    expect(missing('docs/x.md', 'As docs/redis.md, "Memory" and docs/redis.md, "Redis stalled" say')).toEqual(
      [],
    );
    expect(missing('test/unit/a.test.ts', '// README.md, "Run two nodes with Redis"')).toEqual([]);
    expect(missing('packages/react/src/x.ts', '// README.md, "shareAcrossTabs"')).toEqual([]);
    expect(missing('docs/x.md', 'See docs/redis.md ("Memory").')).toEqual([]);
    expect(missing('docs/x.md', 'See docs/redis.md, "Clustering".')).toEqual([
      '1: docs/redis.md, "Clustering"',
    ]);
  });

  it('reports a docs/protocol.md section that does not exist, in lists, ranges and part two', () => {
    expect(missing('a.ts', '// docs/protocol.md §4, §9 and B')).toEqual([]);
    expect(missing('a.ts', '// (docs/protocol.md §4: default 1000)')).toEqual([]);
    expect(missing('a.ts', '// docs/protocol.md part two, B')).toEqual([]);
    expect(missing('a.ts', '// docs/protocol.md §12')).toEqual(['1: docs/protocol.md §12']);
    expect(missing('a.ts', '// docs/protocol.md §1–§5')).toEqual(['1: docs/protocol.md §5']);
    expect(missing('a.ts', '// (docs/protocol.md §4, C)')).toEqual(['1: docs/protocol.md C']);
    expect(missing('a.ts', '\n// docs/protocol.md Z: nothing')).toEqual(['2: docs/protocol.md Z']);
    // A capital that starts a word is prose, not a section.
    expect(missing('a.ts', '// docs/protocol.md Also says')).toEqual([]);
  });

  it('checks relative Markdown links from the citing file, and only in Markdown', () => {
    expect(missing('docs/x.md', '[wire](protocol.md) [shot](redis.md#memory) [top](../README.md)')).toEqual(
      [],
    );
    expect(missing('docs/x.md', '[web](https://example.com/a) [mail](mailto:a@b.c) [here](#top)')).toEqual(
      [],
    );
    expect(missing('docs/x.md', '![demo](demo-run.png)')).toEqual(['1: demo-run.png']);
    expect(missing('docs/x.md', '[code](../packages/react/src/index.ts)')).toEqual([]);
    expect(missing('README.md', '[code](packages/react/src/missing.ts)')).toEqual([
      '1: packages/react/src/missing.ts',
    ]);
    expect(missing('test/unit/a.test.ts', '// [not a link](missing-dir/x)')).toEqual([]);
  });

  it('finds every kind of citation with its line', () => {
    const text = 'a\n[b](c.md) docs/protocol.md §2\nPROTOCOL §3 README.md, "Start"';
    expect(citationsIn(text, { markdown: true })).toEqual([
      { kind: 'document', target: 'c.md', line: 2 },
      { kind: 'document', target: 'docs/protocol.md', line: 2 },
      { kind: 'document', target: 'README.md', line: 3 },
      { kind: 'heading', target: 'README.md', heading: 'Start', line: 3 },
      { kind: 'document', target: 'PROTOCOL.md', line: 3 },
      { kind: 'section', target: '§2', line: 2 },
      { kind: 'link', target: 'c.md', line: 2 },
    ]);
  });
});
