import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RunErrorCode } from '../../../packages/server/src/agents/run-error-code.js';
import { UPGRADE_ERROR_CODES } from '../../../packages/server/src/gateway/upgrade-rejection.js';
import { AgentcastErrorCode } from '../../../packages/server/src/protocol/agentcast-error.js';
import { CloseCode, CloseReason } from '../../../packages/server/src/protocol/close-codes.js';
import { ErrorCode, HttpErrorCode } from '../../../packages/server/src/protocol/error-codes.js';

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');

/** The first column of the table under a `### <heading>` of the catalogue. */
function tableColumn(heading: string): string[] {
  const start = doc.indexOf(`### ${heading}`);
  expect(start, `docs/protocol.md has a "### ${heading}" table`).toBeGreaterThan(-1);
  const rest = doc.slice(start).split('\n').slice(1);
  const rows = [];
  for (const line of rest) {
    if (line.startsWith('### ')) break;
    const cell = /^\|\s*`?([^`|]+?)`?\s*\|/.exec(line)?.[1];
    if (cell !== undefined && !/^-+$/.test(cell) && cell !== 'code' && cell !== 'reason')
      rows.push(cell.trim());
  }
  return rows;
}

describe('docs/protocol.md catalogue', () => {
  it('lists exactly the close codes of src/protocol/close-codes.ts', () => {
    const documented = tableColumn('Close codes').map(Number);
    expect(documented.sort()).toEqual(Object.values(CloseCode).sort());
    for (const [name, code] of Object.entries(CloseCode)) expect(doc).toContain(`| ${code} | \`${name}\` |`);
  });

  it('lists exactly the close reasons, each fitting a close frame (123 bytes)', () => {
    expect(tableColumn('Close reasons').sort()).toEqual(Object.values(CloseReason).sort());
    for (const reason of Object.values(CloseReason))
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
  });

  it('lists exactly the error frame codes', () => {
    expect(tableColumn('Error frame codes').sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('lists exactly the HTTP error codes the gateway can answer', () => {
    const fromCode = new Set<string>([
      ...Object.values(HttpErrorCode),
      ErrorCode.InvalidJson,
      ErrorCode.InvalidMessage,
      ErrorCode.Internal,
      ErrorCode.Unavailable,
      ErrorCode.Conflict, // POST /v1/approvals/:approval_id (docs/protocol.md G)
      ErrorCode.Busy, // POST /v1/messages on a busy thread (docs/protocol.md E)
      ...Object.values(UPGRADE_ERROR_CODES),
    ]);
    expect(tableColumn('HTTP error codes').sort()).toEqual([...fromCode].sort());
  });

  it('lists exactly the run error codes', () => {
    const fromCode = [...Object.values(RunErrorCode), 'WEBHOOK_HTTP_<status>'];
    expect(tableColumn('Run error codes').sort()).toEqual(fromCode.sort());
  });

  it('lists exactly the internal error codes', () => {
    expect(tableColumn('Internal error codes').sort()).toEqual(Object.values(AgentcastErrorCode).sort());
  });

  it('keeps part one (§1 to §9) whole, ahead of part two', () => {
    const partOne = doc.slice(0, doc.indexOf('\n---\n\n# Part two'));
    expect(partOne.length).toBeGreaterThan(1000);
    expect(partOne).toContain('## 9. Shutdown');
  });
});
