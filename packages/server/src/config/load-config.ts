import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { apiKeyList } from './api-keys.js';
import { closestName } from './closest-name.js';
import type { Config, DerivedDefaultKey } from './config.js';
import { envName, flagName, OPTION_SPECS, type OptionSpec } from './options.js';

/** Where a value came from, for error messages. */
type Source = 'flag' | 'env' | 'file' | 'code';

/** Raw inputs to {@link loadConfig}; the CLI passes process.argv/env, tests pass literals. */
export interface ConfigSources {
  /** Flags after the command, e.g. `['--port', '0', '--no-demo']`. */
  readonly argv?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads `--config FILE`; injectable for tests. */
  readonly readFile?: (path: string) => string;
  /** Values given in code (createGateway); they win over everything else. */
  readonly overrides?: Readonly<Partial<Config>>;
  /**
   * Told about what is odd but not wrong: an `AGENTCAST_*` variable that is no option (a typo such as
   * `AGENTCAST_PROT` would otherwise be ignored silently). The CLI prints these on stderr.
   */
  readonly warn?: (message: string) => void;
}

type Raw = { value: unknown; source: Source; label: string };

/** The rows as plain OptionSpecs, for code that reads any field of any row. */
const SPECS: readonly OptionSpec[] = OPTION_SPECS;
const SPEC_BY_KEY = new Map<string, OptionSpec>(SPECS.map((s) => [s.key, s]));
const SPEC_BY_FLAG = new Map<string, OptionSpec>(SPECS.map((s) => [flagName(s.key), s]));
/** Every flag name, `no-` forms of the booleans included, for suggestions. */
const FLAG_NAMES: readonly string[] = [
  ...SPEC_BY_FLAG.keys(),
  ...SPECS.filter((s) => s.kind === 'bool').map((s) => `no-${flagName(s.key)}`),
  'config',
];
/** Every `AGENTCAST_*` variable the loader reads. */
const ENV_NAMES = new Set<string>([...SPECS.map((s) => envName(s.key)), 'AGENTCAST_CONFIG']);

/**
 * The defaults that depend on other options: one for each row with `derivedDefault`, no more, no fewer
 * (the type says so). Each reads the values loaded so far; `env` always has one.
 */
const DERIVED_DEFAULTS: {
  readonly [K in DerivedDefaultKey]: (values: Readonly<Record<string, unknown>>) => Config[K];
} = {
  host: (v) => (v.env === 'development' || v.env === 'test' ? '127.0.0.1' : '0.0.0.0'),
  demo: (v) => v.env === 'development',
  drainDelayMs: (v) => (v.env === 'development' ? 0 : 5000),
  serverId: () => `${hostname()}-${process.pid}`,
};

/**
 * Builds a Config from defaults, then a JSON file (`--config`), then `AGENTCAST_*` env vars, then
 * flags, then code overrides. Collects every problem and throws one AgentcastError
 * (AC_ERR_CONFIG_INVALID) listing them all; the CLI exits 2 with it.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const problems: string[] = [];
  const raw = new Map<string, Raw>();
  const flags = parseArgv(sources.argv ?? [], problems);
  const configPath = flags.get('config')?.value ?? sources.env?.AGENTCAST_CONFIG;
  if (typeof configPath === 'string') readConfigFile(configPath, sources.readFile, raw, problems);
  warnUnknownEnv(sources.env ?? {}, sources.warn);
  for (const spec of SPECS) {
    const value = sources.env?.[envName(spec.key)];
    if (value !== undefined && value !== '')
      raw.set(spec.key, { value, source: 'env', label: envName(spec.key) });
  }
  for (const [key, entry] of flags) if (key !== 'config') raw.set(key, entry);
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) raw.set(key, { value, source: 'code', label: key });
  }
  const values: Record<string, unknown> = {};
  for (const spec of SPECS) {
    const given = raw.get(spec.key);
    if (given === undefined) {
      values[spec.key] = spec.default;
      continue;
    }
    const coerced = coerce(spec, given);
    if (coerced.ok) values[spec.key] = coerced.value;
    else problems.push(`${given.label} ${show(spec, given.value)}: ${coerced.message}`);
  }
  for (const [key, derive] of Object.entries(DERIVED_DEFAULTS)) values[key] ??= derive(values);
  checkCombinations(values, (key) => raw.get(key)?.label ?? `--${flagName(key)}`, problems);
  if (problems.length > 0) {
    throw new AgentcastError(
      AgentcastErrorCode.ConfigInvalid,
      `invalid configuration:\n  - ${problems.join('\n  - ')}`,
    );
  }
  // Every row of OPTION_SPECS set its key above (a value, its default, or undefined when it may be
  // unset), each value checked against its row's kind: that is the Config type, field by field.
  return Object.freeze(values) as Config;
}

/** `--port 0`, `--port=0`, `--demo`, `--no-demo`. Unknown flags are problems, not silently ignored. */
function parseArgv(argv: readonly string[], problems: string[]): Map<string, Raw> {
  const out = new Map<string, Raw>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      problems.push(`"${arg}": unexpected argument; flags look like --port 8080 (see --help)`);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let negated = false;
    if (name === 'config') {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) problems.push('--config: needs a file path');
      else out.set('config', { value, source: 'flag', label: '--config' });
      continue;
    }
    if (
      !SPEC_BY_FLAG.has(name) &&
      name.startsWith('no-') &&
      SPEC_BY_FLAG.get(name.slice(3))?.kind === 'bool'
    ) {
      name = name.slice(3);
      negated = true;
    }
    const spec = SPEC_BY_FLAG.get(name);
    if (spec === undefined) {
      const near = closestName(name, FLAG_NAMES);
      problems.push(
        `--${name}: unknown flag; ${near === undefined ? 'see --help' : `did you mean --${near}?`}`,
      );
      // `--prot 18100`: 18100 is the mistyped flag's value, not a second mistake to report.
      if (eq === -1 && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) i++;
      continue;
    }
    const label = `--${flagName(spec.key)}`;
    if (spec.kind === 'bool' && eq === -1) {
      out.set(spec.key, { value: !negated, source: 'flag', label });
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) problems.push(`${label}: needs a value`);
    else out.set(spec.key, { value, source: 'flag', label });
  }
  return out;
}

