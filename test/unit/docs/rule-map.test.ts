import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';

/**
 * docs/architecture.md's rule map names, for each protocol rule, the file and function that enforce it and
 * the test that proves it. This keeps those names true as the code moves: every path exists, every name
 * after a path occurs in that file, and every “quoted” test name occurs in the test file before it.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/architecture.md`, 'utf8');
const ruleMap = doc.slice(doc.indexOf('\n## Rule map'));

/** A repository path in backticks: it has a folder and a file extension. */
const PATH = /^[\w.-]+(?:\/[\w.-]+)+\.\w+$/;
/** Backticked names and “quoted” test names, in the order they appear. */
const TOKEN = /`([^`]+)`|“([^”]+)”/g;

/** Problems with one cell: a missing file, or a name the file before it does not contain. */
function checkCell(cell: string): string[] {
  const problems: string[] = [];
  let file: string | undefined;
  let text = '';
  for (const m of cell.matchAll(TOKEN)) {
    const [, code, quoted] = m;
    if (code !== undefined && PATH.test(code)) {
      file = code;
      if (!existsSync(`${root}${code}`)) {
        problems.push(`${code} does not exist`);
        text = '';
      } else {
        text = readFileSync(`${root}${code}`, 'utf8');
      }
      continue;
    }
    // Names before the first path belong to the sentence, not to a file.
    if (file === undefined || text === '') continue;
    // `Class.#method` is found by its last part: the file holds `#method(`, not the dotted name.
    const name = code === undefined ? (quoted as string) : (code.split('.').pop() as string);
    if (!text.includes(name)) problems.push(`${file} has no ${code ?? `test named “${quoted}”`}`);
  }
  return problems;
}

describe('docs/architecture.md rule map', () => {
  const rows = ruleMap
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| code and reason'));
  const ruleRows = rows.filter((line) => !line.startsWith('| rule |'));

  it('has a row for every close code and close reason of the catalogue, and every rule it promises', () => {
    for (const code of Object.values(CloseCode)) {
      const row = ruleRows.some((r) => r.startsWith(`| ${code}`) || r.includes(`, ${code} `));
      expect(row, `a row for close code ${code}`).toBe(true);
    }
    for (const reason of Object.values(CloseReason)) {
      expect(
        ruleRows.some((r) => r.includes(`\`${reason}\``)),
        `a row for "${reason}"`,
      ).toBe(true);
    }
    for (const rule of [
      'Resume `reset`',
      'Origin wildcard',
      'Per-user connection slots',
      'Rate limits',
      'Early frames',
      'Handshakes per IP',
      'History bounds',
      'Run termination',
      'Idempotent `user_message` ids',
      'Reserved event types',
      'Depth',
      'Ids',
      'Exact resume',
    ])
      expect(
        ruleRows.some((row) => row.startsWith(`| ${rule}`)),
        rule,
      ).toBe(true);
  });

  it('names only files, functions and tests that exist', () => {
    const problems = ruleRows.flatMap((row) => {
      const cells = row.split(' | ');
      // | rule | contract | enforced in | proved by |
      return [...checkCell(cells[2] ?? ''), ...checkCell(cells[3] ?? '')].map((p) => `${cells[0]}: ${p}`);
    });
    const prose = ruleMap
      .split('\n')
      .filter((line) => !line.startsWith('|'))
      .join('\n');
    expect([...problems, ...checkCell(prose)]).toEqual([]);
  });

  it('names only repository paths that exist, anywhere in the document', () => {
    const paths = [
      ...doc.matchAll(/(?<![\w./-])((?:packages|test|bench|scripts|docs|examples)\/[\w./-]*[\w-])/g),
    ];
    expect(paths.length).toBeGreaterThan(50);
    expect(paths.map((m) => m[1] as string).filter((path) => !existsSync(`${root}${path}`))).toEqual([]);
  });

  it('catches a name the file lacks, a missing file and a missing test (the checker itself)', () => {
    expect(checkCell('`packages/server/src/gateway/connection.ts` `Connection.#takeSlot`')).toEqual([]);
    expect(checkCell('`packages/server/src/gateway/connection.ts` `Connection.#giveSlot`')).toEqual([
      'packages/server/src/gateway/connection.ts has no Connection.#giveSlot',
    ]);
    expect(checkCell('`packages/server/src/gateway/missing.ts` `anything`')).toEqual([
      'packages/server/src/gateway/missing.ts does not exist',
    ]);
    expect(checkCell('`test/integration/auth.test.ts` “closes with 4009 when the moon is full”')).toEqual([
      'test/integration/auth.test.ts has no test named “closes with 4009 when the moon is full”',
    ]);
  });
});
