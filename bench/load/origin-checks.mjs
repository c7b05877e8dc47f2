import { pathToFileURL } from 'node:url';
import { serveRpc } from '../lib/worker-rpc.mjs';

/**
 * Micro-benchmark of agentcast's OriginPolicy.check (packages/server/dist/security/origin-policy.js), in its own process:
 * a production policy with an exact and a wildcard entry, fed a fixed mix of allowed, refused and malformed
 * headers. Bounded by time and by count.
 */
const HEADERS = [
  'https://app.example.com',
  'https://a.b.example.com',
  'https://evil-example.com',
  'https://example.com.evil.net',
  'https://APP.example.com:443/',
  'null',
  'https://app.example.com/path',
  undefined,
];

async function run({ distDir, durationMs = 2000, maxChecks = 50_000_000 }) {
  const { OriginPolicy } = await import(pathToFileURL(`${distDir}/security/origin-policy.js`).href);
  const policy = new OriginPolicy({
    env: 'production',
    origins: ['https://app.example.com', 'https://*.example.com'],
  });
  let allowed = 0;
  // Warm up so the figure is for optimised code.
  for (let i = 0; i < 200_000; i++) if (policy.check(HEADERS[i % HEADERS.length]).ok) allowed++;
  allowed = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(durationMs) * 1_000_000n;
  let checks = 0;
  while (checks < maxChecks) {
    for (let i = 0; i < 10_000; i++) if (policy.check(HEADERS[i % HEADERS.length]).ok) allowed++;
    checks += 10_000;
    if (process.hrtime.bigint() >= deadline) break;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    checks,
    seconds,
    checksPerSecond: checks / seconds,
    allowedShare: allowed / checks,
    mix: HEADERS.map(String),
  };
}

serveRpc({ run });
