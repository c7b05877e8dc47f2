import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientError, ClientErrorCode } from '../../../packages/client/src/client-error.js';
import { Outbox } from '../../../packages/client/src/outbox.js';
import { systemTimers } from '../../../packages/client/src/timers.js';

describe('Outbox', () => {
  let outbox: Outbox;
  beforeEach(() => {
    vi.useFakeTimers();
    outbox = new Outbox({ timeoutMs: 30_000, timers: systemTimers });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles a request with its ack and forgets it', async () => {
    const promise = outbox.add('m1', 'frame-1');
    expect(outbox.ack({ id: 'm1', runId: 'r1', duplicate: false })).toBe(true);
    await expect(promise).resolves.toEqual({ id: 'm1', runId: 'r1', duplicate: false });
    expect([outbox.size, outbox.has('m1'), outbox.frames()]).toEqual([0, false, []]);
  });

  it('ignores an ack for an unknown id (already settled, or not ours)', () => {
    expect(outbox.ack({ id: 'nope', runId: 'r', duplicate: false })).toBe(false);
  });

  it('keeps pending frames in the order they were added, for resending', () => {
    void outbox.add('m1', 'frame-1');
    void outbox.add('m2', 'frame-2');
    void outbox.add('m3', 'frame-3');
    outbox.ack({ id: 'm2', runId: 'r', duplicate: false });
    expect(outbox.frames()).toEqual(['frame-1', 'frame-3']);
  });

  it('returns the first promise and keeps the first frame when an id is added twice', () => {
    const first = outbox.add('m1', 'frame-1');
    expect(outbox.add('m1', 'frame-other')).toBe(first);
    expect(outbox.frames()).toEqual(['frame-1']);
  });

  it('rejects with AC_CLIENT_ACK_TIMEOUT after timeoutMs, and not a moment before', async () => {
    const promise = outbox.add('m1', 'frame-1');
    const settled = vi.fn();
    promise.then(settled, settled);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(promise).rejects.toMatchObject({
      code: ClientErrorCode.AckTimeout,
      message: 'no ack for m1 within 30000 ms; retry with the same id to avoid a second run',
    });
    expect(outbox.has('m1')).toBe(false);
  });

  it('clears the timeout once acked', async () => {
    const promise = outbox.add('m1', 'frame-1');
    outbox.ack({ id: 'm1', runId: 'r1', duplicate: true });
    await vi.advanceTimersByTimeAsync(60_000);
    await expect(promise).resolves.toMatchObject({ duplicate: true });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects one request by id', async () => {
    const promise = outbox.add('m1', 'frame-1');
    const error = new ClientError(ClientErrorCode.Server, 'NOT_FOUND: no such run');
    expect(outbox.reject('m1', error)).toBe(true);
    expect(outbox.reject('m1', error)).toBe(false);
    await expect(promise).rejects.toBe(error);
  });

  it('rejects everything on rejectAll()', async () => {
    const a = outbox.add('m1', 'frame-1');
    const b = outbox.add('m2', 'frame-2');
    const error = new ClientError(ClientErrorCode.Closed, 'closed');
    outbox.rejectAll(error);
    await expect(a).rejects.toBe(error);
    await expect(b).rejects.toBe(error);
    expect(outbox.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
