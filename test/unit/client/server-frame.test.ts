import { describe, expect, it } from 'vitest';
import { parseServerFrame } from '../../../packages/client/src/server-frame.js';
import { encodeEvent } from '../../../packages/server/src/protocol/events.js';
import { encodeServerFrame } from '../../../packages/server/src/protocol/frames.js';

const welcomeData = {
  connection_id: 'c_1',
  user_id: 'u1',
  server_id: 'node-a',
  epoch: 'e_1',
  seq: 42,
  heartbeat_ms: 25_000,
  resume: 'ok',
} as const;

describe('parseServerFrame', () => {
  it('reads the welcome frame the gateway encodes', () => {
    expect(parseServerFrame(encodeServerFrame.welcome(welcomeData))).toEqual({
      kind: 'welcome',
      welcome: welcomeData,
    });
  });

  it('reads resume "snapshot" (docs/protocol.md F)', () => {
    const frame = parseServerFrame(encodeServerFrame.welcome({ ...welcomeData, resume: 'snapshot' }));
    expect(frame).toMatchObject({ kind: 'welcome', welcome: { resume: 'snapshot' } });
  });

  it('reads the run_snapshot frame the gateway encodes, and refuses one without run_id or last_seq', () => {
    const snapshot = {
      run_id: 'r1',
      status: 'running',
      started_at: '2026-01-01T00:00:00.000Z',
      text: 'so far',
      reasoning: '',
      tools: [],
      approvals: [],
      last_seq: 57,
      epoch: 'e_1',
      truncated: false,
    } as const;
    expect(parseServerFrame(encodeServerFrame.runSnapshot(snapshot))).toEqual({
      kind: 'run_snapshot',
      snapshot,
    });
    const { last_seq: _, ...noSeq } = snapshot;
    expect(parseServerFrame(JSON.stringify({ type: 'run_snapshot', data: noSeq }))).toBeUndefined();
    expect(parseServerFrame(JSON.stringify({ type: 'run_snapshot', data: { last_seq: 1 } }))).toBeUndefined();
  });

  it('reads an unknown resume outcome as "none" and fills missing optional welcome fields', () => {
    const text = JSON.stringify({ type: 'welcome', data: { epoch: 'e', seq: 0, resume: 'later' } });
    expect(parseServerFrame(text)).toEqual({
      kind: 'welcome',
      welcome: {
        connection_id: '',
        user_id: '',
        server_id: '',
        epoch: 'e',
        seq: 0,
        heartbeat_ms: 0,
        resume: 'none',
      },
    });
  });

  it('reads an event the gateway encodes, with and without run_id', () => {
    const stored = {
      type: 'agent_thinking',
      seq: 43,
      epoch: 'e_1',
      ts: '2026-01-01T00:00:00.000Z',
      data: { reasoning: 'x' },
    };
    expect(parseServerFrame(encodeEvent({ ...stored, run_id: 'r_1' }))).toEqual({
      kind: 'event',
      event: { ...stored, run_id: 'r_1' },
    });
    expect(parseServerFrame(encodeEvent(stored))).toEqual({ kind: 'event', event: stored });
  });

  it('reads an event’s trace context, and skips a meta without a traceparent string', () => {
    const stored = { type: 'notification', seq: 1, epoch: 'e_1', ts: '2026-01-01T00:00:00.000Z', data: {} };
    const meta = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    expect(parseServerFrame(encodeEvent({ ...stored, meta }))).toEqual({
      kind: 'event',
      event: { ...stored, meta },
    });
    const odd = JSON.stringify({ ...stored, meta: { traceparent: 5 } });
    expect(parseServerFrame(odd)).toEqual({ kind: 'event', event: stored });
  });

  it('tells an event named like a frame type ("error") from an error frame by its seq', () => {
    const text = JSON.stringify({ type: 'error', seq: 1, epoch: 'e', ts: 't', data: { code: 'X' } });
    expect(parseServerFrame(text)).toMatchObject({ kind: 'event', event: { type: 'error', seq: 1 } });
  });

  it('reads acks (duplicate defaults to false), errors, pongs and auth_ok', () => {
    expect(parseServerFrame(encodeServerFrame.ack('m1', { run_id: 'r1', duplicate: true }))).toEqual({
      kind: 'ack',
      id: 'm1',
      runId: 'r1',
      duplicate: true,
    });
    expect(parseServerFrame(encodeServerFrame.ack('c1', { run_id: 'r1' }))).toMatchObject({
      duplicate: false,
    });
    expect(parseServerFrame(encodeServerFrame.error('NOT_FOUND', 'no such run', 'c1'))).toEqual({
      kind: 'error',
      id: 'c1',
      code: 'NOT_FOUND',
      message: 'no such run',
    });
    expect(parseServerFrame(encodeServerFrame.error('INVALID_JSON', 'bad'))).toMatchObject({ id: undefined });
    expect(parseServerFrame('{"type":"error"}')).toEqual({
      kind: 'error',
      id: undefined,
      code: '',
      message: '',
    });
    expect(parseServerFrame(encodeServerFrame.pong(1, 'now'))).toEqual({ kind: 'pong' });
    expect(parseServerFrame(encodeServerFrame.authOk())).toEqual({ kind: 'auth_ok' });
  });

  it('passes frame types it does not know as "unknown", so newer servers can add some', () => {
    expect(parseServerFrame('{"type":"presence","data":{}}')).toEqual({ kind: 'unknown', type: 'presence' });
  });

  it.each([
    ['not JSON', 'nope'],
    ['an array', '[]'],
    ['null', 'null'],
    ['no type', '{"seq":1}'],
    ['an event without epoch', '{"type":"x","seq":1,"data":{}}'],
    ['an event without data', '{"type":"x","seq":1,"epoch":"e"}'],
    ['an event whose data is an array', '{"type":"x","seq":1,"epoch":"e","data":[]}'],
    ['a welcome without data', '{"type":"welcome"}'],
    ['a welcome without seq', '{"type":"welcome","data":{"epoch":"e"}}'],
    ['an ack without id', '{"type":"ack","data":{"run_id":"r"}}'],
    ['an ack without run_id', '{"type":"ack","id":"m1","data":{}}'],
  ])('returns undefined for %s', (_name, text) => {
    expect(parseServerFrame(text)).toBeUndefined();
  });
});
