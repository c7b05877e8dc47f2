import { describe, expect, it } from 'vitest';
import { helpText } from '../../../packages/server/src/config/help-text.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { envName, flagName, OPTION_SPECS } from '../../../packages/server/src/config/options.js';

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ code: 'AC_ERR_CONFIG_INVALID' });
    return (err as Error).message;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig();
    expect(config).toMatchObject({
      port: 8080,
      env: 'development',
      host: '127.0.0.1',
      demo: true,
      authTimeoutMs: 5000,
      historySize: 1000,
      historyTtlS: 300,
      maxPayload: 65536,
      maxConnectionsPerUser: 10,
      rateLimit: 20,
      rateBurst: 40,
      heartbeatMs: 25000,
      drainTimeoutMs: 10000,
      allowQueryToken: false,
      violationLimit: 5,
      violationWindowS: 60,
      blockS: 300,
      runTimeoutMs: 120000,
      maxRunsPerUser: 3,
      defaultAgent: 'demo',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads flags in both forms, negated booleans, and lists', () => {
    const config = loadConfig({
      argv: [
        '--port',
        '9000',
        '--history-size=50',
        '--no-demo',
        '--allow-query-token',
        '--origins',
        'https://a.example.com, https://b.example.com',
      ],
    });
    expect(config).toMatchObject({
      port: 9000,
      historySize: 50,
      demo: false,
      allowQueryToken: true,
      origins: ['https://a.example.com', 'https://b.example.com'],
    });
  });

  it('takes flags over env over file', () => {
    const file = JSON.stringify({ port: 1, historySize: 2, heartbeatMs: 3000 });
    const config = loadConfig({
      argv: ['--config', 'c.json', '--port', '7'],
      env: { AGENTCAST_PORT: '5', AGENTCAST_HISTORY_SIZE: '6' },
      readFile: () => file,
    });
    expect(config).toMatchObject({ port: 7, historySize: 6, heartbeatMs: 3000 });
  });

  it('has a flag and an env var for every option, named by one rule', () => {
    for (const spec of OPTION_SPECS) {
      expect(flagName(spec.key)).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(envName(spec.key)).toMatch(/^AGENTCAST_[A-Z0-9_]+$/);
      expect(helpText()).toContain(`--${flagName(spec.key)}`);
      expect(helpText()).toContain(envName(spec.key));
    }
    expect(envName('maxConnectionsPerUser')).toBe('AGENTCAST_MAX_CONNECTIONS_PER_USER');
    expect(flagName('maxConnectionsPerUser')).toBe('max-connections-per-user');
  });

  it('lists every problem at once, naming the field and the source', () => {
    const message = problems(() =>
      loadConfig({
        argv: ['--port', 'eighty', '--heartbeat-ms', '5', '--bogus'],
        env: { AGENTCAST_ENV: 'prod' },
      }),
    );
    expect(message).toContain('--port "eighty": must be a whole number');
    expect(message).toContain('--heartbeat-ms "5": must be between 100 and 600000');
    expect(message).toContain('--bogus: unknown flag; see --help');
    expect(message).toContain('AGENTCAST_ENV "prod": must be one of development, test, staging, production');
  });

  it('never echoes a secret in an error', () => {
    const message = problems(() =>
      loadConfig({ argv: ['--env', 'production', '--jwt-secret', 'short-secret', '--api-key', 'k'] }),
    );
    expect(message).not.toContain('short-secret');
    expect(message).toContain('--jwt-secret "[redacted]": must be at least 32 characters in production');
    expect(message).toContain('--api-key "[redacted]": must be at least 16 characters in production');
  });

  it.each(['staging', 'production'])('refuses %s without a JWT key and an API key', (env) => {
    const message = problems(() => loadConfig({ argv: ['--env', env] }));
    expect(message).toContain('needs client token verification');
    expect(message).toContain('needs an API key');
  });

  it('refuses the demo outside development and several JWT key sources at once', () => {
    const message = problems(() =>
      loadConfig({
        argv: [
          '--env',
          'staging',
          '--demo',
          '--jwt-secret',
          'x'.repeat(40),
          '--jwks',
          'k.json',
          '--api-key',
          'y'.repeat(20),
        ],
      }),
    );
    expect(message).toContain('--demo "true": the demo is for development only; remove it in staging');
    expect(message).toContain(
      '--jwt-secret, --jwks: only one of --jwt-secret, --jwt-public-key, --jwks, --jwks-url may be set; keep one',
    );
  });

  it.each([
    ['ftp://idp.example/jwks', 'test', '--jwks-url "ftp://idp.example/jwks": must be http:// or https://'],
    ['not a url', 'test', '--jwks-url "not a url": not a URL'],
    [
      'http://idp.example/jwks',
      'production',
      '--jwks-url "http://idp.example/jwks": must be https:// outside development and test',
    ],
  ])('refuses --jwks-url %s in %s', (url, env, expected) => {
    const message = problems(() =>
      loadConfig({ argv: ['--env', env, '--jwks-url', url, '--api-key', 'k'.repeat(20)] }),
    );
    expect(message).toContain(expected);
  });

  it('accepts --jwks-url over http:// in development and test, and https:// everywhere', () => {
    const local = loadConfig({ argv: ['--env', 'test', '--jwks-url', 'http://127.0.0.1:9/jwks.json'] });
    expect(local.jwksUrl).toBe('http://127.0.0.1:9/jwks.json');
    const prod = loadConfig({
      argv: ['--env', 'production', '--jwks-url', 'https://idp.example/.well-known/jwks.json'],
      env: { AGENTCAST_API_KEY: 'k'.repeat(20), AGENTCAST_ORIGINS: 'https://app.example' },
    });
    expect(prod).toMatchObject({ jwksTimeoutMs: 5000, jwksCooldownMs: 30_000, jwksCacheMaxAgeS: 600 });
  });

  it('refuses --jwks-url together with another key source', () => {
    const message = problems(() =>
      loadConfig({ argv: ['--jwks-url', 'https://idp.example/jwks', '--jwt-secret', 's'] }),
    );
    expect(message).toContain(
      '--jwt-secret, --jwks-url: only one of --jwt-secret, --jwt-public-key, --jwks, --jwks-url may be set; keep one',
    );
  });

  it('takes a comma-separated list of API keys and checks each one, naming it by position', () => {
    const message = problems(() =>
      loadConfig({
        argv: [
          '--env',
          'production',
          '--jwt-secret',
          'x'.repeat(40),
          '--api-key',
          `${'n'.repeat(20)}, short`,
        ],
      }),
    );
    expect(message).toContain('--api-key[1] "[redacted]": must be at least 16 characters in production');
    expect(message).not.toContain('short');
    expect(message).not.toContain('nnnn');
    expect(problems(() => loadConfig({ argv: ['--env', 'staging', '--api-key', ' , '] }))).toContain(
      'needs an API key',
    );
  });

  it('needs a secret for the webhook agent and a real URL', () => {
    expect(problems(() => loadConfig({ argv: ['--agent-url', 'ftp://x'] }))).toMatch(
      /must be http:\/\/ or https:\/\/[\s\S]*needs --agent-secret/,
    );
    expect(
      problems(() => loadConfig({ argv: ['--agent-url', 'not a url', '--agent-secret', 's'] })),
    ).toContain('not a URL');
  });

  it('bounds slow HTTP peers by default, and refuses a headers timeout longer than the request timeout', () => {
    expect(loadConfig()).toMatchObject({
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      httpKeepAliveTimeoutMs: 5000,
      maxHttpSockets: 1024,
      maxHttpSocketsPerIp: 128,
    });
    expect(
      problems(() =>
        loadConfig({ argv: ['--http-headers-timeout-ms', '5000', '--http-request-timeout-ms', '4000'] }),
      ),
    ).toContain(
      '--http-headers-timeout-ms "5000": must not exceed --http-request-timeout-ms (4000), which covers the headers too',
    );
    expect(
      loadConfig({ argv: ['--http-headers-timeout-ms', '4000', '--http-request-timeout-ms', '4000'] }),
    ).toMatchObject({ httpHeadersTimeoutMs: 4000, httpRequestTimeoutMs: 4000 });
  });

  it.each([
    ['a file that is not JSON', '{nope', 'cannot read a JSON object'],
    ['a JSON array', '[1]', 'must contain a JSON object'],
    [
      'a mistyped key',
      '{"histroySize": 5}',
      'c.json: histroySize: unknown option; did you mean "historySize"?',
    ],
    [
      'an unknown key',
      '{"colour": 5}',
      'c.json: colour: unknown option; keys are camelCase, e.g. "historySize"',
    ],
    ['a wrong type', '{"historySize": "many"}', 'historySize "many": must be a whole number'],
  ])('refuses a config file with %s', (_name, text, expected) => {
    expect(problems(() => loadConfig({ argv: ['--config', 'c.json'], readFile: () => text }))).toContain(
      expected,
    );
  });

  it('reports flags missing their value and stray arguments', () => {
    const message = problems(() => loadConfig({ argv: ['stray', '--port'] }));
    expect(message).toContain('"stray": unexpected argument; flags look like --port 8080 (see --help)');
    expect(message).toContain('--port: needs a value');
  });

  it.each([
    [['--prot', '18100'], '--prot: unknown flag; did you mean --port?'],
    [['--prot=18100'], '--prot: unknown flag; did you mean --port?'],
    [['--histroy-size', '5'], '--histroy-size: unknown flag; did you mean --history-size?'],
    [['--orgins', 'https://a.example'], '--orgins: unknown flag; did you mean --origins?'],
    [['--no-dmeo'], '--no-dmeo: unknown flag; did you mean --no-demo?'],
    [['--confg', 'c.json'], '--confg: unknown flag; did you mean --config?'],
    [['--colour', 'red'], '--colour: unknown flag; see --help'],
  ])('suggests the flag %j most likely means, and takes its value with it', (argv, expected) => {
    expect(problems(() => loadConfig({ argv }))).toBe(`invalid configuration:\n  - ${expected}`);
  });

  it('keeps reading flags after an unknown one', () => {
    expect(problems(() => loadConfig({ argv: ['--prot', '1', '--port', 'x', '--bogus', '--demo'] }))).toBe(
      'invalid configuration:\n  - --prot: unknown flag; did you mean --port?\n  - --bogus: unknown flag; see --help\n  - --port "x": must be a whole number',
    );
  });

  it.each([
    ['a,,b', 'entry 2 is empty'],
    [',a', 'entry 1 is empty'],
    ['a,', 'entry 2 is empty'],
    ['a, ,b', 'entry 2 is empty'],
    ['', 'entry 1 is empty'],
  ])('refuses the list %j with an empty entry', (value, problem) => {
    expect(problems(() => loadConfig({ argv: ['--trust-proxy', value] }))).toBe(
      `invalid configuration:\n  - --trust-proxy "${value}": ${problem}; remove the extra comma`,
    );
    expect(problems(() => loadConfig({ argv: ['--origins', `${value}`] }))).toContain(
      `--origins "${value}": ${problem}`,
    );
  });

  it('refuses an empty entry in a JSON list and in an env list, naming the source', () => {
    const file = problems(() =>
      loadConfig({ argv: ['--config', 'c.json'], readFile: () => '{"origins": ["http://localhost:1", ""]}' }),
    );
    expect(file).toContain('c.json: origins "["http://localhost:1",""]": entry 2 is empty');
    expect(problems(() => loadConfig({ env: { AGENTCAST_ORIGINS: 'http://localhost:1,,' } }))).toContain(
      'AGENTCAST_ORIGINS "http://localhost:1,,": entry 2 is empty',
    );
  });

  it('warns about AGENTCAST_* variables that are no option, with the likely one, and ignores them', () => {
    const warnings: string[] = [];
    const config = loadConfig({
      env: {
        AGENTCAST_PROT: '18100',
        AGENTCAST_COLOUR: 'red',
        AGENTCAST_PORT: '7',
        PATH: '/bin',
        AGENTCAST_CONFIG: undefined,
      },
      warn: (message) => warnings.push(message),
    });
    expect(config.port).toBe(7);
    expect(warnings).toEqual([
      'AGENTCAST_PROT: not an agentcast option, ignored; did you mean AGENTCAST_PORT?',
      'AGENTCAST_COLOUR: not an agentcast option, ignored (see --help)',
    ]);
  });

  it('warns about nothing when every AGENTCAST_* variable is an option', () => {
    const warnings: string[] = [];
    loadConfig({
      env: { AGENTCAST_PORT: '7', AGENTCAST_REDIS_URL: 'redis://127.0.0.1:6379', HOME: '/root' },
      warn: (message) => warnings.push(message),
    });
    expect(warnings).toEqual([]);
  });

  it.each([
    [
      ['--default-agent', 'webhook'],
      '--default-agent "webhook": the webhook agent needs --agent-url and --agent-secret; set them or use --default-agent demo',
    ],
    [
      ['--redis', 'http://127.0.0.1:6379'],
      '--redis "http://127.0.0.1:6379": must be a redis:// or rediss:// URL (redis://host:6379/0)',
    ],
    [
      ['--redis', '127.0.0.1:6379'],
      '--redis "127.0.0.1:6379": must be a redis:// or rediss:// URL (redis://host:6379/0)',
    ],
    [
      ['--redis', 'https://user:hunter2@r.example'],
      '--redis "https://user:[redacted]@r.example": must be a redis:// or rediss:// URL (redis://host:6379/0)',
    ],
  ])('refuses %j at start-up, naming the flag', (argv, expected) => {
    expect(problems(() => loadConfig({ argv }))).toBe(`invalid configuration:\n  - ${expected}`);
  });

  it('accepts redis:// and rediss:// URLs and the webhook agent as default when it is configured', () => {
    expect(loadConfig({ argv: ['--redis', 'rediss://r.example:6380/1'] }).redis).toBe(
      'rediss://r.example:6380/1',
    );
    expect(
      loadConfig({
        argv: ['--default-agent', 'webhook', '--agent-url', 'http://127.0.0.1:9/run', '--agent-secret', 's'],
      }).defaultAgent,
    ).toBe('webhook');
  });

  it('words every problem one way: where, the value in quotes when there is one, what is wrong', () => {
    const message = problems(() =>
      loadConfig({
        argv: [
          ...['stray', '--prot', '1', '--env', 'production', '--demo', '--demo-tokens', '--origins', 'a,,b'],
          ...['--http-headers-timeout-ms', '9000', '--http-request-timeout-ms', '8000'],
          ...['--agent-url', 'ftp://x', '--default-agent', 'webhook', '--redis', 'http://r', '--port'],
        ],
        env: { AGENTCAST_HISTORY_SIZE: '0' },
      }),
    );
    const lines = message.split('\n').slice(1);
    expect(lines.length).toBeGreaterThanOrEqual(12);
    for (const line of lines) {
      expect(line).toMatch(/^ {2}- (?:"[^"]*"|[^\s":]+(?:, [^\s":]+)*(?: "[^"]*")?): [a-z]/);
    }
  });

  it('defaults host and demo by environment', () => {
    expect(
      loadConfig({
        argv: ['--env', 'production', '--jwt-secret', 'x'.repeat(40), '--api-key', 'y'.repeat(20)],
      }),
    ).toMatchObject({
      host: '0.0.0.0',
      demo: false,
    });
  });

  it.each([
    ['development', 0],
    ['test', 5000],
    ['staging', 5000],
    ['production', 5000],
  ] as const)('defaults --drain-delay-ms in %s to %i, and takes a given value', (env, delay) => {
    const argv = ['--env', env, '--jwt-secret', 'x'.repeat(40), '--api-key', 'y'.repeat(20)];
    expect(loadConfig({ argv }).drainDelayMs).toBe(delay);
    expect(loadConfig({ argv: [...argv, '--drain-delay-ms', '250'] }).drainDelayMs).toBe(250);
  });

  it('accepts boolean words from env and refuses others', () => {
    expect(loadConfig({ env: { AGENTCAST_REQUIRE_ORIGIN: 'yes' } }).requireOrigin).toBe(true);
    expect(loadConfig({ env: { AGENTCAST_REQUIRE_ORIGIN: 'off' } }).requireOrigin).toBe(false);
    expect(problems(() => loadConfig({ env: { AGENTCAST_REQUIRE_ORIGIN: 'maybe' } }))).toContain(
      'must be true or false',
    );
  });
});

describe('README configuration table', () => {
  it('documents exactly the options the loader knows, with their env vars', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `--([a-z0-9-]+)` \| `(AGENTCAST_[A-Z0-9_]+)` \|/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(rows.sort()).toEqual(OPTION_SPECS.map((s) => [flagName(s.key), envName(s.key)]).sort());
  });
});
