import { describe, expect, it } from 'vitest';
import type { Environment } from '../../../packages/server/src/security/default-origins.js';
import { TUNNEL_HOST_SUFFIXES, tunnelDomainOf } from '../../../packages/server/src/security/tunnel-hosts.js';
import {
  analyzeOriginEntries,
  validateOriginEntries,
} from '../../../packages/server/src/security/validate-origin-entries.js';

const prod = { env: 'production', allowInsecureOrigins: false } as const;

describe('validateOriginEntries', () => {
  it('accepts a clean production list', () => {
    expect(
      validateOriginEntries(
        ['https://app.example.com', 'https://*.example.com:*', 'https://bücher.example'],
        prod,
      ),
    ).toEqual([]);
  });

  it.each<[string, string]>([
    [
      'http://app.io',
      'origins[0] "http://app.io": http:// refused in production; use https:// or set --allow-insecure-origins',
    ],
    [
      'http://*.app.io',
      'origins[0] "http://*.app.io": http:// refused in production; use https:// or set --allow-insecure-origins',
    ],
    [
      'https://203.0.113.7',
      'origins[0] "https://203.0.113.7": IP-literal host refused in production; use a DNS name or set --allow-insecure-origins',
    ],
    [
      'https://[2001:db8::1]:*',
      'origins[0] "https://[2001:db8::1]:*": IP-literal host refused in production; use a DNS name or set --allow-insecure-origins',
    ],
    [
      'https://localhost:8443',
      'origins[0] "https://localhost:8443": localhost refused in production; use your public domain or set --allow-insecure-origins',
    ],
    [
      'https://app.localhost',
      'origins[0] "https://app.localhost": localhost refused in production; use your public domain or set --allow-insecure-origins',
    ],
    [
      'https://*.localhost',
      'origins[0] "https://*.localhost": localhost refused in production; use your public domain or set --allow-insecure-origins',
    ],
    [
      'https://abc123.ngrok-free.app',
      'origins[0] "https://abc123.ngrok-free.app": tunnel host (ngrok-free.app) refused in production; use your own domain or set --allow-insecure-origins',
    ],
    [
      'https://*.ngrok.io',
      'origins[0] "https://*.ngrok.io": tunnel host (ngrok.io) refused in production; use your own domain or set --allow-insecure-origins',
    ],
    [
      'https://loca.lt',
      'origins[0] "https://loca.lt": tunnel host (loca.lt) refused in production; use your own domain or set --allow-insecure-origins',
    ],
    [
      'https://x.trycloudflare.com',
      'origins[0] "https://x.trycloudflare.com": tunnel host (trycloudflare.com) refused in production; use your own domain or set --allow-insecure-origins',
    ],
  ])('refuses %s in production', (entry, message) => {
    expect(validateOriginEntries([entry], prod)).toEqual([message]);
    expect(validateOriginEntries([entry], { ...prod, allowInsecureOrigins: true })).toEqual([]);
    expect(validateOriginEntries([entry], { ...prod, env: 'staging' })).toEqual([]);
  });

  it('reports every rule an entry breaks, one message each', () => {
    expect(validateOriginEntries(['http://127.0.0.1:*'], prod)).toEqual([
      'origins[0] "http://127.0.0.1:*": http:// refused in production; use https:// or set --allow-insecure-origins',
      'origins[0] "http://127.0.0.1:*": IP-literal host refused in production; use a DNS name or set --allow-insecure-origins',
    ]);
    expect(validateOriginEntries(['http://localhost:3000'], prod)).toHaveLength(2);
  });

  it.each<[Environment, string[]]>([
    ['development', []],
    [
      'test',
      [
        'origins[0] "*": "*" allows every origin and is refused in test (allowed only in development); list the origins',
      ],
    ],
    [
      'staging',
      [
        'origins[0] "*": "*" allows every origin and is refused in staging (allowed only in development); list the origins',
      ],
    ],
    [
      'production',
      [
        'origins[0] "*": "*" allows every origin and is refused in production (allowed only in development); list the origins',
      ],
    ],
  ])('"*" in %s', (env, problems) => {
    expect(validateOriginEntries(['*'], { env, allowInsecureOrigins: false })).toEqual(problems);
    // allowInsecureOrigins never admits "*".
    expect(validateOriginEntries(['*'], { env, allowInsecureOrigins: true })).toEqual(problems);
  });

  it.each<Environment>(['development', 'test', 'staging', 'production'])(
    'refuses malformed entries in %s',
    (env) => {
      expect(
        validateOriginEntries(['https://app.example.com/', 'app.example.com', 'https://*.com'], {
          env,
          allowInsecureOrigins: true,
        }),
      ).toEqual([
        'origins[1] "app.example.com": not an origin; expected scheme://host[:port], e.g. https://app.example.com, http://localhost:3000, http://localhost:*, https://*.example.com',
        'origins[2] "https://*.com": "*.com" would allow a whole top-level domain; name your domain: https://*.example.com',
      ]);
    },
  );

  it('names the list with the label given, quotes control characters and shortens long entries', () => {
    expect(validateOriginEntries(['x', 'https://a\nb'], { ...prod, label: 'AGENTCAST_ORIGINS' })).toEqual([
      expect.stringMatching(/^AGENTCAST_ORIGINS\[0\] "x": not an origin/),
      expect.stringMatching(/^AGENTCAST_ORIGINS\[1\] "https:\/\/a\\nb": contains whitespace/),
    ]);
    const [message] = validateOriginEntries([`https://${'a'.repeat(300)}`], prod);
    expect(message).toBe(`origins[0] "https://${'a'.repeat(72)}…": longer than 253 characters`);
    const [exact80] = validateOriginEntries([`ftp://${'a'.repeat(74)}`], prod);
    expect(exact80).toBe(
      `origins[0] "ftp://${'a'.repeat(74)}": scheme must be http:// or https:// (browsers send the page origin, never ws://, file:// …)`,
    );
  });

  it('returns the parsed patterns alongside the problems', () => {
    const analyzed = analyzeOriginEntries(['https://a.example.com', 'bad'], prod);
    expect(analyzed.patterns.map((p) => p.source)).toEqual(['https://a.example.com']);
    expect(analyzed.problems).toHaveLength(1);
  });
});

describe('tunnelDomainOf', () => {
  it.each<[string, string | undefined]>([
    ['ngrok.io', 'ngrok.io'],
    ['abc.ngrok.io', 'ngrok.io'],
    ['a.b.ngrok-free.app', 'ngrok-free.app'],
    ['x.loca.lt', 'loca.lt'],
    ['x.lhr.life', 'lhr.life'],
    ['foo-3000.app.github.dev', 'app.github.dev'],
    ['evilngrok.io', undefined],
    ['ngrok.io.example.com', undefined],
    ['github.dev', undefined],
    ['example.com', undefined],
  ])('%s -> %s', (host, expected) => {
    expect(tunnelDomainOf(host)).toBe(expected);
  });

  it('lists each domain once, in lower case, each a valid DNS name', () => {
    expect(new Set(TUNNEL_HOST_SUFFIXES).size).toBe(TUNNEL_HOST_SUFFIXES.length);
    for (const suffix of TUNNEL_HOST_SUFFIXES) expect(suffix).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/);
  });
});
