import { envName, flagName, OPTION_SPECS, type OptionSpec } from './options.js';

/** The rows as plain OptionSpecs, for code that reads any field of any row. */
const SPECS: readonly OptionSpec[] = OPTION_SPECS;

const GROUP_TITLES: Record<OptionSpec['group'], string> = {
  server: 'Server',
  auth: 'Authentication',
  origins: 'Origin policy and IP blocking',
  limits: 'Abuse limits',
  history: 'History and resume',
  agents: 'Agent runs',
  engine: 'Engine',
  observability: 'Observability',
};

/** `agentcast --help`, derived from the option table so it cannot drift from the loader. */
export function helpText(): string {
  const lines = [
    'agentcast: real-time gateway for AI-agent events',
    '',
    'Usage:',
    '  agentcast serve [options]        start the gateway',
    '  agentcast token <user> [options] print a signed client JWT (uses --jwt-secret)',
    '  agentcast --help                 this text',
    '  agentcast --version              the version of @agentcast/server',
    '',
    'Every option can also be set with an environment variable (shown on the right) or in a JSON',
    'file given with --config FILE (camelCase keys, e.g. "historySize"). Flags win over env, env over file.',
  ];
  for (const group of Object.keys(GROUP_TITLES) as OptionSpec['group'][]) {
    lines.push('', `${GROUP_TITLES[group]}:`);
    for (const spec of SPECS.filter((s) => s.group === group)) {
      const flag = `--${flagName(spec.key)}${spec.kind === 'bool' ? '' : ` <${spec.kind === 'list' ? 'a,b' : spec.kind === 'int' ? 'n' : 'value'}>`}`;
      const dflt =
        spec.defaultText ??
        (spec.default === undefined
          ? undefined
          : Array.isArray(spec.default)
            ? spec.default.join(',') || '(none)'
            : String(spec.default));
      lines.push(`  ${flag.padEnd(34)} ${spec.help}${dflt === undefined ? '' : ` [default: ${dflt}]`}`);
      lines.push(`  ${''.padEnd(34)} env ${envName(spec.key)}`);
    }
  }
  lines.push('', '  --config <file>                    JSON file of options', '');
  return lines.join('\n');
}
