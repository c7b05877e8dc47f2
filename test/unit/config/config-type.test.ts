import { describe, expectTypeOf, it } from 'vitest';
import type { Config } from '../../../packages/server/src/config/config.js';
import type { Environment, ProxyHeader } from '../../../packages/server/src/config/options.js';

// Checked by `npm run typecheck`: the Config type derived from OPTION_SPECS gives each kind its type.
describe('the Config type derived from OPTION_SPECS', () => {
  it('maps int, bool, string and list rows with a default to their plain types', () => {
    expectTypeOf<Config['port']>().toEqualTypeOf<number>();
    expectTypeOf<Config['allowQueryToken']>().toEqualTypeOf<boolean>();
    expectTypeOf<Config['defaultAgent']>().toEqualTypeOf<string>();
    expectTypeOf<Config['trustProxy']>().toEqualTypeOf<readonly string[]>();
  });

  it('maps rows without a default to a value that may be undefined', () => {
    expectTypeOf<Config['jwtSecret']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Config['metricsPort']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Config['origins']>().toEqualTypeOf<readonly string[] | undefined>();
  });

  it('never leaves a row with a derived default undefined', () => {
    expectTypeOf<Config['host']>().toEqualTypeOf<string>();
    expectTypeOf<Config['serverId']>().toEqualTypeOf<string>();
    expectTypeOf<Config['demo']>().toEqualTypeOf<boolean>();
  });

  it('maps an enum row to the union of its values', () => {
    expectTypeOf<Config['env']>().toEqualTypeOf<Environment>();
    expectTypeOf<Config['proxyHeader']>().toEqualTypeOf<ProxyHeader>();
    expectTypeOf<Config['logLevel']>().toEqualTypeOf<
      'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
    >();
  });

  it('is read-only', () => {
    expectTypeOf<Readonly<Config>>().toEqualTypeOf<Config>();
  });
});
