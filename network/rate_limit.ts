/**
 * A token bucket per peer: `ratePerS` tokens a second, at most `burst` saved
 * up. A peer that spends more than it has is misbehaving and is dropped.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ ratePerS: 200, burst: 400 }, clock.now());
 * bucket.take(1, clock.now()); // true while the peer stays within its budget
 * ```
 */
export type TokenBucketOptions = { ratePerS: number; burst: number };

export class TokenBucket {
  readonly ratePerS: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(options: TokenBucketOptions, now: number) {
    this.ratePerS = options.ratePerS;
    this.burst = options.burst;
    this.#tokens = options.burst;
    this.#updatedAt = now;
  }

  /** Spends `cost` tokens; false (and nothing spent) when there are not enough. */
  take(cost: number, now: number): boolean {
    const elapsedMs = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsedMs * this.ratePerS) / 1000);
    this.#updatedAt = now;
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
}
