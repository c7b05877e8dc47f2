import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { Config } from '../../../packages/server/src/config/config.js';
import { loadConfig } from '../../../packages/server/src/config/load-config.js';
import { envName, OPTION_SPECS } from '../../../packages/server/src/config/options.js';

/**
 * deploy/ checked statically (issue 19, "Deploy"): what could not be run here (no Docker daemon, no
 * Kubernetes cluster) is parsed, and every port, path, probe, timeout and flag is checked against the
 * CLI's option table (OPTION_SPECS, loadConfig) and against the other files. docs/deploy.md says which
 * parts were run for real. deploy/nginx.conf runs for real in test/integration/deploy/nginx.test.ts.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Every `AGENTCAST_*` variable the loader reads. */
const KNOWN_ENV = new Set(OPTION_SPECS.map((spec) => envName(spec.key)));
/** How long closing connections get after the drain (gateway.ts CLOSE_GRACE_MS), plus a margin. */
const CLOSE_GRACE_S = 2;
/** Stand-ins for the secrets manifests take from elsewhere (a Secret, a .env file). */
const SECRETS: Record<string, string> = {
  AGENTCAST_JWT_SECRET: 's'.repeat(64),
  AGENTCAST_API_KEY: 'k'.repeat(48),
  AGENTCAST_REDIS_URL: 'redis://redis:6379',
};

/**
 * The gateway's config from a manifest's `serve` arguments and environment, as the CLI would load it:
 * unknown flags, bad values and unsafe production settings throw here as they would exit 2 there.
 */
function configOf(args: readonly string[], env: Record<string, string>): Config {
  expect(args[0]).toBe('serve');
  for (const name of Object.keys(env).filter((n) => n.startsWith('AGENTCAST_')))
    expect(KNOWN_ENV, `${name} is not an option's variable`).toContain(name);
  return loadConfig({ argv: args.slice(1), env: { ...SECRETS, ...env } });
}

/** Seconds a node may take from SIGTERM to exit: drain delay + drain timeout + close grace. */
const stopSeconds = (config: Config): number =>
  (config.drainDelayMs + config.drainTimeoutMs) / 1000 + CLOSE_GRACE_S;

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerInstructions(text: string): { readonly op: string; readonly arg: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), arg: rest.join(' ') };
    });
}