function readConfigFile(
  path: string,
  readFile: ((path: string) => string) | undefined,
  raw: Map<string, Raw>,
  problems: string[],
): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse((readFile ?? ((p) => readFileSync(p, 'utf8')))(path));
  } catch (err) {
    problems.push(
      `--config ${path}: cannot read a JSON object (${err instanceof Error ? err.message : String(err)})`,
    );
    return;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`--config ${path}: must contain a JSON object of options`);
    return;
  }
  for (const [key, value] of Object.entries(parsed)) {
    if (SPEC_BY_KEY.has(key)) raw.set(key, { value, source: 'file', label: `${path}: ${key}` });
    else {
      const near = closestName(key, SPEC_BY_KEY.keys());
      problems.push(
        `${path}: ${key}: unknown option; ${near === undefined ? 'keys are camelCase, e.g. "historySize"' : `did you mean "${near}"?`}`,
      );
    }
  }
}

type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

function coerce(spec: OptionSpec, given: Raw): Coerced {
  const { value } = given;
  switch (spec.kind) {
    case 'string':
      return typeof value === 'string' && value.trim() !== ''
        ? { ok: true, value: value.trim() }
        : { ok: false, message: 'must be a non-empty string' };
    case 'int': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^-?\d+$/.test(value.trim())
            ? Number(value)
            : Number.NaN;
      if (!Number.isSafeInteger(n)) return { ok: false, message: 'must be a whole number' };
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        return { ok: false, message: `must be between ${spec.min} and ${spec.max}` };
      }
      return { ok: true, value: n };
    }
    case 'bool':
      if (typeof value === 'boolean') return { ok: true, value };
      if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value)) return { ok: true, value: true };
      if (typeof value === 'string' && /^(false|0|no|off)$/i.test(value)) return { ok: true, value: false };
      return { ok: false, message: 'must be true or false' };
    case 'list': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : null;
      if (items === null || !items.every((v) => typeof v === 'string')) {
        return { ok: false, message: 'must be a comma-separated list (or a JSON array of strings)' };
      }
      const trimmed = items.map((v: string) => v.trim());
      const empty = trimmed.indexOf('');
      if (empty !== -1) {
        return { ok: false, message: `entry ${empty + 1} is empty; remove the extra comma` };
      }
      return { ok: true, value: Object.freeze(trimmed) };
    }
    case 'enum':
      return typeof value === 'string' && (spec.values ?? []).includes(value)
        ? { ok: true, value }
        : { ok: false, message: `must be one of ${(spec.values ?? []).join(', ')}` };
  }
}

function show(spec: OptionSpec, value: unknown): string {
  if (spec.secret === true) return '"[redacted]"';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `"${text.length > 80 ? `${text.slice(0, 80)}…` : text}"`;
}

/**
 * Rules that involve several options. Each message has the one shape of every config problem:
 * `<where> "<value>": <what is wrong>; <how to fix it>`, `where` being the flag, variable or file key
 * the value came from (`label`).
 */
