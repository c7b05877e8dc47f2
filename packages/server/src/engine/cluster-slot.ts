/** Redis Cluster divides the key space into this many hash slots. */
export const CLUSTER_SLOTS = 16_384;

/** CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/**
 * The hash slot of `key`, as `CLUSTER KEYSLOT` computes it (Redis Cluster specification, "Hash tags"):
 * if the key holds a `{` followed later by a `}` with at least one byte between them, only the bytes
 * between the first `{` and the first `}` after it are hashed; otherwise the whole key is. The key is
 * hashed as UTF-8, the bytes ioredis sends.
 */
export function clusterSlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b); // '{'
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % CLUSTER_SLOTS;
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

/**
 * Groups item indexes by the slot of each item's key, keeping input order inside a group. A Redis Cluster
 * pipeline must target one node, so the engine sends one pipeline per group; replies are put back by index.
 */
export function groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (const [index, item] of items.entries()) {
    const slot = clusterSlot(keyOf(item));
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [index]);
    else group.push(index);
  }
  return groups;
}
