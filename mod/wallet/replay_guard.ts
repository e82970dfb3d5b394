/**
 * Remembers which signed requests were already used, so a captured request
 * cannot be played again: per account, the nonces it used and the times they
 * say they were signed. Requests older than the time window are refused by
 * their time stamp elsewhere, so entries older than that are forgotten.
 *
 * Memory is bounded twice, and neither bound lets one account touch another's
 * memory:
 * - per account (`maxPerAccount`): when an account is full its own oldest
 *   entry goes and its own floor rises: from then on a request of that
 *   account signed at or before the forgotten time is refused as too old.
 *   An account that floods (even with times in the future) locks out only
 *   itself.
 * - in accounts (`maxAccounts`): accounts whose every entry (and floor) lies
 *   past the window are forgotten first; when the guard is still full, a new
 *   account is answered `"busy"` (try later) with `whenFull: "refuse"`, so no
 *   remembered entry is ever pushed out. Legacy requests carry no time, so
 *   nothing of theirs ever expires; their guard takes `whenFull:
 *   "forget_least_recent"` (the account seen longest ago is forgotten).
 *
 * @example
 * ```ts
 * const guard = new ReplayGuard({ maxAccounts: 50_000, maxPerAccount: 64, windowMs: 600_000 });
 * guard.claim("alice", "n-1", signedAt, now); // "fresh"
 * guard.claim("alice", "n-1", signedAt, now); // "replayed"
 * ```
 */
export type ReplayGuardOptions = {
  /** Accounts remembered at once. */
  maxAccounts: number;
  /** Entries remembered per account. */
  maxPerAccount: number;
  /** How far in the past a signed time may lie; older entries can be forgotten. */
  windowMs: number;
  /** What a new account meets when `maxAccounts` live accounts are remembered (default `"refuse"`). */
  whenFull?: "refuse" | "forget_least_recent";
};

export type ReplayVerdict = "fresh" | "replayed" | "too_old" | "busy";

type AccountMemory = {
  /** Nonce -> signed time, in the order they came. */
  nonces: Map<string, number>;
  /** Requests of this account signed at or before this time are refused. */
  floor: number;
  /** The latest signed time remembered. */
  newest: number;
};

export class ReplayGuard {
  readonly maxAccounts: number;
  readonly maxPerAccount: number;
  readonly windowMs: number;
  readonly whenFull: "refuse" | "forget_least_recent";
  #accounts = new Map<string, AccountMemory>();
  #entries = 0;
  /** No account can expire before this time (so a full guard does not rescan on every request). */
  #nextExpiry = -Infinity;

  constructor(options: ReplayGuardOptions) {
    if (options.maxAccounts < 1 || options.maxPerAccount < 1) {
      throw new RangeError("a replay guard holds at least one account and one entry");
    }
    this.maxAccounts = options.maxAccounts;
    this.maxPerAccount = options.maxPerAccount;
    this.windowMs = options.windowMs;
    this.whenFull = options.whenFull ?? "refuse";
  }

  /** Entries remembered, over all accounts. */
  get size(): number {
    return this.#entries;
  }

  get accounts(): number {
    return this.#accounts.size;
  }

  /** Records `nonce` as used by `account`; says whether it was fresh, already used, can no longer be judged, or must wait. */
  claim(account: string, nonce: string, signedAt: number, now: number): ReplayVerdict {
    let memory = this.#accounts.get(account);
    if (memory === undefined) {
      if (this.#accounts.size >= this.maxAccounts) this.#forgetExpiredAccounts(now);
      if (this.#accounts.size >= this.maxAccounts) {
        if (this.whenFull === "refuse") return "busy";
        const [oldest, forgotten] = this.#accounts.entries().next().value!;
        this.#accounts.delete(oldest);
        this.#entries -= forgotten.nonces.size;
      }
      memory = { nonces: new Map(), floor: -Infinity, newest: -Infinity };
      this.#accounts.set(account, memory);
    } else if (this.whenFull === "forget_least_recent") {
      // Re-inserting keeps the map in least-recently-seen order.
      this.#accounts.delete(account);
      this.#accounts.set(account, memory);
    }
    if (memory.nonces.has(nonce)) return "replayed";
    if (signedAt <= memory.floor) return "too_old";
    if (memory.nonces.size >= this.maxPerAccount) {
      for (const [key, at] of memory.nonces) {
        if (at < now - this.windowMs) {
          memory.nonces.delete(key);
          this.#entries--;
        }
      }
    }
    while (memory.nonces.size >= this.maxPerAccount) {
      const [oldestNonce, oldestAt] = memory.nonces.entries().next().value!;
      memory.nonces.delete(oldestNonce);
      this.#entries--;
      memory.floor = Math.max(memory.floor, oldestAt);
      if (signedAt <= memory.floor) return "too_old";
    }
    memory.nonces.set(nonce, signedAt);
    this.#entries++;
    if (memory.newest === -Infinity) {
      this.#nextExpiry = Math.min(this.#nextExpiry, signedAt + this.windowMs);
    }
    memory.newest = Math.max(memory.newest, signedAt);
    return "fresh";
  }

  #forgetExpiredAccounts(now: number): void {
    if (now < this.#nextExpiry) return;
    let soonest = Infinity;
    for (const [account, memory] of this.#accounts) {
      const expiresAt = Math.max(memory.newest, memory.floor) + this.windowMs;
      if (expiresAt < now) {
        this.#accounts.delete(account);
        this.#entries -= memory.nonces.size;
      } else {
        soonest = Math.min(soonest, expiresAt);
      }
    }
    this.#nextExpiry = soonest;
  }
}
