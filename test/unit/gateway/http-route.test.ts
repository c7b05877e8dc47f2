import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpMethodLabel, httpRoute, requestPath } from '../../../packages/server/src/gateway/http-route.js';

describe('httpRoute', () => {
  it.each([
    ['/healthz', '/healthz'],
    ['/readyz', '/readyz'],
    ['/metrics', '/metrics'],
    ['/v1/publish', '/v1/publish'],
    ['/v1/events', '/v1/events'],
    ['/v1/users/alice/history', '/v1/users/:user_id/history'],
    ['/v1/users/%E2%9C%93/runs', '/v1/users/:user_id/runs'],
    ['/v1/users/alice/presence', '/v1/users/:user_id/presence'],
    ['/v1/users/alice/disconnect', '/v1/users/:user_id/disconnect'],
    ['/v1/runs/run-1/cancel', '/v1/runs/:run_id/cancel'],
    ['/v1/ai-sdk/chat', '/v1/ai-sdk/chat'],
    ['/v1/ai-sdk/chat/chat-1/stream', '/v1/ai-sdk/chat/:chat_id/stream'],
    ['/v1/ai-sdk/chat/chat-1/cancel', '/v1/ai-sdk/chat/:chat_id/cancel'],
    ['/v1/runs', '/v1/runs'],
    ['/v1/runs/run-1', '/v1/runs/:run_id'],
    ['/v1/approvals', '/v1/approvals'],
    ['/v1/approvals/ap-1', '/v1/approvals/:approval_id'],
    ['/v1/tickets', '/v1/tickets'],
    ['/v1/messages', '/v1/messages'],
    ['/v1/openapi.json', '/v1/openapi.json'],
    ['/demo/token', '/demo/token'],
  ])('names %s by its template %s', (path, route) => {
    expect(httpRoute(path)).toBe(route);
  });

  it.each([
    '/v1/users/alice/history/extra',
    '/v1/users//history',
    '/v1/users/alice',
    '/v1/runs/r1/cancel/now',
    '/v1/ai-sdk/chat/c1/other',
    '/v1/approvals/ap-1/extra',
    '/v1/openapi.yaml',
    '/wp-login.php',
    '/app.js',
    '/HEALTHZ',
    `/${'a'.repeat(5000)}`,
  ])('folds %s into "other", so scanners cannot grow the label set', (path) => {
    expect(httpRoute(path)).toBe('other');
  });

  it('keeps the known methods and folds the rest', () => {
    expect(['GET', 'POST', 'HEAD', 'OPTIONS'].map(httpMethodLabel)).toEqual([
      'GET',
      'POST',
      'HEAD',
      'OPTIONS',
    ]);
    expect(['BREW', 'get', undefined].map(httpMethodLabel)).toEqual(['other', 'other', 'other']);
  });
});

describe('requestPath', () => {
  // The WHATWG pathname; a target the parser refuses keeps its path part (no route has it: a 404).
  const whatwg = (target: string) => {
    try {
      return new URL(target, 'http://localhost').pathname;
    } catch {
      return target.split('?')[0];
    }
  };

  it.each([
    '/v1/publish',
    '/v1/publish?x=1',
    '/v1/users/alice/history?after=3#x',
    '//evil.example/v1/publish',
    '/v1/../publish',
    '/v1/./publish',
    '/v1/%2e%2e/publish',
    '/v1\\publish',
    '/v1/pub lish',
    '/v1/openapi.json',
    'http://other/v1/publish?q',
    '/caf\u00e9',
    '',
    '?',
    '/',
  ])('gives %j the pathname the WHATWG parser gives', (target) => {
    expect(requestPath(target)).toBe(whatwg(target));
  });

  it('gives every target the pathname the WHATWG parser gives', () => {
    // Targets built from the characters that change a parse: dots, slashes, backslashes, escapes, query, hash.
    const part = fc.constantFrom(
      '/',
      '//',
      '.',
      '..',
      '\\',
      '%2e',
      '%2F',
      '?',
      '#',
      'a',
      'v1',
      '-',
      '_',
      ' ',
      '\t',
      '\u00e9',
      ':',
      '@',
    );
    const target = fc.oneof(
      fc.array(part, { maxLength: 12 }).map((parts) => parts.join('')),
      fc.string({ maxLength: 30 }),
      fc.string({ maxLength: 30 }).map((s) => `/${s}`),
    );
    fc.assert(
      fc.property(target, (t) => {
        expect(requestPath(t)).toBe(whatwg(t));
      }),
      { numRuns: 5000 },
    );
  });

  it('does not throw on a target the WHATWG parser refuses', () => {
    expect(requestPath('//')).toBe('//');
    expect(requestPath('//[?x')).toBe('//[');
  });

  it('reads an absent target as /', () => {
    expect(requestPath(undefined)).toBe('/');
  });
});
