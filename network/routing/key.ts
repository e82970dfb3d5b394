/**
 * Kademlia's metric over node ids: a node's routing key is the SHA-256 of its
 * id, and two keys are as far apart as their XOR. Hashing spreads ids evenly
 * over the key space whatever their encoding looks like.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { MAX_CACHED_KEYS } from "./constants.ts";

export type RoutingKey = Uint8Array;
export const KEY_BITS = 256;

const encoder = new TextEncoder();
const cache = new Map<string, RoutingKey>();

/** The routing key of a node id (cached: lookups compare the same ids over and over). */
export function routingKey(id: string): RoutingKey {
  let key = cache.get(id);
  if (key) return key;
  if (cache.size >= MAX_CACHED_KEYS) cache.clear();
  key = sha256(encoder.encode(id));
  cache.set(id, key);
  return key;
}

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance(a: RoutingKey, b: RoutingKey, target: RoutingKey): number {
  for (let index = 0; index < target.length; index++) {
    const da = a[index]! ^ target[index]!;
    const db = b[index]! ^ target[index]!;
    if (da !== db) return da - db;
  }
  return 0;
}

/** Leading bits `a` and `b` share (256 for equal keys): the k-bucket `b` falls in, seen from `a`. */
export function commonPrefixBits(a: RoutingKey, b: RoutingKey): number {
  for (let index = 0; index < a.length; index++) {
    const x = a[index]! ^ b[index]!;
    if (x !== 0) return index * 8 + Math.clz32(x) - 24;
  }
  return KEY_BITS;
}
