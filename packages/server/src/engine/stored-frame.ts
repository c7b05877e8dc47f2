import type { JsonObject, NewEvent, StoredEvent } from '../protocol/events.js';

/**
 * A wire frame (docs/protocol.md §3) cut around the two fields only the append script knows: seq and epoch.
 * The script joins `head + ,"seq":N,"epoch":"E" + tail`, which is byte for byte `encodeEvent(stored)`, so
 * the frame is built once, in Redis, and shared by every node and connection.
 */
export interface FrameParts {
  /** `{"type":"…"` */
  readonly head: string;
  /** `,"ts":"…"[,"run_id":"…"],"data":{…}[,"meta":{…}]}` */
  readonly tail: string;
}

/** Splits the frame of `event`, stored at `ts`, around seq and epoch (see {@link FrameParts}). */
export function frameParts(event: NewEvent, ts: string): FrameParts {
  const runId = event.run_id === undefined ? '' : `,"run_id":${JSON.stringify(event.run_id)}`;
  const meta = event.meta === undefined ? '' : `,"meta":${JSON.stringify(event.meta)}`;
  return {
    head: `{"type":${JSON.stringify(event.type)}`,
    tail: `,"ts":${JSON.stringify(ts)}${runId},"data":${JSON.stringify(event.data)}${meta}}`,
  };
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The event inside a frame read back from Redis (pub/sub or history), or undefined when the frame is not
 * one the append script wrote (another writer on the same keys, or corruption): such a frame is never
 * delivered.
 */
export function parseStoredFrame(frame: string): StoredEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(frame);
  } catch {
    // Not JSON: the caller reports it; the frame is dropped.
    return undefined;
  }
  if (!isJsonObject(raw)) return undefined;
  const { type, seq, epoch, ts, run_id: runId, data, meta: rawMeta } = raw;
  if (typeof type !== 'string' || typeof epoch !== 'string' || typeof ts !== 'string') return undefined;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1 || !isJsonObject(data))
    return undefined;
  if (runId !== undefined && typeof runId !== 'string') return undefined;
  const event =
    runId === undefined ? { type, seq, epoch, ts, data } : { type, run_id: runId, seq, epoch, ts, data };
  if (rawMeta === undefined) return event;
  if (!isJsonObject(rawMeta) || typeof rawMeta.traceparent !== 'string') return undefined;
  return { ...event, meta: { traceparent: rawMeta.traceparent } };
}
