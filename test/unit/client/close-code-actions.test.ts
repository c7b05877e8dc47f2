import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODE_ACTIONS,
  CloseCode,
  closeAction,
} from '../../../packages/client/src/protocol/close-codes.js';

/**
 * docs/client.md's close-code table says, in words, what CLOSE_CODE_ACTIONS says in data. Each code of
 * the table is in exactly one row, and that row's words match the code's action.
 */
const doc = readFileSync(new URL('../../../docs/client.md', import.meta.url), 'utf8');
const rows = doc
  .slice(doc.indexOf('| close code | client does |'))
  .split('\n')
  .filter((line) => line.startsWith('|'))
  .slice(2)
  .map((line) => {
    const [codes = '', does = ''] = line.split('|').slice(1, 3);
    return { codes: (codes.match(/\b\d{4}\b/g) ?? []).map(Number), does };
  });

describe('docs/client.md close-code table', () => {
  it.each(Object.entries(CLOSE_CODE_ACTIONS))(
    'names %s in one row whose words match its action',
    (code, action) => {
      const matching = rows.filter((r) => r.codes.includes(Number(code)));
      expect(matching).toHaveLength(1);
      const { does } = matching[0] as { does: string };
      expect(does.includes('reconnect with backoff')).toBe(action.reconnect === 'backoff');
      expect(does.includes('reconnect soon')).toBe(action.reconnect === 'soon');
      expect(does.includes('never reconnect')).toBe(action.reconnect === 'never');
      expect(does.includes('getToken()')).toBe(action.freshToken);
      expect(does.includes('a refusal')).toBe(action.refusal);
    },
  );

  it('lists no code the table lacks', () => {
    const known = new Set(Object.values(CloseCode).map(Number));
    for (const row of rows) for (const code of row.codes) if (code !== 1006) expect(known).toContain(code);
  });

  it('treats codes the gateway never sends (1005, 1006, 4567) as a lost connection', () => {
    for (const code of [1005, 1006, 4567])
      expect(closeAction(code)).toEqual(CLOSE_CODE_ACTIONS[CloseCode.InternalError]);
  });
});
