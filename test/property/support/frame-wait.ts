import type { Frame } from '../../helpers/gateway-harness.js';

/**
 * What the waits use of a connection: the harness's WebSocket `Client`, or an `SseClient`
 * (support/sse-client.ts) for a Server-Sent Events stream.
 */
export interface FrameSource {
  readonly frames: readonly Frame[];
  readonly closeCode: number | undefined;
  readonly ws: {
    on(event: 'message' | 'close', listener: () => void): unknown;
    off(event: 'message' | 'close', listener: () => void): unknown;
  };
}

/**
 * Resolves with the first frame of `client` (received from index `from` on, or to come) for which `match`
 * holds.
 * Woken by the socket's own 'message' and 'close' events, never by polling; the timeout error names
 * what was awaited, and a close before the match rejects with the close code.
 */
export function frameWhere(
  client: FrameSource,
  match: (frame: Frame) => boolean,
  what: string,
  timeoutMs = 5000,
  from = 0,
): Promise<Frame> {
  return new Promise((resolve, reject) => {
    let checked = from;
    const check = (): boolean => {
      for (; checked < client.frames.length; checked++) {
        const frame = client.frames[checked] as Frame;
        if (match(frame)) {
          finish();
          resolve(frame);
          return true;
        }
      }
      if (client.closeCode !== undefined) {
        finish();
        reject(new Error(`waited for ${what} but the socket closed with ${client.closeCode}`));
        return true;
      }
      return false;
    };
    const onEvent = (): void => {
      // The Client's own listener runs first (registered earlier), so frames[] is up to date here.
      check();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      client.ws.off('message', onEvent);
      client.ws.off('close', onEvent);
    };
    if (check()) return;
    client.ws.on('message', onEvent);
    client.ws.on('close', onEvent);
  });
}

/** Resolves once `client` holds an event with seq `seq` (events carry a numeric seq). */
export function eventWithSeq(
  client: FrameSource,
  seq: number,
  what: string,
  timeoutMs = 5000,
): Promise<Frame> {
  return frameWhere(client, (f) => f.seq === seq, `${what}: event seq ${seq}`, timeoutMs);
}

/** The events (frames with a seq) a client received, in arrival order. */
export function eventsOf(client: FrameSource): Frame[] {
  return client.frames.filter((f) => typeof f.seq === 'number');
}