describe('deploy/Dockerfile', () => {
  const steps = dockerInstructions(read('deploy/Dockerfile'));
  const last = (op: string) => steps.filter((s) => s.op === op).at(-1)?.arg ?? '';
  const runtime = steps.slice(steps.findLastIndex((s) => s.op === 'FROM'));
  const env = Object.fromEntries(
    runtime
      .filter((s) => s.op === 'ENV')
      .flatMap((s) => [...s.arg.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string])),
  );
  const cmd = JSON.parse(last('CMD')) as string[];
  const config = configOf(cmd, env);

  it('is multi-stage from node:20-slim, and its runtime stage runs as a non-root user', () => {
    const froms = steps.filter((s) => s.op === 'FROM').map((s) => s.arg.split(/\s+/)[0]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(new Set(froms)).toEqual(new Set(['node:20-slim']));
    const user = runtime.filter((s) => s.op === 'USER').at(-1)?.arg;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  it('runs node itself in exec form (SIGTERM reaches the gateway), on 0.0.0.0, the exposed port', () => {
    const entrypoint = JSON.parse(last('ENTRYPOINT')) as string[];
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint[1]).toMatch(/^\/app\/node_modules\/@agentcast\/server\/dist\/cli\.js$/);
    // The package ships dist/ (built from src/cli.ts) and the runtime stage installs it under /app.
    expect(JSON.parse(read('packages/server/package.json')).files).toContain('dist');
    expect(existsSync(join(ROOT, 'packages/server/src/cli.ts'))).toBe(true);
    expect(last('STOPSIGNAL') || 'SIGTERM').toBe('SIGTERM');
    expect(config).toMatchObject({ env: 'production', host: '0.0.0.0' });
    expect(last('EXPOSE')).toBe(String(config.port));
  });

  it('checks health with /healthz on the port it serves, in exec form', () => {
    const healthcheck = last('HEALTHCHECK');
    const exec = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim()) as string[];
    expect(exec[0]).toBe('node');
    expect(exec.join(' ')).toContain(`http://127.0.0.1:${config.port}/healthz`);
  });

  it('copies only paths that exist, from the repository root', () => {
    for (const step of steps.filter((s) => s.op === 'COPY' && !s.arg.startsWith('--from'))) {
      const sources = step.arg.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
  });
});

describe('deploy/compose.yaml', () => {
  // Compose resolves `<<: *gateway` merge keys (YAML 1.1); so does this parse.
  const compose = parse(read('deploy/compose.yaml'), { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
  };
  const services = compose.services;
  const gateways = Object.entries(services).filter(([name]) => name.startsWith('gateway-'));
  /** `${VAR:?message}` and `${VAR:-default}`: the default, or a stand-in for a required secret. */
  const interpolate = (env: Record<string, string>): Record<string, string> =>
    Object.fromEntries(
      Object.entries(env).map(([name, value]) => [
        name,
        String(value).replace(
          /\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}/g,
          (_, v: string, d?: string) => d ?? SECRETS[v] ?? 'x',
        ),
      ]),
    );

  it('has Redis, two gateways built from deploy/Dockerfile, and nginx', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway-a', 'gateway-b', 'nginx', 'redis']);
    for (const [, gateway] of gateways) {
      const build = gateway.build as { context: string; dockerfile: string };
      expect(existsSync(join(resolve(ROOT, 'deploy', build.context), build.dockerfile))).toBe(true);
    }
  });

  it('starts each gateway with flags the CLI accepts, distinct server ids, Redis, and nginx trusted', () => {
    const ids = gateways.map(([name, gateway]) => {
      const config = configOf(
        gateway.command as string[],
        interpolate(gateway.environment as Record<string, string>),
      );
      expect(config.redis).toBe('redis://redis:6379');
      expect(new URL(config.redis ?? '').hostname).toBe('redis');
      expect(config.trustProxy).toEqual(['private']);
      expect(config.proxyHeader).toBe('x-forwarded-for');
      expect(config.host).toBe('0.0.0.0');
      // Docker SIGKILLs a container after stop_grace_period: it must outlast the drain.
      expect(Number.parseInt(String(gateway.stop_grace_period), 10), name).toBeGreaterThan(
        stopSeconds(config),
      );
      return config.serverId;
    });
    expect(new Set(ids).size).toBe(gateways.length);
  });

  it('mounts deploy/nginx.conf, whose upstream servers are the gateways on their port', () => {
    expect(services.nginx?.volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    const upstreams = [...read('deploy/nginx.conf').matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    const expected = gateways.map(([name, gateway]) => {
      const config = configOf(
        gateway.command as string[],
        interpolate(gateway.environment as Record<string, string>),
      );
      return [name, String(config.port)];
    });
    expect(upstreams).toEqual(expected);
  });
});

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf');
  const location = (path: string): string => {
    const start = conf.indexOf(`location = ${path} {`);
    expect(start, `location = ${path}`).toBeGreaterThan(-1);
    return conf.slice(start, conf.indexOf('}', start));
  };
  const seconds = (block: string, directive: string): number =>
    Number(new RegExp(`${directive}\\s+(\\d+)s;`).exec(block)?.[1]);
  const heartbeatS = loadConfig({}).heartbeatMs / 1000;

  it('upgrades WebSockets on /ws with read and send timeouts above the heartbeat', () => {
    const ws = location('/ws');
    expect(ws).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(ws).toContain('proxy_set_header Connection $connection_upgrade;');
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*'' close;\s*\}/);
    expect(conf).toContain('proxy_http_version 1.1;');
    expect(seconds(ws, 'proxy_read_timeout')).toBeGreaterThan(2 * heartbeatS);
    expect(seconds(ws, 'proxy_send_timeout')).toBeGreaterThan(2 * heartbeatS);
  });

  it('streams /v1/events (SSE) unbuffered, and retries a refusing node for reconnects', () => {
    const sse = location('/v1/events');
    expect(sse).toContain('proxy_buffering off;');
    expect(sse).toContain('proxy_cache off;');
    expect(seconds(sse, 'proxy_read_timeout')).toBeGreaterThan(2 * heartbeatS);
    const next = /proxy_next_upstream\s+([^;]+);/.exec(conf)?.[1]?.split(/\s+/) ?? [];
    expect(next).toEqual(expect.arrayContaining(['error', 'timeout', 'http_503']));
    // A POST that reached a node is never replayed on another (a publish stored twice).
    expect(next).not.toContain('non_idempotent');
    expect(conf).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
  });
});

