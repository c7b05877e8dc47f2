/** Options of {@link ViolationTracker}; every figure is configurable (docs/protocol.md §5). */
export interface ViolationTrackerOptions {
  /** Violations within `windowMs` that block an IP (`--violation-limit`). Default 5. */
  readonly limit?: number;
  /** The sliding window, in ms (`--violation-window-s` × 1000). Default 60 000. */
  readonly windowMs?: number;
  /** How long a block lasts, in ms (`--block-s` × 1000). Default 300 000. */
  readonly blockMs?: number;
  /** At most this many IPs are remembered (counting and blocked together). Default 100 000. */
  readonly maxTrackedIps?: number;
  /** The clock, in ms. */
  readonly now: () => number;
}

/** Whether an IP is blocked; when it is, `retryAfterS` is the `Retry-After` value (whole seconds, >= 1). */
export type BlockStatus =
  | { readonly blocked: false }
  | { readonly blocked: true; readonly retryAfterS: number };

const DEFAULTS = { limit: 5, windowMs: 60_000, blockMs: 300_000, maxTrackedIps: 100_000 } as const;

/**
 * Counts origin violations per client IP and blocks an IP that commits `limit` of them within `windowMs`
 * (docs/protocol.md §5: 5 in 60 s block for 300 s, answered with 429 and Retry-After).
 *
 * The window slides: each IP keeps the times of its last violations (fewer than `limit` numbers), so
 * "5 in 60 s" means any 60 s, with no reset at a window edge to hide behind. A violation at t expires at
 * t + windowMs. A block is not extended by further violations: the gateway checks `blockStatus` first
 * (§1: 429 comes before the origin check), so a blocked client never reaches `record`.
 *
 * Memory is bounded by `maxTrackedIps`, whatever addresses an attacker sprays. Counting IPs are kept in
 * least-recently-touched order and the oldest is evicted first; a blocked IP is evicted only when every
 * tracked IP is blocked. Trade-off: an attacker controlling more than `maxTrackedIps` addresses, each
 * earning a block, can push out older blocks early; each eviction costs `limit` violations. Blocks and
 * stale counts also expire lazily, on access, in `blockedCount()` and in `prune()`.
 */
export class ViolationTracker {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #blockMs: number;
  readonly #maxTrackedIps: number;
  readonly #now: () => number;
  /** ip → times of its recent violations, oldest first. Map order: least recently touched first. */
  readonly #recent = new Map<string, number[]>();
  /** ip → when its block ends. Map order is block order, which is expiry order as blockMs is fixed. */
  readonly #blocks = new Map<string, number>();

  constructor(options: ViolationTrackerOptions) {
    this.#limit = positive('limit', options.limit ?? DEFAULTS.limit, true);
    this.#windowMs = positive('windowMs', options.windowMs ?? DEFAULTS.windowMs, false);
    this.#blockMs = positive('blockMs', options.blockMs ?? DEFAULTS.blockMs, false);
    this.#maxTrackedIps = positive('maxTrackedIps', options.maxTrackedIps ?? DEFAULTS.maxTrackedIps, true);
    this.#now = options.now;
  }

  /** Records one violation by `ip`; answers whether the IP is now blocked (this violation may block it). */
  record(ip: string): BlockStatus {
    const now = this.#now();
    const status = this.#statusAt(ip, now);
    if (status.blocked) return status;
    const times = this.#recent.get(ip);
    if (times === undefined) this.#makeRoom(now);
    // delete + set moves the IP to the most recently touched end of the Map.
    this.#recent.delete(ip);
    const recent = (times ?? []).filter((t) => now - t < this.#windowMs);
    recent.push(now);
    if (recent.length < this.#limit) {
      this.#recent.set(ip, recent);
      return { blocked: false };
    }
    this.#blocks.set(ip, now + this.#blockMs);
    return { blocked: true, retryAfterS: Math.ceil(this.#blockMs / 1000) };
  }

  /** Whether `ip` is blocked now (§1: answer 429 with `Retry-After: retryAfterS`). */
  blockStatus(ip: string): BlockStatus {
    return this.#statusAt(ip, this.#now());
  }

  /** How many IPs are blocked now, for the `agentcast_blocked_ips` gauge. */
  blockedCount(): number {
    this.#pruneBlocks(this.#now());
    return this.#blocks.size;
  }

  /** How many IPs are remembered (counting or blocked); never more than `maxTrackedIps`. */
  trackedCount(): number {
    return this.#recent.size + this.#blocks.size;
  }

  /** Forgets expired blocks and IPs whose violations all left the window. O(tracked IPs): call it from a periodic sweep. */
  prune(): void {
    const now = this.#now();
    this.#pruneBlocks(now);
    for (const [ip, times] of this.#recent) {
      if (times.every((t) => now - t >= this.#windowMs)) this.#recent.delete(ip);
    }
  }

  #statusAt(ip: string, now: number): BlockStatus {
    const until = this.#blocks.get(ip);
    if (until === undefined) return { blocked: false };
    if (until <= now) {
      this.#blocks.delete(ip);
      return { blocked: false };
    }
    // until > now, so the ceiling is at least 1, as Retry-After: 0 would invite an immediate retry.
    return { blocked: true, retryAfterS: Math.ceil((until - now) / 1000) };
  }

  /** Makes room for one more IP: expired blocks go first, then the stalest count, a block only as a last resort. */
  #makeRoom(now: number): void {
    if (this.trackedCount() < this.#maxTrackedIps) return;
    this.#pruneBlocks(now);
    if (this.trackedCount() < this.#maxTrackedIps) return;
    const victims = this.#recent.size > 0 ? this.#recent : this.#blocks;
    const oldest = victims.keys().next();
    if (oldest.done !== true) victims.delete(oldest.value);
  }

  /** Drops expired blocks from the front; stops at the first live one (expiry order = Map order). */
  #pruneBlocks(now: number): void {
    for (const [ip, until] of this.#blocks) {
      if (until > now) return;
      this.#blocks.delete(ip);
    }
  }
}

function positive(name: string, value: number, integer: boolean): number {
  const valid = integer ? Number.isSafeInteger(value) && value >= 1 : Number.isFinite(value) && value > 0;
  if (!valid) {
    const wanted = integer ? 'an integer >= 1' : 'a finite number > 0';
    throw new TypeError(`ViolationTracker: ${name} must be ${wanted} (got ${String(value)})`);
  }
  return value;
}
