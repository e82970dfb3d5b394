/**
 * The nonces of recently seen broadcasts, bounded in both
 * size and time. A message whose nonce is here is a duplicate: dropped and not
 * relayed. Entries leave after `ttlMs` (a message older than that is refused
 * by its time stamp instead) or, when the cache is full, oldest first.
 *
 * @example
 * ```ts
 * const cache = new NonceCache({ maxEntries: 100_000, ttlMs: 300_000 });
 * cache.add("q2Y…", clock.now()); // true: first sighting
 * cache.add("q2Y…", clock.now()); // false: duplicate
 * ```
 */
export type NonceCacheOptions = { maxEntries: number; ttlMs: number };

export class NonceCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** Insertion order is time order, so the oldest entry is always first. */
  #seenAt = new Map<string, number>();
  #evictedEarly = 0;

  constructor(options: NonceCacheOptions) {
    if (options.maxEntries < 1) throw new RangeError("a nonce cache holds at least one entry");
    this.maxEntries = options.maxEntries;
    this.ttlMs = options.ttlMs;
  }

  get size(): number {
    return this.#seenAt.size;
  }

  /** Entries pushed out by size before their time ran out: a sign of a flood. */
  get evictedEarly(): number {
    return this.#evictedEarly;
  }

  has(nonce: string, now: number): boolean {
    this.#expire(now);
    return this.#seenAt.has(nonce);
  }

  /** Records `nonce`; false when it was already there. */
  add(nonce: string, now: number): boolean {
    this.#expire(now);
    if (this.#seenAt.has(nonce)) return false;
    while (this.#seenAt.size >= this.maxEntries) {
      this.#seenAt.delete(this.#seenAt.keys().next().value!);
      this.#evictedEarly++;
    }
    this.#seenAt.set(nonce, now);
    return true;
  }

  #expire(now: number): void {
    for (const [nonce, seenAt] of this.#seenAt) {
      if (now - seenAt < this.ttlMs) return;
      this.#seenAt.delete(nonce);
    }
  }
}

/**
 * Whether a message stamped `ts` may still be accepted: not from further in
 * the future than the allowed skew, and young enough that its nonce will
 * still be in the cache if it comes again, so a replay is caught either way.
 */
export function isFresh(ts: number, now: number, ttlMs: number, maxSkewMs: number): boolean {
  const skew = Math.min(maxSkewMs, ttlMs / 4);
  return ts <= now + skew && now - ts <= ttlMs - skew;
}

/** A random 16-byte nonce, base64. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
