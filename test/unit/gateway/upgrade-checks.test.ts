import { type IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  checkCapacity,
  checkRequest,
  offeredSubprotocols,
  resumeFromQuery,
} from '../../../packages/server/src/gateway/upgrade-checks.js';

/** A real IncomingMessage carrying only the given headers (no I/O happens on its socket). */
function upgradeRequest(headers: IncomingHttpHeaders = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

const wsUrl = (query = ''): URL => new URL(`/ws${query}`, 'http://localhost');

describe('checkCapacity', () => {
  it.each([
    { draining: false, connections: 0, maxConnections: 1, expected: null },
    { draining: false, connections: 9, maxConnections: 10, expected: null },
    { draining: false, connections: 10, maxConnections: 10, expected: 'at_capacity' },
    { draining: false, connections: 11, maxConnections: 10, expected: 'at_capacity' },
    { draining: true, connections: 0, maxConnections: 10, expected: 'draining' },
    { draining: true, connections: 10, maxConnections: 10, expected: 'draining' },
  ])('draining=$draining, $connections of $maxConnections -> $expected', ({ expected, ...state }) => {
    const rejection = checkCapacity(state);
    if (expected === null) {
      expect(rejection).toBeNull();
    } else {
      expect(rejection).toMatchObject({ status: 503, reason: expected, headers: { 'Retry-After': '1' } });
    }
  });
});

describe('offeredSubprotocols', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['agentcast.v1', ['agentcast.v1']],
    ['agentcast.v1, bearer.a.b.c', ['agentcast.v1', 'bearer.a.b.c']],
    [' agentcast.v1 ,, graphql-ws ,', ['agentcast.v1', 'graphql-ws']],
  ])('splits %j into %j', (header, expected) => {
    expect(
      offeredSubprotocols(upgradeRequest(header === undefined ? {} : { 'sec-websocket-protocol': header })),
    ).toEqual(expected);
  });
});

describe('checkRequest', () => {
  it.each([
    { name: 'no subprotocol and no query', headers: {}, query: '' },
    { name: 'agentcast.v1', headers: { 'sec-websocket-protocol': 'agentcast.v1' }, query: '' },
    { name: 'only bearer.<jwt>', headers: { 'sec-websocket-protocol': 'bearer.a.b.c' }, query: '' },
    { name: 'since=0', headers: {}, query: '?since=0' },
    { name: 'since of 15 digits and an epoch', headers: {}, query: `?since=${'9'.repeat(15)}&epoch=e_x` },
    { name: 'an epoch of 128 characters', headers: {}, query: `?epoch=${'e'.repeat(128)}` },
  ])('accepts $name', ({ headers, query }) => {
    expect(checkRequest(upgradeRequest(headers), wsUrl(query))).toBeNull();
  });

  it.each([
    {
      name: 'only a foreign subprotocol',
      headers: { 'sec-websocket-protocol': 'graphql-ws' },
      query: '',
      reason: 'bad_subprotocol',
    },
    {
      name: 'agentcast.v1 in capitals',
      headers: { 'sec-websocket-protocol': 'AGENTCAST.V1' },
      query: '',
      reason: 'bad_subprotocol',
    },
    { name: 'since=abc', headers: {}, query: '?since=abc', reason: 'bad_since' },
    { name: 'since=-1', headers: {}, query: '?since=-1', reason: 'bad_since' },
    { name: 'since=1e3', headers: {}, query: '?since=1e3', reason: 'bad_since' },
    { name: 'an empty since', headers: {}, query: '?since=', reason: 'bad_since' },
    { name: 'since of 16 digits', headers: {}, query: `?since=${'9'.repeat(16)}`, reason: 'bad_since' },
    { name: 'since with a Unicode digit', headers: {}, query: '?since=%D9%A1', reason: 'bad_since' },
    { name: 'an empty epoch', headers: {}, query: '?epoch=', reason: 'bad_epoch' },
    {
      name: 'an epoch of 129 characters',
      headers: {},
      query: `?epoch=${'e'.repeat(129)}`,
      reason: 'bad_epoch',
    },
    {
      name: 'a bad subprotocol and a bad since (the subprotocol is reported)',
      headers: { 'sec-websocket-protocol': 'graphql-ws' },
      query: '?since=x',
      reason: 'bad_subprotocol',
    },
  ])('refuses $name with 400 $reason', ({ headers, query, reason }) => {
    expect(checkRequest(upgradeRequest(headers), wsUrl(query))).toMatchObject({ status: 400, reason });
  });
});

describe('resumeFromQuery', () => {
  it.each([
    ['', { since: undefined, epoch: undefined }],
    ['?since=42', { since: 42, epoch: undefined }],
    ['?since=0&epoch=e_abc', { since: 0, epoch: 'e_abc' }],
    ['?epoch=e_abc', { since: undefined, epoch: 'e_abc' }],
  ])('reads %j', (query, expected) => {
    expect(resumeFromQuery(wsUrl(query))).toEqual(expected);
  });
});
