/**
 * Names of everything the Redis engine stores. A user's keys share the hash tag `{u:<user_id>}`, so they
 * live in one Redis Cluster slot and one Lua script may touch them all (docs/redis.md, "Redis Cluster").
 */
export class RedisKeys {
  readonly #prefix: string;

  /** `prefix` separates deployments (and test runs) sharing one Redis; it must not contain braces. */
  constructor(prefix: string) {
    if (/[{}]/.test(prefix)) {
      throw new TypeError(`RedisEngine: keyPrefix must not contain "{" or "}" (hash tags), got "${prefix}"`);
    }
    this.#prefix = prefix;
  }

  /** Hash {epoch, seq, bytes} of the user's log (bytes: what its stream holds). */
  meta(userId: string): string {
    return `${this.#prefix}{u:${userId}}:meta`;
  }

  /** Stream of the user's recent events (entries {s: seq, f: wire frame}). */
  log(userId: string): string {
    return `${this.#prefix}{u:${userId}}:log`;
  }

  /** List of the byte sizes of the stream's entries, in stream order (lua/append.lua trims by bytes). */
  sizes(userId: string): string {
    return `${this.#prefix}{u:${userId}}:sizes`;
  }

  /** Sorted set of the user's connection ids, scored by lease end. */
  slots(userId: string): string {
    return `${this.#prefix}{u:${userId}}:conns`;
  }

  /** Hash connection id -> JSON presence record of the user's connections (lua/presence.lua). */
  presence(userId: string): string {
    return `${this.#prefix}{u:${userId}}:presence`;
  }

  /** Sorted set of the user's registered runs, scored by when their lease ends (lua/start-run.lua). */
  runs(userId: string): string {
    return `${this.#prefix}{u:${userId}}:runs`;
  }

  /** Hash run id -> JSON {agent, node, started_at} of the runs in {@link runs}. */
  runInfo(userId: string): string {
    return `${this.#prefix}{u:${userId}}:run-info`;
  }

  /** Sorted set of the user's recently ended runs, scored by the Redis time they ended (lua/end-run.lua). */
  runsEnded(userId: string): string {
    return `${this.#prefix}{u:${userId}}:runs-ended`;
  }

  /**
   * The deployment's run index (lua/run-index.lua): users with registered runs, scored by when the reaper
   * should look at them next. No hash tag: one key per prefix, so on a Redis Cluster it lives in one slot.
   */
  get runIndex(): string {
    return `${this.#prefix}runs-due`;
  }

  /**
   * A run's snapshot (docs/protocol.md F, lua/append.lua): its hash, text, reasoning and tool entries. Under
   * the user's hash tag, so one script touches them with the user's log.
   */
  snapshot(
    userId: string,
    runId: string,
  ): [hash: string, text: string, reasoning: string, tools: string, approvals: string] {
    const base = `${this.#prefix}{u:${userId}}:snap:${runId}`;
    return [base, `${base}:text`, `${base}:reasoning`, `${base}:tools`, `${base}:approvals`];
  }

  /** One approval (docs/protocol.md G): {run_id, state, expires_at, request, decision, key}. */
  approval(userId: string, approvalId: string): string {
    return `${this.#prefix}{u:${userId}}:approval:${approvalId}`;
  }

  /** Sorted set of the user's pending approvals, scored by when they expire (ms). */
  pendingApprovals(userId: string): string {
    return `${this.#prefix}{u:${userId}}:approvals-pending`;
  }

  /** Sorted sets of the user's active runs and of all its runs with a snapshot, scored by their last seq. */
  snapshotIndex(userId: string): [active: string, all: string] {
    return [`${this.#prefix}{u:${userId}}:snaps-active`, `${this.#prefix}{u:${userId}}:snaps`];
  }

  /**
   * A publish's idempotency record (lua/append-once.lua), kept with the first event's user so it is
   * written in the same script, in the same cluster slot, as that user's events.
   */
  publishKey(userId: string, key: string): string {
    return `${this.#prefix}{u:${userId}}:publish-key:${key}`;
  }

  /** Pub/sub channel that carries the user's wire frames to every node. */
  channel(userId: string): string {
    return `${this.#prefix}{u:${userId}}:events`;
  }

  /**
   * Pub/sub channel of one gateway node's control requests (a cancel for a run it owns), by its
   * `--server-id`; lua/request-cancel.lua publishes to it, built from {@link controlPrefix}.
   */
  control(node: string): string {
    return `${this.controlPrefix}${node}`;
  }

  /** Pub/sub channel every node listens to for user disconnects (lua/disconnect-user.lua publishes to it). */
  get disconnects(): string {
    return `${this.#prefix}users:disconnect`;
  }

  /** The user's token revocation: unix seconds; tokens with `iat` before it are refused (its TTL bounds it). */
  revoked(userId: string): string {
    return `${this.#prefix}{u:${userId}}:revoked`;
  }

  /** What every node's control channel starts with. */
  get controlPrefix(): string {
    return `${this.#prefix}node:`;
  }

  /** One idempotency key (docs/protocol.md §6). */
  idempotency(key: string): string {
    return `${this.#prefix}idem:${key}`;
  }

  /** One stream ticket (docs/protocol.md H); `key` is the ticket's hash, never the ticket itself. */
  ticket(key: string): string {
    return `${this.#prefix}ticket:${key}`;
  }

  /** Pattern matching every key of this prefix (tests clean up with it). */
  get pattern(): string {
    return `${this.#prefix}*`;
  }
}
