import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RunErrorMessage } from '../../../packages/server/src/agents/run-error-code.js';

const protocol = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
/** The run error code table of the catalogue (other tables share some codes, e.g. UNAVAILABLE). */
const runErrorTable = protocol.slice(
  protocol.indexOf('### Run error codes'),
  protocol.indexOf('### Internal error codes'),
);
const agents = readFileSync(new URL('../../../docs/agents.md', import.meta.url), 'utf8');

describe('RunErrorMessage', () => {
  it.each(Object.entries(RunErrorMessage))(
    '%s: its fixed message is documented in its catalogue row and in docs/agents.md',
    (code, message) => {
      const row = runErrorTable.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
      expect(row, `docs/protocol.md has a row for ${code}`).toBeDefined();
      expect(row).toContain(`\`${message}\``);
      expect(agents).toContain(`\`${message}\``);
    },
  );

  it('never names a host, a port or an exception: these messages are all a user reads of an internal failure', () => {
    for (const message of Object.values(RunErrorMessage)) {
      expect(message).toMatch(/^[a-z' ]+$/);
    }
  });
});
