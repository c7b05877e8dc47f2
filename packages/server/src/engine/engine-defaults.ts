/**
 * The defaults both engines share, in one place: the engines apply them to options left out, and the
 * matching configuration options (config/options.ts: `--history-size`, `--history-ttl-s`,
 * `--history-max-bytes`, `--history-memory-bytes`, `--redis-key-prefix`, `--redis-slot-lease-s`,
 * `--run-lease-s`, `--run-snapshot-max-bytes`, `--run-snapshot-ttl-s`, `--run-snapshots-per-user`) show and
 * use the same values. Durations are in ms here; the options that take seconds divide by 1000.
 */
export const ENGINE_DEFAULTS = {
  /** Events kept per user (docs/protocol.md §4). */
  historySize: 1000,
  /** Age after which an event is gone (docs/protocol.md §4: 300 s). */
  historyTtlMs: 300_000,
  /** Bytes of wire frames kept per user (8 MiB). */
  historyMaxBytes: 8 * 1024 * 1024,
  /** Bytes of wire frames kept for all users of one process, memory engine only (256 MiB). */
  historyMemoryBytes: 256 * 1024 * 1024,
  /** Prefix of every Redis key and channel (Redis engine). */
  keyPrefix: 'agentcast:',
  /** Lease of a Redis connection slot, renewed every third of it (Redis engine). */
  slotLeaseMs: 30_000,
  /** Lease of a registered agent run, renewed by its owner every third of it (`--run-lease-s`). */
  runLeaseMs: 10_000,
  /**
   * How long the registry keeps an ended run's marker, and a lapsed run's record, before forgetting
   * them (both engines; not configurable).
   */
  runRetainMs: 600_000,
  /** Bytes one run snapshot keeps before it says `truncated` (docs/protocol.md F; 1 MiB). */
  runSnapshotMaxBytes: 1024 * 1024,
  /** How long a run snapshot is kept after the run's last event (24 h). */
  runSnapshotTtlMs: 86_400_000,
  /** Runs of one user whose snapshots are listed and caught up, the most recently active ones. */
  runSnapshotsPerUser: 100,
} as const;
