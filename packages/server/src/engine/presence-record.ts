import type { PresenceEntry } from './engine.js';

/** A presence record as lua/presence.lua stores it: JSON, snake_case like the wire. */
export function encodePresence(entry: PresenceEntry): string {
  return JSON.stringify({
    server_id: entry.serverId,
    transport: entry.transport,
    connected_at: entry.connectedAt,
    delivered_seq: entry.deliveredSeq,
    seen_seq: entry.seenSeq,
  });
}

/**
 * lua/presence.lua's 'read' reply, `{connection id, record, …}`, as entries oldest first. A record that
 * does not parse (written by something else) is skipped: presence is advisory.
 */
export function parsePresenceReply(reply: unknown): PresenceEntry[] {
  if (!Array.isArray(reply)) return [];
  const entries: PresenceEntry[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const connectionId = reply[i];
    const record = decode(reply[i + 1]);
    if (typeof connectionId !== 'string' || record === undefined) continue;
    entries.push({ connectionId, ...record });
  }
  return entries.sort((a, b) => a.connectedAt - b.connectedAt);
}

function decode(text: unknown): Omit<PresenceEntry, 'connectionId'> | undefined {
  if (typeof text !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const r = parsed as Record<string, unknown>;
  const { server_id, transport, connected_at, delivered_seq, seen_seq } = r;
  if (typeof server_id !== 'string' || typeof transport !== 'string') return undefined;
  if (typeof connected_at !== 'number' || typeof delivered_seq !== 'number' || typeof seen_seq !== 'number')
    return undefined;
  return {
    serverId: server_id,
    transport,
    connectedAt: connected_at,
    deliveredSeq: delivered_seq,
    seenSeq: seen_seq,
  };
}