function checkCombinations(
  v: Record<string, unknown>,
  label: (key: string) => string,
  problems: string[],
): void {
  const strict = v.env === 'staging' || v.env === 'production';
  const env = `${label('env')} "${v.env}"`;
  const keySources = ['jwtSecret', 'jwtPublicKey', 'jwks', 'jwksUrl'].filter((k) => v[k] !== undefined);
  if (keySources.length > 1) {
    problems.push(
      `${keySources.map(label).join(', ')}: only one of --jwt-secret, --jwt-public-key, --jwks, --jwks-url may be set; keep one`,
    );
  }
  if (strict && keySources.length === 0) {
    problems.push(
      `${env}: needs client token verification; set --jwt-secret (AGENTCAST_JWT_SECRET), --jwt-public-key, --jwks or --jwks-url`,
    );
  }
  if (v.jwksUrl !== undefined) {
    checkJwksUrl(`${label('jwksUrl')} "${v.jwksUrl}"`, String(v.jwksUrl), !strict, problems);
  }
  const apiKeys = apiKeyList(v.apiKey as string | undefined);
  for (const [i, key] of apiKeys.entries()) {
    if (strict && key.length < 16) {
      const which = apiKeys.length === 1 ? label('apiKey') : `${label('apiKey')}[${i}]`;
      problems.push(`${which} "[redacted]": must be at least 16 characters in ${v.env}`);
    }
  }
  if (strict && apiKeys.length === 0) {
    problems.push(`${env}: needs an API key for /v1/*; set --api-key (AGENTCAST_API_KEY)`);
  }
  if (typeof v.jwtSecret === 'string' && v.env === 'production' && v.jwtSecret.length < 32) {
    problems.push(`${label('jwtSecret')} "[redacted]": must be at least 32 characters in production`);
  }
  if (strict && v.demo === true) {
    problems.push(`${label('demo')} "true": the demo is for development only; remove it in ${v.env}`);
  }
  if (strict && v.demoTokens === true) {
    problems.push(
      `${label('demoTokens')} "true": demo tokens are for development only; remove it in ${v.env}`,
    );
  }
  if (Number(v.httpHeadersTimeoutMs) > Number(v.httpRequestTimeoutMs)) {
    problems.push(
      `${label('httpHeadersTimeoutMs')} "${v.httpHeadersTimeoutMs}": must not exceed --http-request-timeout-ms (${v.httpRequestTimeoutMs}), which covers the headers too`,
    );
  }
  if (v.otelEndpoint !== undefined) {
    const where = `${label('otelEndpoint')} "${redactUrl(String(v.otelEndpoint))}"`;
    const url = URL.canParse(String(v.otelEndpoint)) ? new URL(String(v.otelEndpoint)) : undefined;
    if (url === undefined) problems.push(`${where}: not a URL; use http://collector:4318`);
    else if (url.protocol !== 'http:' && url.protocol !== 'https:')
      problems.push(`${where}: must be http:// or https:// (OTLP/HTTP)`);
  }
  checkAgents(v, label, problems);
  if (v.redis !== undefined && !/^rediss?:\/\//i.test(String(v.redis))) {
    problems.push(
      `${label('redis')} "${redactUrl(String(v.redis))}": must be a redis:// or rediss:// URL (redis://host:6379/0)`,
    );
  }
}

/** The webhook agent needs its URL and secret, and the default agent must be one that exists. */
function checkAgents(v: Record<string, unknown>, label: (key: string) => string, problems: string[]): void {
  if (v.agentUrl !== undefined) {
    const where = `${label('agentUrl')} "${v.agentUrl}"`;
    try {
      const url = new URL(String(v.agentUrl));
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        problems.push(`${where}: must be http:// or https://`);
    } catch {
      problems.push(`${where}: not a URL; use http://host:port/path`);
    }
    if (v.agentSecret === undefined)
      problems.push(`${where}: needs --agent-secret (AGENTCAST_AGENT_SECRET) to sign requests`);
  }
  if (v.defaultAgent === 'webhook' && v.agentUrl === undefined) {
    problems.push(
      `${label('defaultAgent')} "webhook": the webhook agent needs --agent-url and --agent-secret; set them or use --default-agent demo`,
    );
  }
}

/**
 * `--jwks-url`: an http(s) URL; https:// outside development and test, since keys fetched in clear text
 * could be swapped by anyone on the path, who could then sign any user's token.
 */
function checkJwksUrl(where: string, value: string, local: boolean, problems: string[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${where}: not a URL; use https://host/path/jwks.json`);
    return;
  }
  if (url.protocol === 'https:' || (local && url.protocol === 'http:')) return;
  problems.push(
    local
      ? `${where}: must be http:// or https://`
      : `${where}: must be https:// outside development and test; keys fetched in clear text could be replaced`,
  );
}

/** A URL as it may be shown: without its password. */
function redactUrl(text: string): string {
  return text.replace(/\/\/([^/@]*):[^/@]*@/, '//$1:[redacted]@');
}

/**
 * Warns about every `AGENTCAST_*` variable that is no option, with the option it most likely means:
 * set but never read, it would otherwise leave the gateway running on a default nobody chose.
 */
function warnUnknownEnv(
  env: Readonly<Record<string, string | undefined>>,
  warn: ((message: string) => void) | undefined,
): void {
  if (warn === undefined) return;
  for (const name of Object.keys(env)) {
    if (!name.startsWith('AGENTCAST_') || ENV_NAMES.has(name)) continue;
    const near = closestName(name, ENV_NAMES);
    warn(
      `${name}: not an agentcast option, ignored${near === undefined ? ' (see --help)' : `; did you mean ${near}?`}`,
    );
  }
}

/**
 * Loads the config of this process: its flags and `AGENTCAST_*` environment, telling `warn` about
 * unknown `AGENTCAST_*` variables. The only reader of process.env.
 */
export function loadConfigFromProcess(argv: readonly string[], warn?: (message: string) => void): Config {
  return loadConfig({ argv, env: process.env, ...(warn === undefined ? {} : { warn }) });
}
