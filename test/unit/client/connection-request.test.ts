import { describe, expect, it } from 'vitest';
import {
  BEARER_PREFIX,
  buildConnectionRequest,
  SUBPROTOCOL,
} from '../../../packages/client/src/connection-request.js';
import {
  BEARER_SUBPROTOCOL_PREFIX,
  SUBPROTOCOL as PROTOCOL_SUBPROTOCOL,
} from '../../../packages/server/src/protocol/frames.js';

const base = new URL('wss://gw.example/ws?tenant=a');

describe('buildConnectionRequest', () => {
  it('uses the same subprotocol names as protocol/frames.ts (copied to keep zod out of the bundle)', () => {
    expect([SUBPROTOCOL, BEARER_PREFIX]).toEqual([PROTOCOL_SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX]);
  });

  it('carries the token as a second subprotocol and keeps the URL as given on a first connection', () => {
    expect(buildConnectionRequest(base, 'subprotocol', 'jwt', undefined)).toEqual({
      url: 'wss://gw.example/ws?tenant=a',
      protocols: ['agentcast.v1', 'bearer.jwt'],
      authFrame: undefined,
    });
  });

  it('adds since and epoch as query parameters when resuming, never the token', () => {
    const request = buildConnectionRequest(base, 'subprotocol', 'jwt', { epoch: 'e_1', seq: 42 });
    expect(request.url).toBe('wss://gw.example/ws?tenant=a&since=42&epoch=e_1');
    expect(request.url).not.toContain('jwt');
  });

  it('replaces stale since/epoch parameters instead of repeating them', () => {
    const stale = new URL('wss://gw.example/ws?since=1&epoch=old');
    expect(buildConnectionRequest(stale, 'subprotocol', 't', { epoch: 'e', seq: 2 }).url).toBe(
      'wss://gw.example/ws?since=2&epoch=e',
    );
  });

  it('puts the token and the resume point in the auth frame with tokenTransport "frame"', () => {
    expect(buildConnectionRequest(base, 'frame', 'jwt', { epoch: 'e_1', seq: 42 })).toEqual({
      url: 'wss://gw.example/ws?tenant=a',
      protocols: ['agentcast.v1'],
      authFrame: '{"type":"auth","token":"jwt","since":42,"epoch":"e_1"}',
    });
    expect(buildConnectionRequest(base, 'frame', 'jwt', undefined).authFrame).toBe(
      '{"type":"auth","token":"jwt"}',
    );
  });

  it('asks for catch-up where the resume point goes: query parameter or auth frame field (F)', () => {
    const position = { epoch: 'e_1', seq: 42 };
    expect(buildConnectionRequest(base, 'subprotocol', 'jwt', position, 'snapshot').url).toBe(
      'wss://gw.example/ws?tenant=a&catch_up=snapshot&since=42&epoch=e_1',
    );
    expect(buildConnectionRequest(base, 'frame', 'jwt', undefined, 'snapshot').authFrame).toBe(
      '{"type":"auth","token":"jwt","catch_up":"snapshot"}',
    );
  });

  it('sends nothing for catch-up "none", which is what a gateway does without it', () => {
    expect(buildConnectionRequest(base, 'subprotocol', 'jwt', undefined, 'none').url).toBe(
      'wss://gw.example/ws?tenant=a',
    );
    expect(buildConnectionRequest(base, 'frame', 'jwt', undefined, 'none').authFrame).toBe(
      '{"type":"auth","token":"jwt"}',
    );
  });
});
