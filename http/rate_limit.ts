/**
 * Per-client token buckets: each client address may make `ratePerSecond`
 * requests a second on average, in bursts of up to `burst`. Memory stays
 * bounded: at most `maxClients` buckets are kept, the least recently seen
 * dropped first (a dropped client simply starts again with a full bucket).
 */
export type RateLimitOptions = {
  ratePerSecond: number;
  burst: number;
  maxClients: number;
  now: () => number;
};

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

type Bucket = { tokens: number; updatedAt: number };

export class RateLimiter {
  #buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimitOptions) {}

  get trackedClients(): number {
    return this.#buckets.size;
  }

  take(client: string): RateDecision {
    const { ratePerSecond, burst, maxClients, now } = this.options;
    const at = now();
    const bucket = this.#buckets.get(client) ?? { tokens: burst, updatedAt: at };
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.#buckets.delete(client);
    bucket.tokens = Math.min(
      burst,
      bucket.tokens + ((at - bucket.updatedAt) / 1000) * ratePerSecond,
    );
    bucket.updatedAt = at;
    this.#buckets.set(client, bucket);
    while (this.#buckets.size > maxClients) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)),
    };
  }
}