describe('deploy/kubernetes', () => {
  type Doc = {
    kind: string;
    metadata: { name: string; annotations?: Record<string, string> };
    spec: Record<string, unknown>;
  };
  const docs: Doc[] = ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'ingress.yaml'].flatMap((file) =>
    parseAllDocuments(read(`deploy/kubernetes/${file}`)).map((doc) => {
      expect(doc.errors, file).toEqual([]);
      return doc.toJS() as Doc;
    }),
  );
  const of = (kind: string): Doc[] => docs.filter((d) => d.kind === kind);
  const deployment = of('Deployment')[0] as Doc;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, read field by field and checked below
  const pod = (deployment.spec as any).template;
  const container = pod.spec.containers[0];
  const env: Record<string, string> = Object.fromEntries(
    (container.env as { name: string; value?: string }[]).map((e) => [
      e.name,
      e.value ?? SECRETS[e.name] ?? 'pod-0',
    ]),
  );
  const config = configOf(container.args as string[], env);
  const portOf = (name: string): number | undefined =>
    (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === name)
      ?.containerPort;

  it('has a Deployment, a Service, a PodDisruptionBudget and two Ingresses', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual([
      'Deployment',
      'Ingress',
      'Ingress',
      'PodDisruptionBudget',
      'Service',
    ]);
  });

  it('runs the gateway with flags the CLI accepts, on the ports it declares, as non-root', () => {
    expect(config).toMatchObject({ env: 'production', host: '0.0.0.0' });
    expect(portOf('http')).toBe(config.port);
    expect(portOf('metrics')).toBe(config.metricsPort);
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('probes readiness on /readyz and liveness on /healthz; readiness fails within the drain delay', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    const { periodSeconds, failureThreshold } = container.readinessProbe;
    expect(periodSeconds * failureThreshold).toBeLessThan(config.drainDelayMs / 1000);
  });

  it('gives the pod longer than preStop plus the whole drain before SIGKILL', () => {
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const preStopS = Number(preStop[1]);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopS + stopSeconds(config));
  });

  it('selects the pods in the Service and the PodDisruptionBudget; the Ingresses route to the Service', () => {
    const labels = pod.metadata.labels as Record<string, string>;
    const service = of('Service')[0] as Doc;
    const selected = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(selected(service.spec.selector as Record<string, string>)).toBe(true);
    const pdb = of('PodDisruptionBudget')[0] as Doc;
    expect(selected((pdb.spec.selector as { matchLabels: Record<string, string> }).matchLabels)).toBe(true);
    const servicePorts = (service.spec.ports as { name: string; targetPort: string }[]).map((p) => {
      expect(portOf(p.targetPort), p.targetPort).toBeDefined();
      return p.name;
    });
    const paths: string[] = [];
    for (const ingress of of('Ingress')) {
      // biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, read field by field and checked below
      for (const rule of (ingress.spec as any).rules)
        for (const path of rule.http.paths) {
          expect(path.backend.service.name).toBe(service.metadata.name);
          expect(servicePorts).toContain(path.backend.service.port.name);
          paths.push(path.path);
        }
    }
    expect(paths).toEqual(expect.arrayContaining(['/ws', '/v1/events']));
  });

  it('sets Ingress timeouts above the heartbeat, and unbuffered SSE', () => {
    const heartbeatS = config.heartbeatMs / 1000;
    for (const ingress of of('Ingress')) {
      const annotations = ingress.metadata.annotations ?? {};
      expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(
        2 * heartbeatS,
      );
    }
    const events = of('Ingress').find((i) => JSON.stringify(i.spec).includes('/v1/events')) as Doc;
    const annotations = events.metadata.annotations ?? {};
    expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
  });
});

describe('deploy/systemd/agentcast.service', () => {
  const unit = read('deploy/systemd/agentcast.service');
  const value = (key: string): string => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1] ?? '';
  const [node, cli, ...args] = value('ExecStart').split(/\s+/);

  it('runs node on the packaged CLI with flags the CLI accepts, stopping after the whole drain', () => {
    expect(node).toBe('/usr/bin/node');
    expect(cli).toMatch(/\/node_modules\/@agentcast\/server\/dist\/cli\.js$/);
    const config = configOf(args, {
      AGENTCAST_ENV: 'production',
      AGENTCAST_ORIGINS: 'https://app.example.com',
    });
    expect(config.trustProxy).toEqual(['loopback']);
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(value('KillMode')).toBe('mixed');
    expect(Number(value('TimeoutStopSec'))).toBeGreaterThan(stopSeconds(config));
    expect(['', 'root', '0']).not.toContain(value('User'));
  });

  it('passes systemd-analyze verify (when systemd is here)', (ctx) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
      console.warn('\n*** SKIPPING systemd-analyze verify: no systemd-analyze here. ***\n');
      return ctx.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'agentcast-unit-'));
    try {
      const path = join(dir, 'agentcast.service');
      // The node binary of this machine, wherever it lives: verify checks that ExecStart is executable.
      writeFileSync(path, unit.replace('/usr/bin/node', process.execPath));
      const result = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
      expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
