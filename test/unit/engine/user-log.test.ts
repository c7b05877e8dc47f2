import { describe, expect, it } from 'vitest';
import { UserLog } from '../../../packages/server/src/engine/user-log.js';
import { type Logger, silentLogger } from '../../../packages/server/src/observability/logger.js';
import type { StoredEvent } from '../../../packages/server/src/protocol/events.js';
import { captureLog } from '../../helpers/log-capture.js';

function makeLog(overrides: { historySize?: number; logger?: Logger } = {}) {
  const logger = overrides.logger ?? silentLogger();
  return new UserLog(
    { userId: 'alice', epoch: 'e_a', historySize: overrides.historySize ?? 10, historyTtlMs: 1000, logger },
    0,
  );
}

const note = (n: number) => ({ type: 'notification', data: { n } });

describe('UserLog', () => {
  it('stamps seq, epoch and ts from the given time', () => {
    const log = makeLog();
    expect(log.append(note(1), 0)).toEqual({
      type: 'notification',
      data: { n: 1 },
      seq: 1,
      epoch: 'e_a',
      ts: '1970-01-01T00:00:00.000Z',
    });
    expect(log.append({ ...note(2), run_id: 'r_1' }, 1500)).toMatchObject({
      run_id: 'r_1',
      seq: 2,
      ts: '1970-01-01T00:00:01.500Z',
    });
    expect(log.head).toEqual({ epoch: 'e_a', seq: 2 });
    expect(log.touchedAt).toBe(1500);
  });

  it('keeps delivering to the other listeners when one throws, and logs it without the event data', () => {
    const { log: logger, lines } = captureLog('info');
    const log = makeLog({ logger });
    const seen: number[] = [];
    log.subscribe(() => {
      throw new Error('listener bug');
    });
    log.subscribe((event) => seen.push(event.seq));
    expect(log.append(note(1), 0).seq).toBe(1);
    expect(log.append(note(2), 0).seq).toBe(2);
    expect(seen).toEqual([1, 2]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 50,
      user_id: 'alice',
      seq: 1,
      err: { message: 'listener bug' },
    });
    expect(JSON.stringify(lines[0])).not.toContain('"n":1');
  });

  /** 20,000 levels: JSON.stringify overflows the stack on it (built without recursion). */
  function tooDeep(): Record<string, unknown> {
    let value: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) value = { a: value };
    return value;
  }

  it.each([
    { what: 'a BigInt', data: () => ({ n: 1n }) },
    { what: '20,000 levels of nesting', data: tooDeep },
  ])(
    'refuses an event whose frame cannot be encoded ($what): it throws, takes no seq, stores nothing, and the next events are delivered',
    ({ data }) => {
      const log = makeLog();
      const seen: number[] = [];
      log.subscribe((event) => seen.push(event.seq));
      expect(() => log.append({ type: 'notification', data: data() }, 0)).toThrow();
      expect(log.head.seq).toBe(0);
      expect(log.append(note(1), 0).seq).toBe(1);
      expect(log.append(note(2), 0).seq).toBe(2);
      expect(seen).toEqual([1, 2]);
      const history = log.history({ since: 0, limit: 10, epoch: log.epoch }, 0);
      expect(history.kind === 'ok' ? history.events.map((e) => e.seq) : history).toEqual([1, 2]);
    },
  );

  it('keeps delivering in order after a listener appended an event that cannot be encoded', () => {
    const log = makeLog();
    const seen: number[] = [];
    log.subscribe((event) => {
      seen.push(event.seq);
      if (event.seq === 1) {
        expect(() => log.append({ type: 'notification', data: { n: 2n } }, 0)).toThrow();
        log.append(note(2), 0);
      }
    });
    log.append(note(1), 0);
    log.append(note(3), 0);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('is not wedged when a delivery fails in a way it cannot contain (the logger itself throws)', () => {
    const logger = silentLogger();
    logger.error = () => {
      throw new Error('log sink broken');
    };
    const log = makeLog({ logger });
    const seen: number[] = [];
    let fail = true;
    log.subscribe(() => {
      if (fail) throw new Error('listener bug');
    });
    log.subscribe((event) => seen.push(event.seq));
    expect(() => log.append(note(1), 0)).toThrow('log sink broken');
    fail = false;
    log.append(note(2), 0);
    expect(seen).toEqual([2]);
  });

  it('delivers an event appended by a listener after the current one reached every listener', () => {
    const log = makeLog();
    const first: number[] = [];
    const second: number[] = [];
    log.subscribe((event) => {
      first.push(event.seq);
      if (event.seq < 3) log.append(note(event.seq + 1), 0);
    });
    log.subscribe((event) => second.push(event.seq));
    log.append(note(1), 0);
    expect(first).toEqual([1, 2, 3]);
    expect(second).toEqual([1, 2, 3]);
    expect(log.head.seq).toBe(3);
  });

  it('does not hand the current event to a listener unsubscribed or subscribed during its delivery', () => {
    const log = makeLog();
    const late: number[] = [];
    const removed: number[] = [];
    let unsubscribeRemoved: () => void = () => undefined;
    log.subscribe((event) => {
      if (event.seq === 1) {
        unsubscribeRemoved();
        log.subscribe((e) => late.push(e.seq));
      }
    });
    unsubscribeRemoved = log.subscribe((event) => removed.push(event.seq));
    log.append(note(1), 0);
    log.append(note(2), 0);
    expect(removed).toEqual([]);
    expect(late).toEqual([2]);
    expect(log.subscriberCount).toBe(2);
  });

  it('passes the same frame object to every listener', () => {
    const log = makeLog();
    const frames: string[] = [];
    const events: StoredEvent[] = [];
    log.subscribe((event, frame) => {
      events.push(event);
      frames.push(frame);
    });
    log.subscribe((_event, frame) => frames.push(frame));
    log.append(note(1), 0);
    expect(frames[0]).toBe(frames[1]);
    expect(JSON.parse(frames[0]!)).toEqual({
      type: 'notification',
      seq: 1,
      epoch: 'e_a',
      ts: '1970-01-01T00:00:00.000Z',
      data: { n: 1 },
    });
  });

  it('ages out events on expire so an old since becomes expired', () => {
    const log = makeLog();
    log.append(note(1), 0);
    log.append(note(2), 600);
    log.expire(1001);
    expect(log.history({ since: 0, limit: 10 }, 1001)).toMatchObject({ kind: 'reset', reason: 'expired' });
    expect(log.history({ since: 1, epoch: 'e_a', limit: 10 }, 1001)).toMatchObject({
      kind: 'ok',
      complete: true,
    });
    expect(log.history({ since: 1, epoch: 'e_a', limit: 10 }, 1601)).toMatchObject({
      kind: 'reset',
      reason: 'expired',
    });
  });
  it('counts each event as the UTF-8 bytes of the frame its listeners get, and trims by historyMaxBytes', () => {
    const log = new UserLog(
      {
        userId: 'alice',
        epoch: 'e_a',
        historySize: 10,
        historyTtlMs: 1000,
        historyMaxBytes: 250,
        logger: silentLogger(),
      },
      0,
    );
    const frames: string[] = [];
    log.subscribe((_event, frame) => frames.push(frame));
    log.append({ type: 'notification', data: { text: 'é'.repeat(40) } }, 0, undefined, 7);
    expect(log.historyBytes).toBe(Buffer.byteLength(frames[0] as string));
    expect(log.oldestOrder).toBe(7);
    log.append({ type: 'notification', data: { text: 'é'.repeat(40) } }, 0, undefined, 9);
    // Two frames of about 150 bytes pass 250: the first goes.
    expect(log.historyBytes).toBe(Buffer.byteLength(frames[1] as string));
    expect(log.oldestOrder).toBe(9);
    expect(log.history({ since: 0, epoch: 'e_a', limit: 10 }, 0)).toMatchObject({
      kind: 'reset',
      reason: 'expired',
    });
    expect(log.evictOldest()).toBe(Buffer.byteLength(frames[1] as string));
    expect([log.historyBytes, log.oldestOrder]).toEqual([0, undefined]);
    log.append(note(3), 0, undefined, 11);
    expect(log.clearHistory()).toBe(Buffer.byteLength(frames[2] as string));
    expect(log.head).toEqual({ epoch: 'e_a', seq: 3 });
  });
});
