/**
 * Remembers which signed requests were already used, so a captured request
 * cannot be played again. A request is known by a key (account and nonce) and
 * the time it says it was signed. Requests older than the time window are
 * refused by their time stamp elsewhere, so entries older than that are
 * forgotten; when the guard is full anyway (a flood), the oldest entries go
 * and the guard raises a floor: from then on, a request signed at or before
 * the newest forgotten time is refused as too old. Memory stays bounded and a
 * forgotten entry can never be replayed.
 *
 * @example
 * ```ts
 * const guard = new ReplayGuard({ maxEntries: 100_000, windowMs: 300_000 });
 * guard.claim("alice:n-1", signedAt, now); // "fresh"
 * guard.claim("alice:n-1", signedAt, now); // "replayed"
 * ```
 */
export type ReplayGuardOptions = {
  maxEntries: number;
  /** How far in the past a signed time may lie; older entries can be forgotten. */
  windowMs: number;
};

export type ReplayVerdict = "fresh" | "replayed" | "too_old";

export class ReplayGuard {
  readonly maxEntries: number;
  readonly windowMs: number;
  #signedAt = new Map<string, number>();
  #floor = -Infinity;

  constructor(options: ReplayGuardOptions) {
    if (options.maxEntries < 1) throw new RangeError("a replay guard holds at least one entry");
    this.maxEntries = options.maxEntries;
    this.windowMs = options.windowMs;
  }

  get size(): number {
    return this.#signedAt.size;
  }

  /** Records `key` as used; says whether it was fresh, already used, or can no longer be judged. */
  claim(key: string, signedAt: number, now: number): ReplayVerdict {
    if (this.#signedAt.has(key)) return "replayed";
    if (signedAt <= this.#floor) return "too_old";
    if (this.#signedAt.size >= this.maxEntries) this.#forgetExpired(now);
    while (this.#signedAt.size >= this.maxEntries) {
      const [oldestKey, oldestAt] = this.#signedAt.entries().next().value!;
      this.#signedAt.delete(oldestKey);
      this.#floor = Math.max(this.#floor, oldestAt);
      if (signedAt <= this.#floor) return "too_old";
    }
    this.#signedAt.set(key, signedAt);
    return "fresh";
  }

  #forgetExpired(now: number): void {
    for (const [key, signedAt] of this.#signedAt) {
      if (signedAt < now - this.windowMs) this.#signedAt.delete(key);
    }
  }
}
