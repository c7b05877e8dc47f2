import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { AgentcastError, AgentcastErrorCode } from '../protocol/agentcast-error.js';
import { apiKeyList } from './api-keys.js';
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
}

type Raw = { value: unknown; source: Source; label: string };

/** The rows as plain OptionSpecs, for code that reads any field of any row. */
const SPECS: readonly OptionSpec[] = OPTION_SPECS;
const SPEC_BY_KEY = new Map<string, OptionSpec>(SPECS.map((s) => [s.key, s]));
const SPEC_BY_FLAG = new Map<string, OptionSpec>(SPECS.map((s) => [flagName(s.key), s]));

/**
 * The defaults that depend on other options: one for each row with `derivedDefault`, no more, no fewer
 * (the type says so). Each reads the values loaded so far; `env` always has one.
 */
const DERIVED_DEFAULTS: {
  readonly [K in DerivedDefaultKey]: (values: Readonly<Record<string, unknown>>) => Config[K];
} = {
  host: (v) => (v.env === 'development' || v.env === 'test' ? '127.0.0.1' : '0.0.0.0'),
  demo: (v) => v.env === 'development',
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
  checkCombinations(values, problems);
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
      problems.push(`unexpected argument "${arg}"; flags look like --port 8080 (see --help)`);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let negated = false;
    if (name === 'config') {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) problems.push('--config needs a file path');
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
      problems.push(`unknown flag --${name} (see --help)`);
      continue;
    }
    const label = `--${flagName(spec.key)}`;
    if (spec.kind === 'bool' && eq === -1) {
      out.set(spec.key, { value: !negated, source: 'flag', label });
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) problems.push(`${label} needs a value`);
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
    else problems.push(`${path}: unknown option "${key}" (keys are camelCase, e.g. "historySize")`);
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
      return {
        ok: true,
        value: Object.freeze(items.map((v: string) => v.trim()).filter((v: string) => v !== '')),
      };
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

/** Rules that involve several options; each message says how to fix it. */
function checkCombinations(v: Record<string, unknown>, problems: string[]): void {
  const strict = v.env === 'staging' || v.env === 'production';
  const keySources = ['jwtSecret', 'jwtPublicKey', 'jwks', 'jwksUrl'].filter((k) => v[k] !== undefined);
  if (keySources.length > 1) {
    problems.push(
      `only one of --jwt-secret, --jwt-public-key, --jwks, --jwks-url may be set (got ${keySources.map((k) => `--${flagName(k)}`).join(', ')})`,
    );
  }
  if (strict && keySources.length === 0) {
    problems.push(
      `${v.env} needs client token verification: set --jwt-secret (AGENTCAST_JWT_SECRET), --jwt-public-key, --jwks or --jwks-url`,
    );
  }
  if (v.jwksUrl !== undefined)
    checkJwksUrl(String(v.jwksUrl), v.env === 'development' || v.env === 'test', problems);
  const apiKeys = apiKeyList(v.apiKey as string | undefined);
  for (const [i, key] of apiKeys.entries()) {
    if (strict && key.length < 16) {
      const which = apiKeys.length === 1 ? '--api-key' : `--api-key[${i}]`;
      problems.push(`${which} "[redacted]": must be at least 16 characters in ${v.env}`);
    }
  }
  if (strict && apiKeyList(v.apiKey as string | undefined).length === 0) {
    problems.push(`${v.env} needs an API key for /v1/*: set --api-key (AGENTCAST_API_KEY)`);
  }
  if (typeof v.jwtSecret === 'string' && v.env === 'production' && v.jwtSecret.length < 32) {
    problems.push('--jwt-secret "[redacted]": must be at least 32 characters in production');
  }
  if (strict && v.demo === true) problems.push(`--demo is for development only; remove it in ${v.env}`);
  if (Number(v.httpHeadersTimeoutMs) > Number(v.httpRequestTimeoutMs)) {
    problems.push(
      `--http-headers-timeout-ms ${v.httpHeadersTimeoutMs} must not exceed --http-request-timeout-ms ${v.httpRequestTimeoutMs} (the request timeout covers the headers too)`,
    );
  }
  if (v.agentUrl !== undefined) {
    try {
      const url = new URL(String(v.agentUrl));
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        problems.push(`--agent-url "${v.agentUrl}": must be http:// or https://`);
    } catch {
      problems.push(`--agent-url "${v.agentUrl}": not a URL`);
    }
    if (v.agentSecret === undefined)
      problems.push('--agent-url needs --agent-secret (AGENTCAST_AGENT_SECRET) to sign requests');
  }
}

/**
 * `--jwks-url`: an http(s) URL; https:// outside development and test, since keys fetched in clear text
 * could be swapped by anyone on the path, who could then sign any user's token.
 */
function checkJwksUrl(value: string, local: boolean, problems: string[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`--jwks-url "${value}": not a URL`);
    return;
  }
  if (url.protocol === 'https:' || (local && url.protocol === 'http:')) return;
  problems.push(
    local
      ? `--jwks-url "${value}": must be http:// or https://`
      : `--jwks-url "${value}": must be https:// outside development and test (keys fetched in clear text could be replaced)`,
  );
}

/** Loads the config of this process: its flags and `AGENTCAST_*` environment. The only reader of process.env. */
export function loadConfigFromProcess(argv: readonly string[]): Config {
  return loadConfig({ argv, env: process.env });
}
