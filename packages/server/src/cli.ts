#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { signToken } from './auth/dev-token.js';
import { helpText } from './config/help-text.js';
import { loadConfigFromProcess } from './config/load-config.js';
import { createGateway, type Gateway, type GatewayAddresses } from './gateway/gateway.js';
import { createLogger } from './observability/logger.js';
import { AgentcastError, AgentcastErrorCode } from './protocol/agentcast-error.js';

/** Exit codes: 0 clean (also after a drain), 1 crash, 2 invalid configuration or usage. */
const EXIT_CONFIG = 2;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'token' && wantsHelp(rest)) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  if (command === undefined || command === 'help' || wantsHelp(argv)) {
    process.stdout.write(helpText());
    return command === undefined ? EXIT_CONFIG : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'token') return token(rest);
  process.stderr.write(`agentcast: unknown command "${command}"; try agentcast --help\n`);
  return EXIT_CONFIG;
}

function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** `agentcast token --help`. */
const TOKEN_HELP = [
  'Usage: agentcast token <user> --jwt-secret <secret> [--ttl-s <seconds>] [--jwt-issuer <iss>] [--jwt-audience <aud>]',
  '',
  'Prints a client JWT (HS256) for <user>, signed with the secret the gateway verifies with.',
  '',
  "  --jwt-secret <secret>   the gateway's --jwt-secret             env AGENTCAST_JWT_SECRET",
  '  --ttl-s <seconds>       how long the token is valid [default: 3600]',
  '  --jwt-issuer <iss>      the `iss` claim, when the gateway requires one  env AGENTCAST_JWT_ISSUER',
  '  --jwt-audience <aud>    the `aud` claim, when the gateway requires one  env AGENTCAST_JWT_AUDIENCE',
  '',
  'Example: npx agentcast token alice --jwt-secret "$AGENTCAST_JWT_SECRET" --ttl-s 600',
  '',
].join('\n');

/** Prints what the config loader found odd but not wrong (an unknown AGENTCAST_* variable). */
function warn(message: string): void {
  process.stderr.write(`agentcast: warning: ${message}\n`);
}

/** The version of @agentcast/server: its package.json sits one folder above src/ and dist/ alike. */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

async function serve(args: readonly string[]): Promise<number> {
  const config = loadConfigFromProcess(args, warn);
  const gateway = createGateway(config, { log: createLogger({ level: config.logLevel, sync: true }) });
  // Before listening: a signal sent as soon as "gateway listening" is read must find its handler (the
  // reader can be scheduled before this process runs another line).
  const drained = drainOnSignal(gateway);
  const address = await gateway.listen();
  if (gateway.devSecret !== undefined) await printDevToken(gateway.devSecret, address, config.demo);
  await drained;
  return 0;
}

/** Resolves once a SIGTERM or SIGINT drained the gateway; a second signal exits at once. */
function drainOnSignal(gateway: Gateway): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        gateway.log.warn({ signal }, 'second signal: exiting without waiting for the drain');
        process.exit(1);
      }
      gateway.log.info({ signal }, 'signal received; draining');
      gateway.drain().then(resolve, (err: unknown) => {
        gateway.log.error({ err }, 'drain failed');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** The development banner: a token for the user `demo` signed with the generated secret. */
async function printDevToken(secret: string, address: GatewayAddresses, demo: boolean): Promise<void> {
  const base = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const devToken = await signToken(secret, 'demo', 24 * 3600);
  process.stderr.write(
    [
      '',
      '  *** DEVELOPMENT ONLY: no --jwt-secret was given, so a random one was generated. ***',
      '  *** Tokens below stop working when this process exits. Never run like this in production. ***',
      '',
      `  dev token for user "demo" (24 h):`,
      `  ${devToken}`,
      '',
      `  try: websocat -H 'Authorization: Bearer <token>' ${base.replace('http', 'ws')}/ws`,
      demo ? `  demo page: ${base}/` : '',
      '',
    ].join('\n'),
  );
}

async function token(args: readonly string[]): Promise<number> {
  const [userId, ...rest] = args;
  if (userId === undefined || userId.startsWith('--')) {
    process.stderr.write(`agentcast: a user id is needed\n${TOKEN_HELP}`);
    return EXIT_CONFIG;
  }
  const ttlIndex = rest.indexOf('--ttl-s');
  const ttlText = ttlIndex === -1 ? '3600' : (rest[ttlIndex + 1] ?? '');
  const ttl = /^\d+$/.test(ttlText) ? Number(ttlText) : Number.NaN;
  const flags = ttlIndex === -1 ? rest : rest.filter((_, i) => i !== ttlIndex && i !== ttlIndex + 1);
  const config = loadConfigFromProcess(flags, warn);
  // The same shape as every configuration problem (config/load-config.ts): where, value, what, fix.
  const problems = [
    ...(config.jwtSecret === undefined
      ? [
          '--jwt-secret: needed to sign the token; pass the secret the gateway verifies with (or set AGENTCAST_JWT_SECRET)',
        ]
      : []),
    ...(Number.isSafeInteger(ttl) && ttl > 0
      ? []
      : [`--ttl-s "${ttlText}": must be a positive whole number of seconds`]),
  ];
  if (config.jwtSecret === undefined || problems.length > 0) {
    process.stderr.write(`agentcast: invalid configuration:\n  - ${problems.join('\n  - ')}\n`);
    return EXIT_CONFIG;
  }
  const claims = {
    ...(config.jwtIssuer ? { iss: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { aud: config.jwtAudience } : {}),
  };
  process.stdout.write(`${await signToken(config.jwtSecret, userId, ttl, claims)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof AgentcastError && err.code === AgentcastErrorCode.ConfigInvalid) {
      process.stderr.write(`agentcast: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`agentcast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
