import assert from "node:assert/strict";
import { isFresh, NonceCache } from "../../network/mod.ts";

Deno.test("a nonce is new once, then a duplicate until it expires", () => {
  const cache = new NonceCache({ maxEntries: 10, ttlMs: 1_000 });
  assert.equal(cache.add("a", 0), true);
  assert.equal(cache.add("a", 500), false);
  assert.equal(cache.has("a", 999), true);
  assert.equal(cache.has("a", 1_000), false);
  assert.equal(cache.add("a", 1_000), true);
});

Deno.test("a flood of unique nonces never grows the cache past its bound", () => {
  const cache = new NonceCache({ maxEntries: 1_000, ttlMs: 60_000 });
  for (let index = 0; index < 100_000; index++) cache.add(`n${index}`, index);
  assert.equal(cache.size, 1_000);
  assert.equal(cache.evictedEarly, 99_000);
  // The newest are kept, the oldest went first.
  assert.equal(cache.has("n99999", 100_000), true);
  assert.equal(cache.has("n0", 100_000), false);
});

Deno.test("time stamps: a replay after the nonce left the cache is refused as stale", () => {
  const ttl = 300_000;
  const skew = 60_000;
  const now = 10_000_000;
  assert.equal(isFresh(now, now, ttl, skew), true);
  assert.equal(isFresh(now + 10_000, now, ttl, skew), true);
  assert.equal(isFresh(now + ttl, now, ttl, skew), false);
  // A message first seen at its own stamp stays in the cache until stamp + ttl;
  // any copy arriving later than stamp + ttl - skew is already refused by its stamp.
  const stamp = now;
  assert.equal(isFresh(stamp, stamp + ttl - skew / 4 + 1, ttl, skew), false);
});
