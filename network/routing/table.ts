/**
 * Kademlia's routing table: contacts in k-buckets by how many leading key
 * bits they share with this node. Only nodes this node has itself had an
 * authenticated link with go in (neighbours, nodes that queried it or that it
 * queried or called): an address someone else gives is a thing to dial, not
 * a contact. A full bucket keeps its contacts (long-lived ones are the
 * likeliest to stay, and a flood of newcomers cannot push them out) unless its
 * oldest has not been heard from for {@link CONTACT_STALE_MS}.
 */
import { BUCKET_SIZE, CONTACT_STALE_MS } from "./constants.ts";
import { commonPrefixBits, compareDistance, KEY_BITS, type RoutingKey, routingKey } from "./key.ts";

export type Contact = { id: string; address: string };
type Entry = Contact & { key: RoutingKey; seenAt: number };

export class RoutingTable {
  readonly selfKey: RoutingKey;
  readonly bucketSize: number;
  /** Index = shared prefix bits with this node; each bucket oldest-heard-from first. */
  #buckets: Entry[][] = Array.from({ length: KEY_BITS }, () => []);
  #byId = new Map<string, Entry>();

  constructor(selfId: string, bucketSize = BUCKET_SIZE) {
    this.selfKey = routingKey(selfId);
    this.bucketSize = bucketSize;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Contact | undefined {
    const entry = this.#byId.get(id);
    return entry && { id: entry.id, address: entry.address };
  }

  /** Records that `contact` was heard from over an authenticated link; false when no room. */
  heardFrom(contact: Contact, now: number): boolean {
    const known = this.#byId.get(contact.id);
    const bucket = known ? this.#bucketOf(known.key) : undefined;
    if (known && bucket) {
      known.address = contact.address;
      known.seenAt = now;
      bucket.splice(bucket.indexOf(known), 1);
      bucket.push(known);
      return true;
    }
    const key = routingKey(contact.id);
    const target = this.#bucketOf(key);
    if (!target) return false;
    if (target.length >= this.bucketSize) {
      const oldest = target[0]!;
      if (now - oldest.seenAt < CONTACT_STALE_MS) return false;
      target.shift();
      this.#byId.delete(oldest.id);
    }
    const entry: Entry = { id: contact.id, address: contact.address, key, seenAt: now };
    target.push(entry);
    this.#byId.set(contact.id, entry);
    return true;
  }

  /** Drops a contact (a dial of it failed, or it left). */
  remove(id: string): void {
    const entry = this.#byId.get(id);
    if (!entry) return;
    const bucket = this.#bucketOf(entry.key)!;
    bucket.splice(bucket.indexOf(entry), 1);
    this.#byId.delete(id);
  }

  /** Up to `count` contacts closest to `target`, nearest first. */
  closest(target: RoutingKey, count: number, skip?: (id: string) => boolean): Contact[] {
    const entries = [...this.#byId.values()].filter((entry) => !skip?.(entry.id));
    entries.sort((a, b) => compareDistance(a.key, b.key, target));
    return entries.slice(0, count).map(({ id, address }) => ({ id, address }));
  }

  #bucketOf(key: RoutingKey): Entry[] | undefined {
    // Our own key shares every bit: never a contact.
    return this.#buckets[commonPrefixBits(this.selfKey, key)];
  }
}
