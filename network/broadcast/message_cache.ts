/**
 * The broadcasts a node relayed lately, by id, kept to answer a peer's repair request
 * (`graft`): bounded in time, count and bytes, oldest first out. Each entry remembers whom it
 * was already given to (pushed along the tree, or by request), so a peer that asks for an id it
 * had from us (no honest one does) gets nothing more: one copy per peer and id, no more.
 *
 * @example
 * ```ts
 * const cache = new MessageCache({ ttlMs: 60_000, maxEntries: 100, maxBytes: 1 << 20 });
 * cache.add(message, now);
 * cache.takeFor("q2Y…", peerId, now); // the message, once per peer
 * ```
 */
import type { Broadcast } from "../wire.ts";

export type MessageCacheOptions = { ttlMs: number; maxEntries: number; maxBytes: number };

type Entry = { message: Broadcast; at: number; bytes: number; servedTo: Set<string> | undefined };

export class MessageCache {
  readonly options: MessageCacheOptions;
  /** Insertion order is time order: the oldest entry is first. */
  #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: MessageCacheOptions) {
    this.options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(message: Broadcast, now: number): void {
    this.#expire(now);
    if (this.#entries.has(message.nonce)) return;
    // The body dominates; the rest of a message is under half a kilobyte.
    const bytes = message.body.length + message.topic.length + 512;
    while (
      this.#entries.size > 0 &&
      (this.#entries.size >= this.options.maxEntries ||
        this.#bytes + bytes > this.options.maxBytes)
    ) this.#evictOldest();
    this.#entries.set(message.nonce, { message, at: now, bytes, servedTo: undefined });
    this.#bytes += bytes;
  }

  /** `peer` was sent message `id` (pushed along the tree). */
  sent(id: string, peer: string): void {
    const entry = this.#entries.get(id);
    if (entry) (entry.servedTo ??= new Set()).add(peer);
  }

  /** The message `id` for `peer`, or nothing if unknown, expired or already given to it. */
  takeFor(id: string, peer: string, now: number): Broadcast | undefined {
    this.#expire(now);
    const entry = this.#entries.get(id);
    if (!entry || entry.servedTo?.has(peer)) return undefined;
    (entry.servedTo ??= new Set()).add(peer);
    return entry.message;
  }

  #evictOldest(): void {
    const [id, entry] = this.#entries.entries().next().value!;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }

  #expire(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (now - entry.at < this.options.ttlMs) return;
      this.#entries.delete(id);
      this.#bytes -= entry.bytes;
    }
  }
}
